"""A lane-private scenario on live nodes (docs/privacy.md, "Live"): every custody record goes
from its filer's records office to each other nation of its lane on that nation's private topic
through a real Mosquitto, opens against the commitment on the chain, and a hostile records
office's forged or malformed records are rejected by reason and counted, never opened, never
shadowing the filer's record."""

from __future__ import annotations

import os
from pathlib import Path

from mqtt_helpers import require_mosquitto
from privacy_helpers import (RECEIVED_G, SENTINEL_END_USE, SENTINEL_G, SENTINEL_TEXT, needles,
                             privacy_scenario, sentinel_plan)

from nodes.chain.codec import pack, unpack
from nodes.live.private import RecordCourier
from scenarios.cluster.driver import LiveCluster
from scenarios.spec.loader import parse_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"
FORGED_MAX = 3


def _short_scenario():
    return parse_scenario(_short_scenario_text(), "live-lane-private-short.toml")


def _short_scenario_text() -> str:
    text = (LIBRARY / "live-lane-private.toml").read_text()
    for old, new in (("ticks_max = 8000", "ticks_max = 3500"), ("shipments = 12", "shipments = 6"),
                     ("trade_until_tick = 3000", "trade_until_tick = 2000"),
                     ("liveness = true", "liveness = true\nliveness_ticks_max = 3500")):
        assert old in text
        text = text.replace(old, new)
    return text


class _HostileOffice(LiveCluster):
    """Before each of the first records a nation files, a third nation's records office (a
    member of the consortium, outside that delivery) sends the same recipient a forged record
    for the same event (another payload, a fresh salt) and a malformed one."""

    forged = malformed = 0

    def _send_record(self, filer: str, recipient: str, record: bytes) -> None:
        if self.forged < FORGED_MAX:
            hostile = next(n for n in self.nations if n not in (filer, recipient))
            _, event_id, payload, _ = unpack(record)
            forged = pack(("record", event_id, payload[:-1] + bytes([payload[-1] ^ 1]),
                           os.urandom(32)))
            self.courier.send(hostile, recipient, forged)
            self.courier.send(hostile, recipient, b"\xc1 not a record")
            self.forged += 1
            self.malformed += 1
        super()._send_record(filer, recipient, record)


def test_lane_private_records_reach_their_lane_only_and_forgeries_are_counted(tmp_path):
    require_mosquitto()
    cluster = _HostileOffice(_short_scenario(), tmp_path / "run", "spawn", tick_ms=2.0)
    summary = cluster.run()
    assert summary.safety_ok and summary.liveness_ok, summary.violations
    lanes = cluster.lanes
    privacy = summary.domain["privacy"]
    courier = summary.live["private_records"]
    assert cluster.forged == FORGED_MAX
    # Every publication reached its recipient's office, none dropped by the courier.
    assert courier["dropped"] == {} and courier["queued"] == 0
    assert courier["sent"] == courier["received"] == privacy["records_delivered"] \
        + cluster.malformed
    # The forgeries were checked against the chain's commitment and rejected by reason; every
    # honest record opened (none missing, no event left unopened).
    assert privacy["openings_rejected"] == {"commitment_mismatch": cluster.forged,
                                            "malformed_record": cluster.malformed}
    sealed = len(lanes.envelopes)
    assert sealed > 20
    # A nation holds and opened the records of the lanes it is on and no other: CAN is outside
    # some lanes, and holds none of theirs.
    outside = [e for e, env in lanes.envelopes.items() if "CAN" not in env.lane]
    assert outside
    for (nation, event_id) in lanes.opened:
        assert nation in lanes.envelopes[event_id].lane
    for nation, store in lanes.stores.items():
        for event_id in store:
            env = lanes.envelopes.get(event_id)
            assert env is None or nation in env.lane, (nation, event_id)
    assert not set(outside) & set(lanes.stores["CAN"])
    # Every sealed event was opened by each lane member (the filer holds its own record).
    for event_id, env in lanes.envelopes.items():
        for nation in env.lane:
            assert (nation, event_id) in lanes.opened, (nation, event_id)


def test_the_courier_drops_a_message_on_a_wrong_topic_or_too_large(tmp_path):
    got = []
    courier = RecordCourier("127.0.0.1", 1, "chain-x", ("USA", "MEX"),
                            {"USA-records": "a", "MEX-records": "b"},
                            lambda *args: got.append(args), bytes_max=10)
    prefix = "chemtrace/chain-x/private/v1"
    courier.deliver("MEX", f"{prefix}/MEX/USA", b"record")
    courier.deliver("MEX", f"{prefix}/USA/MEX", b"for USA")  # not this office's inbox
    courier.deliver("MEX", f"{prefix}/MEX/FRA", b"record")  # a sender not of the chain
    courier.deliver("MEX", f"{prefix}/MEX/USA/x", b"record")
    courier.deliver("MEX", "chemtrace/chain-x/v1/MEX/msg", b"record")
    courier.deliver("MEX", f"{prefix}/MEX/USA", b"x" * 11)
    assert got == [("MEX", "USA", b"record")]
    assert courier.summary()["dropped"] == {"bad_private_topic": 4, "oversized_record": 1}


def test_live_a_nation_outside_the_lane_receives_and_stores_no_hidden_value(tmp_path):
    """The leakage scan of tests/scenarios/test_privacy_runs.py on live nodes: sentinels in the
    hidden fields of one CHN -> MEX consignment; nothing Canada's node wrote to disk (its SQLite
    files, its ledger export, its log) nor anything Canada's records office received holds one,
    nor do the run's ledger export and statuses, which every nation may read. MEX's records
    office holds them, so the scan looks where they would be."""
    require_mosquitto()
    scenario = privacy_scenario("lane-private").with_overrides(ticks_max=4000)
    cluster = LiveCluster(scenario, tmp_path / "run", "spawn", tick_ms=2.0)
    plan = sentinel_plan(cluster)
    summary = cluster.run()
    assert summary.safety_ok, summary.violations
    lanes = cluster.lanes
    receipt = cluster.workload.domain.results.get(f"{plan.id}-receive")
    assert receipt is not None and receipt.accepted  # the consignment went through
    # found by the lane, and known to every nation by a lane member's verdict on the chain
    assert summary.domain["privacy"]["flags_on_signed_verdicts"] == {"discrepancy": 1}
    assert '"kind": "verdict"' in (tmp_path / "run" / "ledger.jsonl").read_text()
    can_dir = tmp_path / "run" / "nodes" / "CAN"
    outside = b"".join(p.read_bytes() for p in sorted(can_dir.iterdir()) if p.is_file())
    assert b"SQLite format 3" in outside and len(outside) > 10_000  # its chain is in there
    outside += b"".join(lanes.stores["CAN"].values())
    outside += b"".join(r for (n, _), rs in lanes.extra.items() if n == "CAN" for r in rs)
    for name in ("ledger.jsonl", "status.jsonl"):
        outside += (tmp_path / "run" / name).read_bytes()
    sentinels = (needles(SENTINEL_G) + needles(RECEIVED_G)
                 + [SENTINEL_TEXT.encode(), SENTINEL_END_USE.encode()])
    for needle in sentinels:
        assert needle not in outside, needle
    inside = b"".join(lanes.stores["MEX"].values())
    assert SENTINEL_TEXT.encode() in inside and needles(SENTINEL_G)[0] in inside
    assert all(e.startswith("register-CAN-") for e in lanes.stores["CAN"])


def test_committed_quantities_live_open_each_receipt_and_catch_the_under_reports(tmp_path):
    """committed-quantities on live nodes: the importing nation checks the ship's record as
    its block becomes canonical, so its receipt carries the opening of shipped minus received,
    and every nation's check on the commitments flags the two under-reports (beyond the
    1,000 g tolerance) and passes the honest receipts (opened discrepancy 0)."""
    require_mosquitto()
    text = _short_scenario_text().replace('mode = "lane-private"',
                                          'mode = "committed-quantities"')
    text = text.replace("shipments = 6", "shipments = 6\ndiversions = { under_report = 2 }")
    cluster = LiveCluster(parse_scenario(text, "live-committed.toml"), tmp_path / "run",
                          "spawn", tick_ms=2.0)
    summary = cluster.run()
    assert summary.safety_ok, summary.violations
    privacy = summary.domain["privacy"]
    assert privacy["openings_rejected"] == {}
    assert summary.live["private_records"]["received"] == privacy["records_delivered"] > 20
    results = cluster.workload.domain.results
    diverted = {p.id for p in cluster.workload.plans if p.diversion == "under_report"}
    assert len(diverted) == 2
    receipts = {e: r for e, r in results.items() if e.endswith("-receive")}
    assert receipts and all(r.accepted for r in receipts.values())  # none bad_opening
    flagged = {e.split("-")[0] for e, r in receipts.items()
               if any(f.kind == "discrepancy" for f in r.flags)}
    assert flagged == diverted
    assert privacy["flags_by_checker"]["commitments"] == {"discrepancy": 2}


class _BrokerRestartPrivate(LiveCluster):
    restart_at_tick = 1200

    def on_tick(self, now_ticks: int) -> None:
        if now_ticks >= self.restart_at_tick and not hasattr(self, "restarted_at"):
            self.restarted_at = now_ticks
            self.sent_before = self.courier.sent
            self.broker.restart()


def test_records_filed_around_a_broker_restart_still_reach_their_lane(tmp_path):
    """The broker restarts mid-trade: the records offices reconnect, resubscribe and send what
    they queued meanwhile; every lane member still holds and opens every record."""
    require_mosquitto()
    cluster = _BrokerRestartPrivate(_short_scenario(), tmp_path / "run", "spawn", tick_ms=2.0)
    summary = cluster.run()
    assert summary.safety_ok, summary.violations
    lanes, courier = cluster.lanes, summary.live["private_records"]
    assert 0 < cluster.sent_before < courier["sent"]  # records went out before and after
    assert courier["queued"] == 0 and courier["dropped"] == {}
    assert summary.domain["privacy"]["openings_rejected"] == {}
    for event_id, env in lanes.envelopes.items():
        for nation in env.lane:
            assert (nation, event_id) in lanes.opened, (nation, event_id)
