"""The process-wide speedups (issue 8) change nothing but speed.

- With every speedup off (no verification cache, no decode cache, no shared validation and
  application, one queue entry per delivery), runs write byte-identical traces: same hashes, for
  honest, Byzantine, crash and wipe scenarios, and for the batched gossip of the benchmark.
- Batching a broadcast's deliveries of one tick into one queue entry keeps their order: generated
  scenarios (duplicates, loss, partitions, twins, delays, corrupted signatures, crashes) write
  the same traces with and without it.
- Keeping no space-time diagram (`World(spacetime=False)`, as the fuzzer runs) changes neither
  the trace nor the summary.
- A Byzantine node whose chaincode state diverges still computes its own state, its proposals
  are still refused, and the honest nodes' shared state equals a private re-application.
- A block whose transaction signature was forged (same block id as an honest block: ids leave
  signatures out) is still rejected after the honest block was validated and memoised.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import LIBRARY
from nodes import (
    Block,
    Chaincode,
    Genesis,
    Node,
    NodeHooks,
    SharedApplication,
    Transaction,
    VerifyCache,
)
from nodes.app.chaincode import DomainState
from nodes.wire.messages import DecodeCache
from scenarios.spec.loader import load_scenario
from scenarios.api import CustomBehaviour, with_custom
from scenarios.bench.sim import SimWorkload, bench_scenario
from scenarios.search.strategies import scenarios
from scenarios.assemble import build_world
from scenarios.sim.world import Speedups, World

ALL_OFF = Speedups(verify_cache=False, decode_cache=False, shared_application=False,
                   broadcast_events=False)


def _run(scenario, speedups: Speedups) -> tuple[World, dict]:
    world = build_world(scenario, speedups=speedups)
    return world, world.run()


@pytest.mark.parametrize("name, ticks", [
    ("baseline", 3000), ("mutate", 3000), ("crash-wipe", 4000), ("equivocate-f", 3000),
    ("twins", 2500), ("invalid-signature", 2500), ("diversions", 4000), ("delay", 3000),
    ("partition-heals", 3000),
])
def test_library_traces_are_equal_with_every_speedup_off(name, ticks):
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(ticks_max=ticks)
    fast_world, fast = _run(scenario, Speedups())
    slow_world, slow = _run(scenario, ALL_OFF)
    assert fast.trace_sha256 == slow.trace_sha256
    assert fast.heights_committed > 0
    # each verification really ran every time without the cache, and once with it
    assert slow.signature_cache_hits == 0
    assert fast.signatures_verified < slow.signatures_verified
    if fast_world.shared is not None:
        assert fast_world.shared.apply_hits > 0 and fast_world.shared.valid_hits > 0


def test_honest_ledgers_keep_one_block_object_per_height():
    """The proposer built its block and the others decoded it: with the shared application the
    honest ledgers keep one of the two equal objects (SharedApplication.committed), without it
    the proposer's ledger keeps its own; the trace is the same either way (above)."""
    scenario = load_scenario(LIBRARY / "baseline.toml").with_overrides(ticks_max=600)
    for speedups, copies in ((Speedups(), 1), (Speedups(shared_application=False), 2)):
        world, summary = _run(scenario, speedups)
        ledgers = [node.ledger for node in world.nodes.values()]
        heights = min(ledger.height for ledger in ledgers)
        assert heights >= 3 and summary.txs_committed > 0
        for height in range(1, heights + 1):
            blocks = [ledger.get(height).block for ledger in ledgers]
            assert len({id(block) for block in blocks}) == copies
            assert all(block == blocks[0] for block in blocks)


@pytest.mark.parametrize("speedups", [
    Speedups(shared_application=False), Speedups(verify_cache=False),
    Speedups(decode_cache=False), Speedups(broadcast_events=False), ALL_OFF,
], ids=["no-shared-application", "no-verify-cache", "no-decode-cache", "no-broadcast-events",
        "all-off"])
def test_bench_workload_trace_is_equal_with_each_speedup_off(speedups):
    # The benchmark's own settings: big blocks, batched gossip to the next proposers.
    scenario = bench_scenario(7, SimWorkload(ticks_max=400, txs_per_tick=8.0, shipments=30))
    fast_world, fast = _run(scenario, Speedups())
    other_world, other = _run(scenario, speedups)
    assert fast.txs_committed > 1000 and fast.safety_ok and fast.liveness_ok
    assert fast.trace_sha256 == other.trace_sha256
    assert fast_world.events == other_world.events  # each delivery counts as one event
    if not speedups.broadcast_events:  # fewer queue entries, the same deliveries
        assert fast_world._seq < other_world._seq
        assert fast.messages_delivered == other.messages_delivered


@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(scenario=scenarios(nations=(4, 7), byzantine="below", heights=3))
def test_batched_broadcasts_keep_the_order_of_generated_scenarios(scenario):
    batched_world, batched = _run(scenario, Speedups())
    one_by_one_world, one_by_one = _run(scenario, Speedups(broadcast_events=False))
    assert batched.trace_sha256 == one_by_one.trace_sha256, scenario.description
    assert batched_world.events == one_by_one_world.events
    assert batched_world._seq <= one_by_one_world._seq


def _without_wall_time(summary) -> dict:
    return {k: v for k, v in summary.to_json().items() if k not in ("wall_s", "txs_per_wall_s")}


@pytest.mark.parametrize("name, ticks", [("baseline", 3000), ("crash-wipe", 4000),
                                         ("twins", 2500)])
def test_no_spacetime_diagram_changes_neither_trace_nor_summary(name, ticks):
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(ticks_max=ticks)
    kept = build_world(scenario)
    kept_summary = kept.run()
    skipped = build_world(scenario, spacetime=False)
    skipped_summary = skipped.run()
    assert kept.spacetime and not skipped.spacetime and not skipped._sent_at
    assert kept_summary.trace_sha256 == skipped_summary.trace_sha256
    assert _without_wall_time(kept_summary) == _without_wall_time(skipped_summary)


# ------------------------------------------------------------------ a diverging Byzantine node


class DivergingNode(NodeHooks):
    """Applies blocks like an honest node, then corrupts its own state root: its state has
    diverged, so the blocks it proposes carry a wrong app hash."""

    def after_apply(self, node, block):
        state = node.chaincode.state
        state.root = hashlib.sha256(b"diverged" + state.root).digest()


class Diverge(CustomBehaviour):
    byzantine = True

    def node_hooks(self, nation, shared):
        return DivergingNode()


DIVERGING = "CHN"


def _diverging_scenario():
    # 5,000 ticks: the liveness window (a shorter run leaves liveness not judged).
    scenario = load_scenario(LIBRARY / "baseline.toml").with_overrides(ticks_max=5000)
    return with_custom(scenario, Diverge([DIVERGING]))


def test_a_diverging_byzantine_node_computes_its_own_state_and_is_refused():
    world, s = _run(_diverging_scenario(), Speedups())
    assert s.safety_ok and s.liveness_ok, s.violations
    honest = [n for n in world.nations if n != DIVERGING]
    byz = world.nodes[DIVERGING]
    assert byz.shared is None  # the world never hands shared work to a Byzantine node
    # no block proposed by the diverging node after its first application is ever committed
    chain = world.storage[honest[0]].blocks
    assert len(chain) > 10
    assert all(c.block.proposer != DIVERGING for c in chain[1:])
    # the honest nodes' shared state is exactly what a private re-application gives
    top = min(world.nodes[n].ledger.height for n in honest)
    keys = {g.code: g.public_key for g in world.genesis.nations}
    private = Chaincode(world.genesis.chain_id, world.workload.registry, world.workload.domain_config, keys,
                        VerifyCache())
    for committed in chain[:top]:
        private.begin_block(committed.block.time_ticks)
        for tx in committed.block.txs:
            private.apply_tx(tx, committed.block.time_ticks)
    at_top = [n for n in honest if world.nodes[n].ledger.height == top]
    for n in at_top:
        assert world.nodes[n].chaincode.state.root == private.state.root
    assert byz.chaincode.state.root != private.state.root
    assert all(byz.chaincode.state is not world.nodes[n].chaincode.state for n in honest)
    # and the run is the one it is without any sharing
    _, slow = _run(_diverging_scenario(), ALL_OFF)
    assert slow.trace_sha256 == s.trace_sha256


# ------------------------------------------------------------------ a forged signature


def _nodes(shared: SharedApplication):
    codes = ["USA", "MEX", "CAN", "CHN"]
    genesis, ids = Genesis.simulated("chemtrace/test", [(c, 1) for c in codes], 1)
    verifier, decoder = VerifyCache(), DecodeCache(genesis.chain_id)
    nodes = [Node(ids[c], genesis, verifier, decoder=decoder, shared=shared) for c in codes]
    return genesis, ids, nodes


def test_a_block_with_a_forged_signature_is_rejected_after_the_honest_one_was_memoised():
    shared = SharedApplication()
    genesis, ids, (a, b, c, d) = _nodes(shared)
    txs = tuple(Transaction.create(genesis.chain_id, ids["USA"], "payload", i, b"x" * 32)
                for i in range(5))
    honest = Block.build(1, a.ledger.tip_hash, "USA", 10, txs, a.chaincode.state.root)
    bad_tx = txs[2]
    forged_sig = bytes([bad_tx.signature[0] ^ 1]) + bad_tx.signature[1:]
    forged_txs = txs[:2] + (Transaction(bad_tx.kind, bad_tx.signer, bad_tx.nonce, bad_tx.payload,
                                        forged_sig, bad_tx.tx_id),) + txs[3:]
    forged = Block.build(1, a.ledger.tip_hash, "USA", 10, forged_txs, a.chaincode.state.root)
    assert forged.block_id == honest.block_id  # the id leaves signatures out
    assert a.valid(1, honest)
    assert shared.valid_misses == 1
    assert b.valid(1, honest) and shared.valid_hits == 1
    assert not c.valid(1, forged)
    assert not d.valid(1, forged)
    # a node without any sharing agrees
    alone = Node(ids["CAN"], genesis, VerifyCache())
    assert alone.valid(1, honest) and not alone.valid(1, forged)


def test_shared_application_never_changes_a_state_it_handed_out():
    shared = SharedApplication()
    genesis, ids, (a, b, _, _) = _nodes(shared)
    txs = tuple(Transaction.create(genesis.chain_id, ids["MEX"], "payload", i, b"y")
                for i in range(3))
    before = a.chaincode.state
    block = Block.build(1, a.ledger.tip_hash, "MEX", 5, txs, before.root)
    flags_a, results_a = shared.apply(a.chaincode, block)
    assert a.chaincode.state is not before and before.root == b.chaincode.state.root
    flags_b, results_b = shared.apply(b.chaincode, block)
    assert b.chaincode.state is a.chaincode.state  # adopted, not recomputed
    assert (flags_a, results_a) == (flags_b, results_b)
    assert shared.apply_hits == 1 and shared.apply_misses == 1


def test_fork_copies_an_entry_only_when_it_is_changed():
    from nodes.app.chaincode import Lot
    parent = DomainState()
    parent.lots["L1"] = Lot("L1", "npp", "OP", "CHN", 100, 0, "e0")
    parent.history("L1").append("e0")
    child = parent.fork()
    assert child.lots["L1"] is parent.lots["L1"]
    lot = child.mutable_lot(child.lots["L1"])
    lot.quantity_g -= 40
    child.history("L1").append("e1")
    assert parent.lots["L1"].quantity_g == 100 and child.lots["L1"].quantity_g == 60
    assert parent.lot_history["L1"] == ["e0"] and child.lot_history["L1"] == ["e0", "e1"]
    assert child.mutable_lot(lot) is lot  # its own copy now: no second copy
    # after a fork the parent copies before writing too (its entries are shared)
    grandchild = child.fork()
    child.mutable_lot(child.lots["L1"]).quantity_g = 0
    assert grandchild.lots["L1"].quantity_g == 60


# ------------------------------------------------------------------ the trace's fast lines


@given(t=st.integers(0, 2**40), h=st.integers(0, 2**40), r=st.integers(0, 10**6),
       names=st.lists(st.text(min_size=1, max_size=6), min_size=4, max_size=4))
@settings(max_examples=200, deadline=None)
def test_fast_trace_lines_are_the_bytes_json_writes(t, h, r, names):
    from scenarios.sim.trace import Trace
    src, dst, kind, node = names
    fast, slow = Trace(None), Trace(None)
    fast.deliver(t, src, dst, kind, h, r)
    slow.write({"t": t, "ev": "deliver", "src": src, "dst": dst, "kind": kind, "h": h, "r": r})
    fast.submit(t, node, kind)
    slow.write({"t": t, "ev": "submit", "node": node, "tx": kind})
    fast.drop(t, node, dst, kind)
    slow.write({"t": t, "ev": "drop", "node": node, "reason": dst, "kind": kind})
    fast.drop_net(t, src, dst, kind, node)
    slow.write({"t": t, "ev": "drop", "src": src, "dst": dst, "kind": kind, "reason": node})
    fast.timeout(t, node, kind, h, r)
    slow.write({"t": t, "ev": "timeout", "node": node, "step": kind, "h": h, "r": r})
    fast.decide(t, node, h, src, r, kind)
    slow.write({"t": t, "ev": "decide", "node": node, "h": h, "block": src, "txs": r,
                "via": kind})
    assert fast.sha256 == slow.sha256 and fast.lines == slow.lines == 6


@given(t=st.integers(0, 2**40), block=st.one_of(
    st.text(alphabet="0123456789abcdefABCXYZ", max_size=20),
    st.text(alphabet="09az\u00e9\u0661\u00b2\"\\ \n", max_size=8)))
@settings(max_examples=200, deadline=None)
def test_decide_lines_write_a_hex_block_id_as_json_does(t, block):
    """Trace.decide quotes a block id of ASCII letters and digits itself (an id is hex), and
    leaves anything else, non-ASCII digits and letters included, to json."""
    from scenarios.sim.trace import Trace
    fast, slow = Trace(None), Trace(None)
    fast.decide(t, "USA", 7, block, 40000, "sync")
    slow.write({"t": t, "ev": "decide", "node": "USA", "h": 7, "block": block, "txs": 40000,
                "via": "sync"})
    assert fast.sha256 == slow.sha256


@given(lines=st.lists(st.tuples(st.integers(0, 2**40), st.sampled_from("ABCDE"),
                                st.sampled_from("ABCDE"), st.sampled_from(["prevote", "txs"]),
                                st.integers(0, 2**20), st.integers(0, 9)), max_size=30),
       names_max=st.integers(0, 3))
@settings(max_examples=100, deadline=None)
def test_deliver_lines_are_the_bytes_json_writes_past_the_kept_parts(lines, names_max):
    """A deliver line is made of parts kept by dst and by (kind, src), up to NAMES_MAX of each;
    past that bound, and across many lines, it stays what `write` makes."""
    from unittest import mock

    from scenarios.sim import trace as trace_module
    with mock.patch.object(trace_module, "NAMES_MAX", names_max):
        fast, slow = trace_module.Trace(None), trace_module.Trace(None)
        for t, src, dst, kind, h, r in lines:
            fast.deliver(t, src, dst, kind, h, r)
            slow.write({"t": t, "ev": "deliver", "src": src, "dst": dst, "kind": kind, "h": h,
                        "r": r})
        assert fast.sha256 == slow.sha256 and fast.lines == slow.lines == len(lines)


@given(seed=st.integers(0, 2**32), latency=st.integers(1, 30), jitter=st.integers(0, 12),
       loss=st.sampled_from([0.0, 0.2, 0.9]), duplicate=st.sampled_from([0.0, 0.3]),
       reorder=st.sampled_from([0.0, 0.25]), sends=st.lists(
           st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 500)), max_size=30))
@settings(max_examples=150, deadline=None)
def test_network_arrivals_are_the_draws_of_the_plain_loop(seed, latency, jitter, loss,
                                                          duplicate, reorder, sends):
    """Network.arrivals, with its shortcut for a send of one copy and no reorder, gives the
    arrival ticks of the plain per-copy loop, from the same draws of the same stream."""
    import random

    from scenarios.sim.network import REORDER_HOLD_FACTOR, Network
    nations = ("A", "B", "C", "D")
    config = {"latency_ticks": latency, "jitter_ticks": jitter, "loss_probability": loss,
              "duplicate_probability": duplicate, "reorder_probability": reorder,
              "change": [{"at_tick": 250, "latency_ticks": latency + 5}]}
    network = Network(config, (), nations, random.Random(seed))
    plain = Network(config, (), nations, random.Random(seed))
    now = 0
    for src, dst, later in sends:
        now += later
        s, rng = plain.link(nations[src], nations[dst], now), plain.rng
        if s.loss_probability and rng.random() < s.loss_probability:
            want = []
        else:
            copies = 2 if s.duplicate_probability and rng.random() < s.duplicate_probability else 1
            want = []
            for _ in range(copies):
                delay = s.latency_ticks
                if s.jitter_ticks:
                    delay += rng.randint(-s.jitter_ticks, s.jitter_ticks)
                if s.reorder_probability and rng.random() < s.reorder_probability:
                    delay += rng.randint(1, REORDER_HOLD_FACTOR * s.latency_ticks)
                want.append(now + max(1, delay))
        assert network.arrivals(nations[src], nations[dst], now) == want


def test_a_remembered_signature_is_the_one_signing_computes():
    from nodes import Identity
    from nodes.chain.identity import SIGNATURES_REMEMBERED_MAX
    identity, fresh = Identity.derive("USA", 7), Identity.derive("USA", 7)
    messages = [bytes([i % 256]) * (1 + i // 256) for i in range(SIGNATURES_REMEMBERED_MAX + 10)]
    first = [identity.sign(m) for m in messages]
    again = [identity.sign(m) for m in reversed(messages)]  # hits, then evicted ones again
    assert first == again[::-1] == [fresh._key.sign(m).signature for m in messages]
    assert len(identity._signatures) == SIGNATURES_REMEMBERED_MAX


@given(seed=st.integers(0, 2**32), jitter=st.integers(1, 500))
@settings(max_examples=100, deadline=None)
def test_network_jitter_draw_is_randint(seed, jitter):
    import random
    a, b = random.Random(seed), random.Random(seed)
    assert [a._randbelow(2 * jitter + 1) - jitter for _ in range(50)] == \
        [b.randint(-jitter, jitter) for _ in range(50)]


def test_tx_memo_never_turns_a_malformed_tx_into_a_cached_one():
    from nodes import Identity, TxError
    from nodes.chain.tx import TxMemo, tx_from_wire
    tx = Transaction.create("c", Identity.derive("USA", 1), "payload", 1, b"p")
    memo = TxMemo()
    assert tx_from_wire("c", tx.to_wire(), memo) is tx_from_wire("c", tx.to_wire(), memo)
    bent = (tx.kind, tx.signer, True, tx.payload, tx.signature)  # True == 1 in a tuple key
    with pytest.raises(TxError):
        tx_from_wire("c", bent, memo)


def _stepped(scenario, check_idle: bool, ticks: int) -> tuple[World, int]:
    """The scenario's world driven tick by tick through its public clock (`begin`,
    `run_due`); with `check_idle`, before each tick's events every node that calls itself idle
    (`Node.timer_idle`) runs its timer once more and is held to its word: no action, nothing
    changed; and `Node.idle_deadline`, the one call `World._wake` makes, agrees with
    timer_idle and next_deadline. Up to tick `ticks` (a stepped world does not end early on
    liveness). Returns the world and how many idle nodes were checked."""
    world = build_world(scenario)
    world.begin(None)
    checked = 0
    while (tick := world.next_due(-1)) != -1 and tick <= min(ticks, scenario.ticks_max):
        for node in world.nodes.values():
            if node is None or not check_idle:
                continue
            idle = node.timer_idle(tick)
            assert node.idle_deadline(tick) == (node.next_deadline() if idle else None)
            if idle:
                before = (node.timer_state(), node.replica.wal_record(),
                          node.replica.pending_timeouts(), node.next_deadline())
                assert node.on_timer(tick) == [], (node.me, tick)
                assert (node.timer_state(), node.replica.wal_record(),
                        node.replica.pending_timeouts(), node.next_deadline()) == before
                checked += 1
        world.run_due(tick)
    world.finish()
    world.trace.close()
    return world, checked


def _same_run(a: World, b: World) -> None:
    assert a.trace.sha256 == b.trace.sha256
    assert a.commits == b.commits and a.messages_delivered == b.messages_delivered


@settings(max_examples=8, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(scenario=scenarios(nations=(4, 7), byzantine="below", heights=3))
def test_a_wake_up_the_node_calls_idle_does_nothing(scenario):
    # World._wake skips on_timer when a node says it is idle; the traces stay the same only
    # if that is true, in every state a generated scenario reaches (its first 1,500 ticks).
    checked, _ = _stepped(scenario, True, 1500)
    _same_run(checked, _stepped(scenario, False, 1500)[0])


@pytest.mark.parametrize("name", ["baseline", "crash-wipe"])
def test_idle_wake_ups_are_checked_in_library_runs(name):
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(ticks_max=3000)
    checked, count = _stepped(scenario, True, 3000)
    assert count > 100
    _same_run(checked, _stepped(scenario, False, 3000)[0])


@given(reports=st.lists(st.tuples(st.sampled_from(["proposal", "prevote", "precommit"]),
                                  st.sampled_from(["USA", "MEX", "CAN"]), st.integers(1, 3000),
                                  st.integers(0, 3)), max_size=2000))
@settings(max_examples=20, deadline=None)
def test_a_shared_delivered_report_is_the_one_the_node_would_make(reports):
    """Node._on_consensus reports a delivery with a Delivered shared by (kind, sender, height,
    round) (nodes.node._delivered, a bounded cache): equal to a fresh one, past the bound too."""
    from nodes import Delivered
    from nodes.node import _delivered
    for report in reports:
        shared = _delivered(*report)
        assert shared.__class__ is Delivered and shared == Delivered(*report)
