"""`chemtrace compare SCENARIO`: one scenario run in the simulated world and on live processes,
with the figures side by side.

Theory of operation
-------------------

`compare(scenario, out_dir)` runs the scenario twice: in the simulated world (`build_world`,
as `chemtrace run`) and on a live cluster (`LiveCluster`, a private Mosquitto, the scenario's
network model applied by the transport's shim). Both draw the workload from the same seeded
streams; what differs is time: the live nodes run on the wall clock, so which transactions a
run commits, and when, differ.

The comparison has three parts:

- verdicts: safety, liveness, whether [expect] holds, and the nations named by evidence. These
  must be equal (`Comparison.agrees`);
- domain figures over the transactions committed in BOTH runs: each run's canonical chain is
  replayed through a fresh chaincode and a fresh domain oracle, applying only the transactions
  the other run also committed (`chain_keys`: a custody event is known by its event id, any
  other transaction by what it says, since the runs sign with different keys). These must be
  equal too, unless the difference has a cause the comparison names (block times: a flag that
  depends on when a block was made);
- the rest, listed with their cause and not judged: heights and transactions committed, the
  domain figures over every transaction, the commit latency (ticks against milliseconds: a
  simulated network tick is 1 ms; a live tick is `tick_ms`, and the shim holds a message its
  link's latency in ticks times `tick_ms`, so latencies in ticks compare one to one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scenarios.assemble import build_world
from scenarios.cluster.driver import DEFAULT_TICK_MS, LiveCluster
from scenarios.spec.loader import Scenario
from scenarios.trade.oracle import DomainOracle

# Flags a chaincode raises from the block's time (a deadline passed, a report filed late):
# two runs that commit the same transactions in blocks made at other times may differ there.
TIME_FLAGS = frozenset({"overdue", "late_report"})
DOMAIN_KEYS = ("traced_complete_pct", "leaked_kg", "false_flags", "flags_by_kind")


def chain_keys(world, chain: list[tuple[int, object]]) -> dict[bytes, tuple]:
    """Each transaction of `chain` (by id) known the same way in both runs: a custody event by
    its event id (its payload holds the times it was filed at, which differ), any other by
    what it says (kind, signer, nonce, payload), not by who signed it with which key."""
    chaincode = world.workload.new_chaincode()
    keys = {}
    for _, block in chain:
        chaincode.begin_block(block.time_ticks)
        for tx in block.txs:
            result = chaincode.apply_tx(tx, block.time_ticks)
            keys[tx.tx_id] = (("event", result.kind, result.event_id) if result.event_id
                              else ("tx", tx.kind, tx.signer, tx.nonce, tx.payload))
    return keys


def canonical_chain(ledgers: dict, ticks: dict, honest) -> list[tuple[int, object]]:
    """(first commit tick, block) of every height of the longest honest ledger."""
    longest = max((ledgers[n] for n in honest if n in ledgers), key=len, default=[])
    out = []
    for committed in longest:
        h = committed.block.height
        when = [ticks[n][h] for n in honest if h in ticks.get(n, {})]
        out.append((min(when) if when else 0, committed.block))
    return out


def domain_over(world, chain: list[tuple[int, object]], keep) -> dict:
    """The domain figures of `chain` replayed through a fresh chaincode and oracle of `world`'s
    trade, applying only the transactions `keep(tx)` accepts."""
    workload, scenario = world.workload, world.scenario
    chaincode = workload.new_chaincode()
    oracle = DomainOracle(workload.plans, workload.record_keepers,
                          scenario.ticks_per_trade_day, scenario.trade_epoch)
    for tick, block in chain:
        flags = tuple(chaincode.begin_block(block.time_ticks))
        results = tuple(chaincode.apply_tx(tx, block.time_ticks) for tx in block.txs
                        if keep(tx))
        oracle.on_block(tick, flags, results)
    return figures(oracle.summary())


def figures(domain: dict) -> dict:
    return {"traced_complete_pct": domain.get("traced_complete_pct"),
            "leaked_kg": domain.get("leaked_kg"),
            "false_flags": domain.get("false_flags"),
            "flags_by_kind": {k: v for k, v in sorted(domain.get("flags_by_kind", {}).items())
                              if v}}


@dataclass
class Comparison:
    scenario: str
    tick_ms: float
    rows: list[dict] = field(default_factory=list)  # figure, sim, live, judged, equal, cause
    common_txs: int = 0
    sim_only_txs: int = 0
    live_only_txs: int = 0
    sim: object = None  # the two runs' RunSummary
    live: object = None

    def add(self, figure: str, sim, live, judged: bool, cause: str = "") -> None:
        equal = sim == live
        self.rows.append({"figure": figure, "sim": sim, "live": live, "judged": judged,
                          "equal": equal, "cause": "" if equal else cause})

    @property
    def agrees(self) -> bool:
        """Every judged figure is equal, or its difference has a named cause (verdicts are
        given none: they must be equal)."""
        return all(r["equal"] or r["cause"] for r in self.rows if r["judged"])

    def to_json(self) -> dict:
        return {"scenario": self.scenario, "tick_ms": self.tick_ms, "agrees": self.agrees,
                "common_txs": self.common_txs, "sim_only_txs": self.sim_only_txs,
                "live_only_txs": self.live_only_txs, "rows": self.rows}


def _sim_chain(world) -> tuple[dict, dict]:
    ledgers, ticks = {}, {}
    for nation in world.honest:
        node = world.nodes.get(nation)
        if node is not None:
            ledgers[nation] = [node.ledger.get(h) for h in range(1, node.ledger.height + 1)]
        ticks[nation] = {}
        for tick, h in world.commits.get(nation, []):
            ticks[nation].setdefault(h, tick)
    return ledgers, ticks


def compare(scenario: Scenario, out_dir: Path, *, tick_ms: float = DEFAULT_TICK_MS,
            network: str = "on", progress=None) -> Comparison:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = build_world(scenario, ledger_path=out_dir / "sim-ledger.jsonl", spacetime=False)
    sim = world.run()
    cluster = LiveCluster(scenario, out_dir / "live", "spawn", tick_ms=tick_ms, network=network,
                          clean=True)
    live = cluster.run(progress)
    result = Comparison(scenario.name, tick_ms, sim=sim, live=live)

    sim_chain = canonical_chain(*_sim_chain(world), world.honest)
    live_ticks = {n: {h: t for h, (t, _, _) in cluster.commit_ticks[n].items()}
                  for n in cluster.nations}
    live_chain = canonical_chain(cluster.ledgers, live_ticks, cluster.honest)
    sim_ids, live_ids = chain_keys(world, sim_chain), chain_keys(cluster, live_chain)
    sim_keys, live_keys = set(sim_ids.values()), set(live_ids.values())
    common = sim_keys & live_keys
    result.common_txs, result.sim_only_txs = len(common), len(sim_keys - live_keys)
    result.live_only_txs = len(live_keys - sim_keys)

    # Verdicts: must be equal.
    result.add("safety", sim.safety_ok, live.safety_ok, True)
    result.add("liveness", sim.liveness_verdict, live.liveness_verdict, True)
    result.add("expect holds", sim.expect_ok, live.expect_ok, True)
    result.add("nations named by evidence", sorted({e["nation"] for e in sim.evidence}),
               sorted({e["nation"] for e in live.evidence}), True)
    # Domain figures over the transactions both committed: must be equal, or have a cause.
    sim_common = domain_over(world, sim_chain, lambda tx: sim_ids[tx.tx_id] in common)
    live_common = domain_over(cluster, live_chain, lambda tx: live_ids[tx.tx_id] in common)
    for key in DOMAIN_KEYS:
        cause = ""
        if key == "flags_by_kind":
            kinds = {k for k in set(sim_common[key]) | set(live_common[key])
                     if sim_common[key].get(k) != live_common[key].get(k)}
            if kinds and kinds <= TIME_FLAGS:
                cause = (f"{', '.join(sorted(kinds))} depend on block times, which are the "
                         f"wall clock's live")
        result.add(f"domain over common txs: {key}", sim_common[key], live_common[key], True,
                   cause)
    # The rest: listed with its cause, not judged.
    timing = "the live run commits on the wall clock: other blocks, other transactions"
    result.add("heights committed", sim.heights_committed, live.heights_committed, False,
               timing)
    result.add("txs committed", sim.txs_committed, live.txs_committed, False, timing)
    result.add("evidence records", len(sim.evidence), len(live.evidence), False,
               "one record per offence seen; how many a liar commits depends on how many "
               "rounds it takes part in")
    sim_all, live_all = figures(sim.domain or {}), figures(live.domain or {})
    for key in DOMAIN_KEYS:
        result.add(f"domain over all txs: {key}", sim_all[key], live_all[key], False,
                   f"transactions committed in one run only: {result.sim_only_txs} sim, "
                   f"{result.live_only_txs} live")
    for p in ("p50", "p99"):
        s_ticks, l_ticks = getattr(sim, f"latency_ticks_{p}"), getattr(live, f"latency_ticks_{p}")
        result.add(f"commit latency {p} (ticks)", s_ticks, l_ticks, False,
                   "the live nodes' own work and the broker's delay come on top of the model")
        result.add(f"commit latency {p} (ms)", s_ticks,
                   None if l_ticks is None else round(l_ticks * tick_ms, 1), False,
                   f"a simulated tick is 1 ms of network time; a live tick is {tick_ms:g} ms")
    return result
