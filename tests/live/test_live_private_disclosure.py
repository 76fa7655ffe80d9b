"""Selective disclosure on live nodes (docs/privacy.md, "Live"): under oversight_access =
"on_flag" a flagged shipment's trail reaches the oversight nation's records office over its
private topic only once a lane nation's signed grant is on the chain, and nothing of an
unflagged shipment reaches it."""

from __future__ import annotations

from pathlib import Path

from mqtt_helpers import require_mosquitto

from nodes.chain.codec import unpack
from scenarios.cluster.driver import LiveCluster
from scenarios.spec.loader import parse_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


def test_on_flag_live_the_oversight_nation_gets_a_flagged_trail_after_the_grant_only(tmp_path):
    require_mosquitto()
    scenario = parse_scenario((LIBRARY / "investigation.toml").read_text(),
                              "investigation.toml").with_overrides(ticks_max=5000)
    cluster = LiveCluster(scenario, tmp_path / "run", "spawn", tick_ms=2.0)
    lanes = cluster.lanes
    heard: list[tuple[int, str, str]] = []  # what Canada's records office received
    receive = lanes.receive

    def watched(nation: str, sender: str, record: bytes) -> None:
        if nation == "CAN":
            heard.append((cluster.now, sender, unpack(record)[1]))
        receive(nation, sender, record)

    lanes.receive = watched  # read when the records offices connect, in run()
    summary = cluster.run()
    assert summary.safety_ok, summary.violations
    privacy = summary.domain["privacy"]
    plans = cluster.workload.plans
    flagged = {p.id for p in plans if p.diversion == "under_report"}
    assert len(flagged) == 3 and summary.domain["diversions_flagged"]["under_report"] == 3
    # Each discrepancy rests on a lane member's signed verdict, each trail on a signed grant,
    # both checked by the chaincode of the shared chain.
    assert privacy["flags_on_signed_verdicts"] == {"discrepancy": 3}
    assert privacy["lane_verdicts"]["rejected"] == {} and privacy["grants"]["accepted"] == 3
    grants = cluster._chain_view.state.grants
    assert set(grants) == {(s, "CAN") for s in flagged}
    assert lanes.granted["CAN"] == flagged
    # Canada's office heard the granted trails only, each from its grantor, after its grant
    # was committed; every record opened against the chain.
    assert heard and len(heard) == privacy["records_disclosed"] >= 3 * 4
    for tick, sender, event_id in heard:
        subject = event_id.split("-")[0]
        assert subject in flagged, event_id
        assert tick >= lanes.grant_ticks[subject] and sender == grants[(subject, "CAN")]
    assert privacy["openings_rejected"] == {}
    opened = {e for (n, e) in lanes.opened if n == "CAN"}
    for subject in flagged:
        assert {f"{subject}-{k}" for k in ("commission", "pen", "ship", "receive")} <= opened
    # Nothing of an unflagged shipment: not received, not stored, not opened.
    unflagged = {p.id for p in plans} - flagged
    assert unflagged
    held = set(lanes.stores["CAN"]) | opened | {e for _, _, e in heard}
    assert not {e for e in held if e.split("-")[0] in unflagged}
    assert summary.live["private_records"]["dropped"] == {}
