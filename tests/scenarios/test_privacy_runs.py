"""Privacy modes on whole runs (scenarios/trade/privacy.py): no leakage to a nation outside a
lane, no flag lost, bad openings counted, the same trace for the same seed in each mode, and
plaintext unchanged by a [privacy] table."""

from __future__ import annotations

import pytest

from helpers import LIBRARY
from privacy_helpers import (RECEIVED_G, SCENARIO, SENTINEL_END_USE, SENTINEL_G, SENTINEL_TEXT,
                             needles as _needles, privacy_scenario as _scenario,
                             sentinel_plan as _sentinel_plan)
from scenarios.assemble import build_world
from scenarios.cli.main import main
from scenarios.spec.loader import ScenarioError, parse_scenario
from scenarios.trade.custody import as_seen_by, custody_chain, read_collections, read_ledger

def _run_watching(mode: str | None, watched: str, tmp_path):
    """What `watched` received and stored: every message delivered to its node, the blocks
    of its ledger, its private records, and the ledger export (the chain's view and the lanes'
    verdicts, which every nation reads)."""
    heard: list[bytes] = []

    def on_deliver(src, dst, data, kind, height, round_):
        if dst == watched:
            heard.append(data)

    world = build_world(_scenario(mode), on_deliver=on_deliver,
                        ledger_path=tmp_path / "ledger.jsonl")
    plan = _sentinel_plan(world)
    summary = world.run()
    stored = [tx.payload for c in world.nodes[watched].ledger.blocks for tx in c.block.txs]
    stored.append((tmp_path / "ledger.jsonl").read_bytes())
    private = world.workload.private
    if private is not None:
        stored += list(private.stores[watched].values())
    return world, summary, plan, b"".join(heard) + b"".join(stored)


def _receipt_accepted(world, plan) -> bool:
    result = world.workload.domain.results.get(f"{plan.id}-receive")
    return result is not None and result.accepted


def test_a_nation_outside_the_lane_receives_and_stores_no_hidden_value(tmp_path):
    world, _, plan, outside = _run_watching("lane-private", "CAN", tmp_path)
    assert _receipt_accepted(world, plan)  # the consignment went through, sentinels and all
    # Found by the lane, and known to CAN by the lane's signed verdict on the chain, which CAN
    # stores too: the verdict names the flag and its subject, no hidden value.
    verdicts = [tx for c in world.nodes["CAN"].ledger.blocks for tx in c.block.txs
                if tx.kind == "verdict" and plan.id.encode() in tx.payload]
    assert len(verdicts) == 1 and b"discrepancy" in verdicts[0].payload
    assert world.workload.private.verdict_flags == {"discrepancy": 1}
    for needle in (_needles(SENTINEL_G) + _needles(RECEIVED_G)
                   + [SENTINEL_TEXT.encode(), SENTINEL_END_USE.encode()]):
        assert needle not in outside, needle
    # The lane's members do hold them: the scan looks where the values would be.
    inside = b"".join(world.workload.private.stores["MEX"].values())
    assert SENTINEL_TEXT.encode() in inside and _needles(SENTINEL_G)[0] in inside
    # CAN holds the records of its own registrations, nothing of any consignment.
    assert all(e.startswith("register-CAN-") for e in world.workload.private.stores["CAN"])


def test_in_plaintext_the_outsider_reads_everything(tmp_path):
    """The control of the scan above: the same consignment, every field on chain."""
    world, _, plan, outside = _run_watching("plaintext", "CAN", tmp_path)
    assert _receipt_accepted(world, plan)
    assert SENTINEL_TEXT.encode() in outside and _needles(SENTINEL_G)[0] in outside
    assert _needles(RECEIVED_G)[0] in outside


def test_committed_quantities_hide_the_quantity_only(tmp_path):
    world, summary, plan, outside = _run_watching("committed-quantities", "CAN", tmp_path)
    assert _receipt_accepted(world, plan)
    for needle in _needles(SENTINEL_G) + _needles(RECEIVED_G):
        assert needle not in outside  # the opened discrepancy, 10**10 g, is public by design
    assert SENTINEL_TEXT.encode() in outside  # the consignee is not hidden in this mode
    privacy = summary.domain["privacy"]
    assert privacy["openings_rejected"] == {} and privacy["mode"] == "committed-quantities"


DIVERSIONS = "diversions = { under_report = 2, undeclared_transit = 1, yield_exceeded = 1 }"


def _flags(world) -> set:
    """The flags on custody events; in a private mode, with those that rest on a lane's
    signed verdict on the shared chain (the chain's own flags, every nation's check)."""
    flags = set()
    for plan_flags in (world.workload.domain.results.values()):
        flags |= {(f.kind, f.subject) for f in plan_flags.flags}
    if world.workload.private is not None:
        chain = world.nodes[world.nations[0]].chaincode.state.flags
        flags |= {(f.kind, f.subject) for f in chain if "signed verdict" in f.detail}
    return flags


@pytest.fixture(scope="module")
def diversion_runs():
    out = {}
    for mode, extra in (("plaintext", ""), ("lane-private", ""),
                        ("committed-quantities", "tolerance_g = 0\n")):
        world = build_world(_scenario(mode, DIVERSIONS, extra))
        out[mode] = world, world.run()
    return out


def test_no_flag_is_lost_in_any_mode(diversion_runs):
    """Every flag of the plaintext run is raised in each private mode (by every nation, on
    commitments, or by the lane), or reported not checkable: here none is."""
    base_world, base = diversion_runs["plaintext"]
    reference = _flags(base_world)
    assert {k for k, _ in reference} >= {"discrepancy", "undeclared_transit", "yield_exceeded"}
    for mode in ("lane-private", "committed-quantities"):
        world, summary = diversion_runs[mode]
        privacy = summary.domain["privacy"]
        assert privacy["not_checkable"] == {}
        assert _flags(world) == reference, mode
        assert summary.domain["detection_rate"] == base.domain["detection_rate"]
    checked = diversion_runs["committed-quantities"][1].domain["privacy"]["flags_by_checker"]
    assert checked["commitments"].get("discrepancy") == \
        base.domain["flags_by_kind"]["discrepancy"]


def test_bad_records_in_a_members_store_are_rejected_and_counted():
    world = build_world(_scenario("lane-private"))

    def corrupt():
        store = world.workload.private.stores["MEX"]
        for event_id in store:
            store[event_id] = b"\x00" + store[event_id][1:]
        world.schedule(world.now + 200, corrupt)

    world.schedule(400, corrupt)
    summary = world.run()
    rejected = summary.domain["privacy"]["openings_rejected"]
    assert rejected.get("malformed_record", 0) > 0
    # The other lane member (CHN) still opens each record: the trade is traced all the same.
    assert summary.domain["traced_complete_pct"] == 100.0


@pytest.mark.parametrize("mode", ["lane-private", "committed-quantities"])
def test_the_same_seed_gives_the_same_trace_in_each_mode(mode, tmp_path):
    hashes = set()
    for i in range(2):
        world = build_world(_scenario(mode), trace_path=tmp_path / f"{i}.jsonl")
        hashes.add(world.run().trace_sha256)
    assert len(hashes) == 1


def test_plaintext_with_a_privacy_table_writes_the_same_trace(tmp_path):
    hashes = []
    for i, mode in enumerate((None, "plaintext")):
        world = build_world(_scenario(mode), trace_path=tmp_path / f"{i}.jsonl")
        hashes.append(world.run().trace_sha256)
    assert hashes[0] == hashes[1]


def test_trace_as_a_nation_shows_what_it_sees_and_what_is_hidden(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(SCENARIO.format(diversions="")
                                     + '\n[privacy]\nmode = "lane-private"\n')
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    run = tmp_path / "run"
    events = read_ledger(run)
    receipt = next(e for e in events if e["kind"] == "receive" and e["accepted"]
                   and "MEX" in e["fields"]["_lane"])
    lot = receipt["fields"]["new_lot"]
    chain = custody_chain(events, lot)
    nations = {"CHN", "MEX", "USA", "CAN"}
    inside = as_seen_by(chain, "MEX", read_collections(run), nations)
    outside = as_seen_by(chain, "CAN", read_collections(run), nations)
    by_kind = {e["kind"]: e for e in inside["events"]}
    assert by_kind["receive"]["hidden"] == [] and by_kind["receive"]["seen_from"] == "record"
    assert isinstance(by_kind["receive"]["fields"]["quantity_g"], int)
    hidden = {e["kind"]: e for e in outside["events"]}["receive"]
    assert hidden["hidden"] == ["quantity_g", "importer"]
    assert hidden["fields"]["quantity_g"] is None and hidden["fields"]["new_lot"] == lot
    capsys.readouterr()
    assert main(["trace", lot, "--run", str(run), "--as", "CAN"]) == 0
    out = capsys.readouterr().out
    assert "hidden from CAN" in out and "quantity_g, importer" in out
    assert main(["trace", lot, "--run", str(run), "--as", "ZZZ"]) == 2


def test_a_nation_that_opts_out_under_plaintext_joins_under_the_modes_it_names():
    text = (LIBRARY / "opt-out-privacy.toml").read_text()
    for mode, opted in ((None, True), ("plaintext", True), ("lane-private", False),
                        ("committed-quantities", False)):
        extra = "" if mode is None else f'\n[privacy]\nmode = "{mode}"\n'
        scenario = parse_scenario(text + extra, "opt-out-privacy.toml")
        assert any(b.kind == "opt_out" for b in scenario.behaviours) == opted, mode


@pytest.mark.parametrize("extra, where, fix", [
    ('[privacy]\nmode = "secret"\n', "privacy.mode", "plaintext, lane-private"),
    ('[privacy]\noversight = ["XXX"]\n', "privacy.oversight", "Use one of the [[nation]] ids"),
    ('[privacy]\nmode = "lane-private"\ntolerance_g = 5\n', "privacy.tolerance_g",
     'set mode = "committed-quantities"'),
    ('[privacy]\nmode = "lane-private"\nsecret = 1\n', "privacy.secret", "mode"),
    ('[privacy]\nmode = "lane-private"\noversight_access = "on_flag"\n',
     "privacy.oversight_access", "Add oversight"),
    ('[privacy]\nmode = "lane-private"\noversight = ["CAN"]\noversight_access = "on_flag"\n'
     'grantors = ["XXX"]\n', "privacy.grantors", "Use one of the [[nation]] ids"),
    ('[privacy]\nmode = "lane-private"\noversight = ["CAN"]\ngrantors = ["CHN"]\n',
     "privacy.grantors", 'set oversight_access = "on_flag"'),
])
def test_privacy_table_errors_name_the_line_the_key_and_the_fix(extra, where, fix):
    text = SCENARIO.format(diversions="") + "\n" + extra
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "p.toml")
    message = str(info.value)
    assert message.startswith("p.toml:") and where in message and fix in message, message


def test_a_disclosure_request_without_the_grant_is_refused_and_counted():
    world = build_world(parse_scenario((LIBRARY / "investigation.toml").read_text(),
                                       "investigation.toml"))
    summary = world.run()
    private = world.workload.private
    flagged = sorted(private.granted["CAN"])
    unflagged = next(p.id for p in world.workload.plans if p.id not in flagged)
    assert flagged and private.request("CAN", flagged[0]) == "granted"
    assert private.request("CAN", unflagged) == "no_grant"
    assert private.request("MEX", flagged[0]) == "not_oversight"
    assert private.requests == {"granted": 1, "no_grant": 1, "not_oversight": 1}
    # Nothing reached CAN of the unflagged shipment: its trail stays hidden from it.
    assert not any(e.startswith(f"{unflagged}-") for e in private.stores["CAN"])
    assert summary.domain["privacy"]["oversight_access"] == "on_flag"


def _investigation(extra: str = ""):
    text = (LIBRARY / "investigation.toml").read_text()
    text = text.replace('oversight_access = "on_flag"', 'oversight_access = "on_flag"' + extra)
    return build_world(parse_scenario(text, "investigation.toml"))


def test_forged_and_outside_verdicts_in_a_run_are_rejected_counted_and_flag_nothing():
    """Mid-run, USA (on no CHN -> MEX lane) files a verdict on a CHN -> MEX receipt, and a
    verdict in CHN's name that USA signed: every nation rejects both by reason, the run goes on,
    and neither adds a flag; the lanes' own three signed verdicts stand."""
    from nodes import Transaction
    from nodes.app.privacy import sign_lane_act
    from nodes.chain.codec import pack, unpack
    world = _investigation()
    private = world.workload.private
    forged = []

    def forge():
        event_id = next(e for e, env in sorted(private.envelopes.items())
                        if env.kind == "receive" and "USA" not in env.lane)
        flags = (("discrepancy", event_id.split("-")[0]),)
        outside = sign_lane_act(world.genesis.chain_id, world.identities["USA"], "verdict",
                                event_id, flags)
        kind, event, _, content, sig = unpack(outside)
        for nonce, payload in ((10**6, outside), (10**6 + 1, pack((kind, event, "CHN", content,
                                                                   sig)))):
            tx = Transaction.create(world.genesis.chain_id, world.identities["USA"], "verdict",
                                    nonce, payload)
            forged.append(tx.tx_id)
            world.submit("USA", tx)

    world.schedule(2000, forge)
    summary = world.run()
    d = summary.domain
    verdicts = d["privacy"]["lane_verdicts"]
    assert len(forged) == 2
    assert verdicts["rejected"] == {"bad_signature": 1, "not_on_lane": 1}
    assert verdicts["accepted"] == verdicts["filed"] == 3 and verdicts["by_signer"] == {"CHN": 3}
    assert d["privacy"]["flags_on_signed_verdicts"] == {"discrepancy": 3}
    assert {k: n for k, n in d["flags_by_kind"].items() if n} == {"discrepancy": 3}
    assert d["false_flags"] == 0
    assert d["diversions_flagged"]["under_report"] == 3
    chain = world.nodes["CAN"].chaincode.state
    assert chain.acts_rejected == {"bad_signature": 1, "not_on_lane": 1}
    assert summary.safety_ok and summary.liveness_ok


def test_the_lanes_nations_decide_the_grant_and_may_refuse_it():
    """grantors = ["CHN"]: MEX, asked first on each flagged receipt's lane (it filed it),
    refuses; CHN grants, on the chain, and Canada gets the trails. grantors = ["USA"]: no member
    of those lanes grants, and Canada gets nothing and is refused on request."""
    world = _investigation('\ngrantors = ["CHN"]')
    privacy = world.run().domain["privacy"]
    grants = privacy["grants"]
    assert grants["refused_by_nation"] == {"MEX": 3} and grants["subjects_refused"] == 0
    assert grants["accepted"] == grants["filed"] == 3 and privacy["subjects_disclosed"] == {
        "CAN": 3}
    chain = world.nodes["USA"].chaincode.state
    assert sorted(chain.grants) == sorted((s, "CAN") for s in
                                          world.workload.private.granted["CAN"])
    assert set(chain.grants.values()) == {"CHN"}

    world = _investigation('\ngrantors = ["USA"]')
    privacy = world.run().domain["privacy"]
    private = world.workload.private
    assert privacy["grants"]["subjects_refused"] == 3 and privacy["grants"]["filed"] == 0
    assert privacy["grants"]["refused_by_nation"] == {"CHN": 3, "MEX": 3}
    assert privacy["records_disclosed"] == 0 and privacy["subjects_disclosed"] == {"CAN": 0}
    assert all(e.startswith("register-CAN-") for e in private.stores["CAN"])
    flagged = next(iter(world.workload.domain.by_subject))
    assert private.request("CAN", flagged) == "no_grant"


def test_verdicts_and_grants_give_the_same_trace_with_every_speedup_off():
    """The honest nodes share one application of each block (copy-on-write state): the lanes'
    verdicts and grants, held in the shared chain's state, fork with it."""
    from scenarios.sim.world import Speedups
    scenario = parse_scenario((LIBRARY / "investigation.toml").read_text(), "investigation.toml")
    hashes = []
    for speedups in (Speedups(), Speedups(verify_cache=False, decode_cache=False,
                                          shared_application=False, broadcast_events=False)):
        world = build_world(scenario, speedups=speedups)
        summary = world.run()
        assert summary.domain["privacy"]["grants"]["accepted"] == 3
        hashes.append(summary.trace_sha256)
    assert hashes[0] == hashes[1]


def test_grantors_survive_the_toml_writer():
    """A sweep writes each variant's TOML: the grantors must come back as they went."""
    from scenarios.spec.dump import scenario_to_toml
    text = (LIBRARY / "investigation.toml").read_text().replace(
        'oversight_access = "on_flag"', 'oversight_access = "on_flag"\ngrantors = ["CHN"]')
    for source, grantors in ((text, ["CHN"]), ((LIBRARY / "investigation.toml").read_text(),
                                                None)):
        again = parse_scenario(scenario_to_toml(parse_scenario(source, "i.toml")), "again.toml")
        assert again.privacy["grantors"] == grantors


def _forged(event_id: str, size: int = 64) -> bytes:
    from nodes.chain.codec import pack
    return pack(("record", event_id, b"\x01" * size, b"\x02" * 32))


def test_records_for_events_not_on_the_chain_are_bounded_per_sender():
    """Live, a member's records office can write to every other nation's inbox: what one
    sender's records hold in a recipient's store before their envelopes are on the chain is
    bounded in records and bytes; past that they are rejected `pending_full`, counted, and
    another sender keeps its own share."""
    from scenarios.trade.privacy import PENDING_BYTES_MAX, PENDING_RECORDS_MAX
    lanes = build_world(_scenario("lane-private")).workload.private
    for i in range(PENDING_RECORDS_MAX + 3):
        lanes.receive("MEX", "CAN", _forged(f"never-{i}"))
    assert lanes.openings_rejected == {"pending_full": 3}
    assert len(lanes.stores["MEX"]) == PENDING_RECORDS_MAX
    lanes.receive("MEX", "CAN", _forged("never-0"))  # a resend costs nothing
    lanes.receive("MEX", "USA", _forged("from-usa"))
    assert "from-usa" in lanes.stores["MEX"] and lanes.openings_rejected["pending_full"] == 3
    big = 9_000  # near RECORD_BYTES_MAX: the bytes run out before the count
    fits = PENDING_BYTES_MAX // len(_forged("big-0", big))
    for i in range(fits + 2):
        lanes.receive("USA", "CAN", _forged(f"big-{i}", big))
    assert lanes.openings_rejected["pending_full"] == 3 + 2
    assert fits < PENDING_RECORDS_MAX and len(lanes.stores["USA"]) == fits
    assert lanes.pending_bytes[("USA", "CAN")] <= PENDING_BYTES_MAX


def test_records_kept_before_their_envelope_are_settled_when_it_is_judged():
    """Forged records sent ahead of every real event, to a nation of its lane and to one
    outside it: once the envelope is on the chain the sender's share is free again, the copy
    outside the lane is dropped (`not_on_lane`), and the trade is traced as without them."""
    reference = build_world(_scenario("lane-private"))
    reference_summary = reference.run()
    envelopes = reference.workload.private.envelopes
    world = build_world(_scenario("lane-private"))
    lanes = world.workload.private
    outside = 0
    for event_id, env in envelopes.items():
        lanes.receive(env.lane[-1], "CAN", _forged(event_id))
        outsider = next((n for n in ("USA", "MEX") if n not in env.lane), None)
        if outsider is not None:
            lanes.receive(outsider, "CAN", _forged(event_id))
            outside += 1
    assert outside > 0
    summary = world.run()
    assert summary.domain["privacy"]["openings_rejected"].get("not_on_lane") == outside
    assert not lanes.pending_by_event and set(lanes.pending_bytes.values()) == {0}
    for event_id, env in envelopes.items():
        for nation in ("USA", "MEX"):
            assert (event_id in lanes.stores[nation]) == (nation in env.lane)
    assert summary.domain["traced_complete_pct"] == reference_summary.domain["traced_complete_pct"]


def test_one_sender_cannot_crowd_the_filers_record_out():
    """Live: a hostile member sends a lane member five forged records for an event before
    the filer's arrives; the cap on other records is per sender, so the filer's is still kept
    and tried when the envelope is opened."""
    from scenarios.trade.privacy import EXTRA_RECORDS_MAX
    lanes = build_world(_scenario("lane-private")).workload.private
    for i in range(EXTRA_RECORDS_MAX + 2):
        lanes.receive("MEX", "CAN", _forged("S1-ship", 64 + i))
    assert lanes.openings_rejected == {"too_many_records": 1}
    lanes.receive("MEX", "CHN", _forged("S1-ship", 200))
    assert ("CHN", _forged("S1-ship", 200)) in lanes.extra[("MEX", "S1-ship")]


def test_an_overdue_shipment_is_disclosed_like_any_flag_every_nation_checks():
    world = build_world(parse_scenario((LIBRARY / "investigation.toml").read_text().replace(
        "under_report = 3", "overdue = 2"), "investigation.toml"))
    summary = world.run()
    privacy = summary.domain["privacy"]
    assert summary.domain["flags_by_kind"]["overdue"] == 2
    assert privacy["grants"]["accepted"] == 2 and privacy["subjects_disclosed"] == {"CAN": 2}
    assert privacy["records_disclosed"] > 0


def test_a_grant_about_another_lanes_shipment_is_rejected_and_does_not_preempt_the_lanes():
    """USA, on the CHN -> USA lanes only, signs grants for CHN -> MEX shipments that will be
    flagged, citing an event of its own lane: every nation rejects them (`wrong_subject`),
    and MEX's own grants still send Canada the three trails."""
    from nodes import Transaction
    from nodes.app.privacy import sign_lane_act
    world = _investigation()
    lanes = world.workload.private

    def attack():
        event_id = next(e for e, env in sorted(lanes.envelopes.items()) if "USA" in env.lane)
        for n, subject in enumerate(("S00004", "S00007", "S00009")):
            payload = sign_lane_act(world.genesis.chain_id, world.identities["USA"], "grant",
                                    event_id, (subject, ("CAN",)))
            world.submit("USA", Transaction.create(world.genesis.chain_id,
                                                   world.identities["USA"], "grant",
                                                   10**6 + n, payload))

    world.schedule(1800, attack)
    summary = world.run()
    privacy = summary.domain["privacy"]
    assert privacy["grants"]["rejected"] == {"wrong_subject": 3}
    assert privacy["subjects_disclosed"] == {"CAN": 3} and privacy["records_disclosed"] == 12
    assert set(world.nodes["CAN"].chaincode.state.grants.values()) == {"MEX"}
