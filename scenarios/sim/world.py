"""The simulated world: every nation's node in one process, on a virtual clock and network.

Theory of operation
-------------------

One priority queue keyed by `(tick, seq)` holds everything that will happen: message deliveries,
node wake-ups for timeouts, client submissions, crashes and restarts. `run()` pops the earliest,
jumps the clock to its tick, lets the one node concerned react, and turns the node's actions into
new queue entries (sends through the `Network`) and trace lines. `seq` is a global counter, so
two events at one tick always run in the order they were scheduled, and nothing ever iterates a
set or an unsorted dict. With the named random streams of `Streams`, the same scenario and seed
give the same trace, byte for byte, in any process.

A broadcast's deliveries that arrive at one tick share one entry (DELIVER_MANY), which delivers
them in send order. That is the order separate entries would run in: nothing is pushed while a
broadcast is sent, so their seqs would be consecutive, and no other entry could run between two
of them (see `Speedups.broadcast_events`).

Crashes keep a nation's `MemoryStorage` (its disk) and drop everything else; a restart builds a
fresh `Node` on that storage, which resumes consensus from its write-ahead record and catches up
by state sync. A `Fleet` (scenarios/sim/fleet.py) given to the world runs the nodes elsewhere
instead (the live cluster's processes); the world still decides when each starts and stops.

The world is a kernel: it knows consensus, not what the transactions mean. Its own client load
(`[workload] txs_per_tick`: opaque payload transactions, a Poisson process) measures
throughput and latency. A `Workload` (scenarios/sim/workload.py) gives transactions a meaning:
it schedules its own events on this queue (`schedule`, one WORKLOAD entry each), files
transactions through the nodes (`submit`), is told each canonical block (`on_canonical`), and
adds its sections to the summary and its rows to the ledger export. scenarios/assemble.py gives
the precursor trade's (scenarios/trade/runner.py).
"""

from __future__ import annotations

import gc
import heapq
import math
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Callable

from consensus import COVERAGE_EVENTS, Step, TimeoutConfig
from nodes import (
    Committed,
    Delivered,
    Dropped,
    Genesis,
    MemoryStorage,
    Misbehaviour,
    Node,
    NodeConfig,
    NodeHooks,
    SendAll,
    SendTo,
    Transaction,
    VerifyCache,
)
from nodes.chain.identity import Identity
from nodes.chain.identity import VERIFY_CACHE_ENTRIES_MAX
from nodes.chain.modelled import signature_scheme
from nodes.app.shared import SharedApplication
from nodes.wire.messages import DECODE_CACHE_ENTRIES_MAX, DecodeCache, MessageKind

from scenarios.spec.loader import Scenario, ScenarioError
from scenarios.sim.fleet import Fleet
from scenarios.sim.network import Network
from scenarios.sim.summary import RunSummary
from scenarios.sim.oracles import (LIVENESS_NOT_JUDGED, LIVENESS_OK, LIVENESS_STALLED,
                                   PromptJudgement, SafetyOracle, judge_prompt_decisions,
                                   liveness_verdict)
from scenarios.sim.rng import Streams
from scenarios.spec.schema import BYZANTINE_KINDS, BehaviourKind
from scenarios.sim.trace import Trace
from scenarios.sim.workload import Workload


class QueueKind(IntEnum):
    """What a queue entry `(tick, seq, kind, payload)` does when it comes due. Entries run in
    (tick, seq) order whatever their kind: `seq` is unique, so the kind is never compared."""

    DELIVER = 0  # payload: src, dst, data, kind, height, round
    WAKE = 1  # nation, token: the node's next deadline (stale unless token is its live one)
    SUBMIT = 2  # at: the client load's next submission (a Poisson process)
    CRASH = 3  # nation
    RESTART = 4  # nation, wipe
    WORKLOAD = 5  # callback, args: what `World.schedule` was given (the workload's events)
    DELIVER_MANY = 6  # src, [(dst, data), ...], kind, height, round: one broadcast's arrivals


# The queue holds the kinds' plain int values, under module-level names: the event loop
# compares each entry's kind against them, and a comparison of two exact ints is the cheapest
# there is. `QueueKind(kind)` names one.
DELIVER, WAKE, SUBMIT, CRASH, RESTART, WORKLOAD, DELIVER_MANY = (int(k) for k in QueueKind)
TWIN = "~"  # the twin of nation X runs as instance "X~"
CONSENSUS_KINDS = frozenset({MessageKind.PROPOSAL, MessageKind.PREVOTE, MessageKind.PRECOMMIT})
PROGRESS_EVERY_EVENTS = 4096
SPACETIME_HEIGHTS_MAX = 3
SPACETIME_MESSAGES_MAX = 2000


@dataclass(frozen=True, slots=True)
class Speedups:
    """What makes a run cheaper without changing it (issue 8). The first three are what the
    nodes of one process share, and only remember answers that are pure functions of their
    keys; the last batches queue entries without reordering them. A run writes the same trace
    with any of them off (tests/scenarios/test_speedups.py holds the hashes equal). All on by default.

    - `verify_cache`: one VerifyCache for every node and the safety oracle, so each signature is
      checked once in the process; off, every check runs pynacl.
    - `decode_cache`: one DecodeCache, so a broadcast is decoded (and a big one hashed) once.
    - `shared_application`: honest nodes validate and apply a block once for all of them in the
      same state (nodes/app/shared.py); Byzantine nodes always compute their own.
    - `broadcast_events`: the deliveries of one broadcast that arrive at one tick are one queue
      entry, not one each (`World._send_all`): at n nations a broadcast pushes and pops at most
      as many entries as it has distinct arrival ticks instead of n - 1.
    """

    verify_cache: bool = True
    decode_cache: bool = True
    shared_application: bool = True
    broadcast_events: bool = True


class World:
    def __init__(self, scenario: Scenario, trace_path: Path | None = None,
                 node_hooks: Callable[[str, Genesis], NodeHooks | None] | None = None,
                 storage_factory: Callable[[str], MemoryStorage] | None = None,
                 speedups: Speedups = Speedups(), spacetime: bool = True, *,
                 workload: Workload | None = None, fleet: Fleet | None = None,
                 make_genesis: Callable[[list[tuple[str, int]]],
                                        tuple[Genesis, dict[str, Identity]]] | None = None,
                 on_deliver: Callable[[str, str, bytes, str, int, int], None] | None = None
                 ) -> None:
        """`node_hooks(nation, genesis)` gives the hooks (nodes/hooks.py) each node runs with,
        at each boot: None, or no factory, is the honest node. The kernel knows no behaviour;
        scenarios/assemble.py passes the factory of scenarios/faults/assign.py, which gives
        the scenario's Byzantine nations their behaviours and, in the mutant benchmark, the
        honest nations a mutant. A node whose hooks do not declare `shares_application` computes
        its own validation and application. `storage_factory(instance)` makes
        each node's disk once (anything with MemoryStorage's interface, such as
        nodes.live.sqlite_storage.SQLiteStorage); the caller closes what it made. `spacetime=False`
        keeps no messages for the report's space-time diagram (`self.spacetime` stays empty):
        the fuzzer writes no report, and the trace and summary are the same either way.

        `workload` gives the transactions a meaning (scenarios/sim/workload.py; the trade's is
        given by scenarios/assemble.py); None runs consensus and the client load alone. `fleet`
        runs the nodes somewhere else than in this process (scenarios/sim/fleet.py).
        `make_genesis(powers)` makes the chain's genesis and every member's identity from
        `[(nation, power), ...]`; by default simulated keys derived from the seed.
        `on_deliver(src, dst, data, kind, height, round)` watches every message handed to a node
        (the fuzzer's story); it changes nothing, and without it a delivery pays nothing for it."""
        self.scenario = scenario
        if on_deliver is not None:
            self._on_deliver = on_deliver
            self._deliver = self._watched_deliver  # the queue and _deliver_many call this
        self.node_hooks = node_hooks
        self.fleet = fleet
        self.streams = Streams(scenario.seed)
        self._index_behaviours(scenario)
        # How nations sign: Ed25519, or modelled signatures (nodes/chain/modelled.py), which
        # only the simulated world can run: a live cluster's nodes sign with their own keys.
        scheme_name = scenario.consensus.get("signatures", "ed25519")
        if make_genesis is not None and scheme_name != "ed25519":
            raise ScenarioError(
                f"{scenario.source}: [consensus] signatures = {scheme_name!r} is for the "
                f"simulated world only; live nodes sign with Ed25519. Fix: remove the key, or "
                f"run the scenario with `chemtrace run`")
        self.signatures = signature_scheme(scheme_name)
        self.genesis, self.identities = (make_genesis or self._simulated_genesis)(
            [(n, p) for n, p in scenario.nations if n not in self.opted_out])
        self.nations = self.genesis.codes
        power = dict(scenario.nations)
        total = sum(power[n] for n in self.nations)
        self.byzantine_power_fraction = sum(power[n] for n in self.byzantine) / total
        self.honest = tuple(n for n in self.nations if n not in self.byzantine)
        self.instances = self.nations + tuple(f"{n}{TWIN}" for n in sorted(self.twinned))
        # instance -> nation, looked up for every message instead of stripping TWIN each time
        self.nation_of = {i: _nation(i) for i in self.instances}
        self._twin_sides: dict[tuple[str, str], str] = {}
        c = scenario.consensus
        self.node_config = NodeConfig(
            timeouts=TimeoutConfig(
                c["timeout_propose_base_ticks"], c["timeout_propose_delta_ticks"],
                c["timeout_prevote_base_ticks"], c["timeout_prevote_delta_ticks"],
                c["timeout_precommit_base_ticks"], c["timeout_precommit_delta_ticks"]),
            block_txs_max=c["block_txs_max"],
            rebroadcast_ticks=c["rebroadcast_ticks"],
            gossip_batch_ticks=c["gossip_batch_ticks"],
            gossip_peers=c["gossip_peers"],
        )
        self.speedups = speedups
        self.verifier = VerifyCache(entries_max=0 if not speedups.verify_cache else
                                    VERIFY_CACHE_ENTRIES_MAX, scheme=self.signatures)
        self.decoder = DecodeCache(self.genesis.chain_id,
                                   entries_max=DECODE_CACHE_ENTRIES_MAX
                                   if speedups.decode_cache else 0)
        self.shared = SharedApplication() if speedups.shared_application else None
        self.workload = workload if workload is not None else Workload()
        self.workload.attach(self)
        make_storage = storage_factory or (lambda instance: MemoryStorage())
        self.storage = {n: make_storage(n) for n in self.instances}
        self.nodes: dict[str, Node | None] = {n: None for n in self.instances}
        self.incarnation = {n: 0 for n in self.instances}
        # Each node has at most one live wake-up: `armed[n]`, the tick of the WAKE entry whose
        # token is `wake_token[n]` (None, 0: none). Arming it earlier leaves the old entry in
        # the queue, stale: its token no longer matches, and it is skipped when it comes due
        # without touching the node (`stale_wakes` counts them). See `_arm`.
        self.armed: dict[str, int | None] = {n: None for n in self.instances}
        self.wake_token: dict[str, int] = {n: 0 for n in self.instances}
        self.stale_wakes = 0
        self.behaviour_rng = self.streams.get("behaviour")
        self.suppressed = 0
        self._crash_points: dict[str, list] = {}  # nation -> crashes at a protocol point
        self._wal_seen: dict[str, object] = {}  # instance -> the last record they looked at
        self.network = Network(scenario.network, scenario.partitions, self.nations,
                               self.streams.get("network"),
                               proposer=self.genesis.validators.proposer)
        if self.network.round_partitioned:  # else a delivery pays nothing for them
            self._deliver_across_rounds = self._deliver
            self._deliver = self._round_partitioned_deliver
        self.workload_rng = self.streams.get("workload")
        self.trace = Trace(trace_path)
        self.safety = SafetyOracle(
            self.genesis, verifier=self.verifier if speedups.verify_cache else
            VerifyCache(scheme=self.signatures))
        self.now = 0
        self._queue: list[tuple] = []
        self._seq = 0
        self.messages_sent = 0
        self.bytes_sent = 0
        self.messages_delivered = 0
        self.sent_by_nation: dict[str, int] = {}
        # For the report's space-time diagram: (sent, delivered, src, dst, kind, height, round)
        # of the first messages of the first heights. Heights are 1 and up: a bound of 0 keeps
        # none, at the cost of one comparison per message.
        self._spacetime_heights_max = SPACETIME_HEIGHTS_MAX if spacetime else 0
        self.spacetime: list[tuple] = []
        self._sent_at: dict[tuple, list[int]] = {}
        self.dropped: dict[str, int] = {}
        self.commits: dict[str, list[tuple[int, int]]] = {n: [] for n in self.instances}
        self.coverage: dict[str, int] = {}  # protocol events of the nodes gone down so far
        self.evidence: list[dict] = []
        self._evidence_keys: set[tuple] = set()
        self.submitted_at: dict[bytes, int] = {}
        self.latencies_ticks: list[int] = []
        self.canonical_txs: dict[int, int] = {}
        self._nonce = 0
        self.wall_s = 0.0
        self.events = 0
        self.gst_tick = 0
        self.liveness_heights = 0
        self.height_at_gst = 0
        self.stopped_early = False
        self._up_honest: list[str] | None = None

    def _simulated_genesis(self, powers: list[tuple[str, int]]
                           ) -> tuple[Genesis, dict[str, Identity]]:
        """The chain's genesis and every member's identity: simulated keys derived from the
        seed (the live cluster gives fresh ones: `make_genesis`)."""
        return Genesis.simulated(f"chemtrace/{self.scenario.name}", powers, self.scenario.seed,
                                 self.signatures)

    def _new_chaincode(self):
        """A fresh application for a node: the workload's, or None for the node's default."""
        return self.workload.new_chaincode()

    # ------------------------------------------------------------------ for workloads and drivers

    def stream(self, name: str):
        """The named random stream of the run's seed (see `Streams`)."""
        return self.streams.get(name)

    def schedule(self, tick: int, callback: Callable[..., None], *args) -> None:
        """Run `callback(*args)` at `tick` (not before `now`), after everything scheduled
        earlier for that tick: one WORKLOAD entry in the queue."""
        self._push(tick, WORKLOAD, callback, args)

    def is_up(self, instance: str) -> bool:
        """Whether `instance` runs now (it is not crashed)."""
        return self.nodes[instance] is not None

    def submit(self, instance: str, tx: Transaction) -> bool:
        """Give `tx` to the node of `instance` now, as a client would, and handle what the node
        does; False (and nothing done) when it is down."""
        node = self.nodes[instance]
        if node is None:
            return False
        self._act(instance, node.submit(tx, self.now))
        return True

    def begin(self, restarts_until: int | None) -> None:
        """Everything before the event loop: scheduled crashes and restarts (up to
        `restarts_until`, or all of them when None), boots, the workload's first events and the
        client load's first submission. `run()` calls it; a driver that owns the clock (the
        live cluster) calls it, then `run_due` as time passes."""
        self._begin(restarts_until)

    def run_due(self, tick: int) -> None:
        """Run, in order, every queue entry due at or before `tick` (a driver that owns the
        clock: the live cluster). `now` is each entry's tick while it runs."""
        queue = self._queue
        while queue and queue[0][0] <= tick:
            due, _, kind, payload = heapq.heappop(queue)
            self.now = due
            self._dispatch(kind, payload)

    def next_due(self, default: int) -> int:
        """The tick of the next queue entry, or `default` when the queue is empty."""
        return self._queue[0][0] if self._queue else default

    def record_commit(self, instance: str, committed: Committed) -> None:
        """Take `committed` as a commit node `instance` made now: the trace, the safety
        oracle, the latencies and the workload see it as they see a simulated node's (the live
        cluster replays its nodes' ledgers through this)."""
        self._on_commit(instance, committed)

    def finish(self) -> None:
        """Close what the workload writes (the ledger export); `run()` does it itself."""
        self.workload.close()

    # ------------------------------------------------------------------ scheduling

    def _push(self, tick: int, kind: int, *payload) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (tick, self._seq, kind, payload))

    def _arm(self, nation: str) -> None:
        """After an event of node `nation`: make sure it wakes by its `next_deadline()`. A live
        wake-up already due by then stays (when it comes and the node has nothing due, it is
        moved to the node's deadline then, `_wake`); one due later is replaced."""
        node = self.nodes[nation]
        if node is None:
            return
        deadline = node.next_deadline()
        if deadline is None:
            return
        armed = self.armed[nation]
        if armed is None or deadline < armed:
            self._arm_at(nation, max(deadline, self.now))

    def _arm_at(self, nation: str, tick: int) -> None:
        """The one live wake-up of `nation`, at `tick`: any earlier one becomes stale."""
        self._seq += 1
        token = self.wake_token[nation] = self._seq
        self.armed[nation] = tick
        heapq.heappush(self._queue, (tick, token, WAKE, (nation, token)))

    def pending_wakes(self) -> dict[str, tuple[int, int]]:
        """Per instance, the WAKE entries now in the queue: (live, stale). Live is 0 or 1."""
        out = {n: [0, 0] for n in self.instances}
        for _, _, kind, payload in self._queue:
            if kind == WAKE:
                nation, token = payload
                out[nation][0 if token == self.wake_token[nation] else 1] += 1
        return {n: (live, stale) for n, (live, stale) in out.items()}

    # ------------------------------------------------------------------ running

    def run(self, progress: Callable[[int, int], None] | None = None) -> RunSummary:
        # The cyclic collector finds next to nothing here (the loop makes few cycles), yet with
        # millions of live transactions, blocks and votes each of its full passes walks them
        # all: 12% of a 64-nation run. Reference counting still frees everything else. It stays
        # off until the summary is made: back on any earlier, its next pass would walk the whole
        # world (every object made during the run is in its youngest generation) just before the
        # caller drops it, 5% of a fuzzer's time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run(progress)
        finally:
            if collecting:
                gc.enable()

    def _run(self, progress: Callable[[int, int], None] | None) -> dict:
        started = time.perf_counter()
        ticks_max = self.scenario.ticks_max
        self._begin(ticks_max)
        rate = self.scenario.workload["txs_per_tick"]

        # [expect] liveness_heights: end the run once liveness is shown (see _check_stop).
        self.gst_tick = self.fault_end_tick()
        self.liveness_heights = self.scenario.expect.get("liveness_heights", 0)
        self._loop(self._queue, heapq.heappop, ticks_max, rate, progress)
        if not self.stopped_early:
            self.now = ticks_max
        self.wall_s = time.perf_counter() - started
        if progress is not None:
            progress(ticks_max, ticks_max)
        summary = self.summary()
        self.workload.close()
        end = {"t": self.now, "ev": "end", "heights": summary.heights_committed,
               "txs": summary.txs_committed}
        if self.signatures.name != "ed25519":  # an Ed25519 run's trace is as it always was
            end["signatures"] = self.signatures.name
        self.trace.write(end)
        self.trace.close()
        return summary.replace(trace_sha256=self.trace.sha256, trace_lines=self.trace.lines)

    def _loop(self, queue: list, pop, ticks_max: int, rate: float,
              progress: Callable[[int, int], None] | None) -> None:
        progress_at = PROGRESS_EVERY_EVENTS
        while queue and queue[0][0] <= ticks_max and not self.stopped_early:
            tick, _, kind, payload = pop(queue)
            self.now = tick
            self.events += 1
            if kind == DELIVER:
                self._deliver(*payload)
            elif kind == DELIVER_MANY:
                self._deliver_many(*payload)
            elif kind == WAKE:
                self._wake(*payload)
            elif kind == SUBMIT:
                self._submit(payload[0], rate)
            elif kind == WORKLOAD:
                payload[0](*payload[1])
            elif kind == CRASH:
                self._crash(payload[0])
            else:
                self._restart(*payload)
            if progress is not None and self.events >= progress_at:
                progress_at = self.events + PROGRESS_EVERY_EVENTS
                progress(tick, ticks_max)

    def _dispatch(self, kind: int, payload: tuple) -> None:
        """Run one queue entry (`_loop` inlines this, for speed)."""
        if kind == DELIVER:
            self._deliver(*payload)
        elif kind == DELIVER_MANY:
            self._deliver_many(*payload)
        elif kind == WAKE:
            self._wake(*payload)
        elif kind == SUBMIT:
            self._submit(payload[0], self.scenario.workload["txs_per_tick"])
        elif kind == WORKLOAD:
            payload[0](*payload[1])
        elif kind == CRASH:
            self._crash(payload[0])
        else:
            self._restart(*payload)

    def _begin(self, restarts_until: int | None) -> None:
        """See `begin`."""
        down_at_start = set()
        for b in self.scenario.behaviours:
            if b.kind != "crash":
                continue
            for nation in b.nations:
                if nation not in self.nations:
                    continue  # opted out: it has no node to crash
                if b.params.get("at", "tick") != "tick":
                    self._watch_crash_point(nation, b)
                elif b.from_tick == 0:
                    down_at_start.add(nation)
                else:
                    self._push(b.from_tick, CRASH, nation)
                if b.until_tick is not None and (restarts_until is None or b.until_tick <= restarts_until):
                    self._push(b.until_tick, RESTART, nation, b.params.get("wipe", False))
        for nation in self.instances:
            if _nation(nation) in down_at_start:
                self.trace.write({"t": 0, "ev": "crash", "node": nation})
            else:
                self._boot(nation)
        self.workload.begin()
        rate = self.scenario.workload["txs_per_tick"]
        if rate > 0:
            self._schedule_submission(self.workload_rng.expovariate(rate))

    def _boot(self, instance: str) -> None:
        self.incarnation[instance] += 1
        self.armed[instance] = None
        self.wake_token[instance] = 0
        if self.fleet is not None:
            node = self.nodes[instance] = self.fleet.start(instance)
            self._up_honest = None
            self._act(instance, node.start(self.now))
            return
        nation = _nation(instance)
        hooks = self.node_hooks(nation, self.genesis) if self.node_hooks is not None else None
        # Only honest nodes share validation and application: a Byzantine one computes its own.
        shared = self.shared if hooks is None or hooks.shares_application else None
        node = Node(self.identities[nation], self.genesis, self.verifier, self.storage[instance],
                    self.node_config, self._new_chaincode(), self.decoder, shared, hooks)
        self.nodes[instance] = node
        self._up_honest = None
        self._act(instance, node.start(self.now))

    def _crash(self, nation: str) -> None:
        for instance in self._instances_of(nation):
            if self.nodes[instance] is None:
                continue
            if self.fleet is not None:
                self.fleet.kill(instance)
            self._count_coverage(self.nodes[instance])
            self.nodes[instance] = None
            self._up_honest = None
            self.incarnation[instance] += 1
            self.armed[instance] = None
            self.wake_token[instance] = 0
            self.trace.write({"t": self.now, "ev": "crash", "node": instance})

    def _watch_crash_point(self, nation: str, behaviour) -> None:
        """A crash at a protocol point (`at`): `_act` becomes `_act_at_crash_points` for this
        world, which reads each node's write-ahead record after each of its steps; a world
        with no such crash pays nothing."""
        if self.fleet is not None:
            raise ValueError(f"a crash at a protocol point (at = {behaviour.params['at']!r}) "
                             f"needs the nodes in this process; it cannot run on a fleet")
        self._crash_points.setdefault(nation, []).append(behaviour)
        self._act = self._act_at_crash_points

    def _act_at_crash_points(self, instance: str, actions: list) -> None:
        """`_act`, after checking whether the node just reached a point it is to crash at: on
        a new write-ahead record (`persist`), one holding a new lock (`lock`), the step's
        actions are lost with the node; on a new precommit of its own (`precommit`) they go
        out first."""
        points = self._crash_points.get(instance)  # a twin instance ("X~") has none
        if points:
            record = self.storage[instance].wal
            before = self._wal_seen.get(instance)
            if record is not before:
                self._wal_seen[instance] = record
                for b in points:
                    at = b.params["at"]
                    if not b.active(self.now) or not _reached(at, before, record):
                        continue
                    points.remove(b)
                    self.coverage["crash_point"] = self.coverage.get("crash_point", 0) + 1
                    self.trace.write({"t": self.now, "ev": "crash_point", "node": instance,
                                      "at": at, "h": record.height, "r": record.round})
                    if at == "precommit":
                        World._act(self, instance, actions)
                    self._crash(instance)
                    return
        World._act(self, instance, actions)

    def _count_coverage(self, node) -> None:
        """Add a node's protocol events (its replica's `coverage`) to the run's, as it goes
        down or the run ends: honest nations only, as the oracles judge."""
        replica = getattr(node, "replica", None)  # a live cluster's remote node has none here
        if replica is None or _nation(node.me) not in self.honest:
            return
        for event, count in replica.coverage.items():
            self.coverage[event] = self.coverage.get(event, 0) + count

    def _restart(self, nation: str, wipe: bool = False) -> None:
        for instance in self._instances_of(nation):
            if self.nodes[instance] is not None:
                continue
            if wipe:  # the disk is gone too
                if self.fleet is not None:
                    self.fleet.wipe(instance)
                else:
                    self.storage[instance].wipe()
            self.trace.write({"t": self.now, "ev": "restart", "node": instance, "wipe": wipe,
                              "height": len(self.storage[instance].blocks)})
            self._boot(instance)

    # ------------------------------------------------------------------ behaviours

    def _index_behaviours(self, scenario: Scenario) -> None:
        self.behaviours: dict[str, list] = {}
        for b in scenario.behaviours:
            for nation in b.nations:
                self.behaviours.setdefault(nation, []).append(b)
        self.opted_out = {n for b in scenario.behaviours if b.kind == "opt_out"
                          and b.params["mode"] == "full" for n in b.nations}
        self.byzantine = tuple(sorted(
            {n for b in scenario.behaviours if b.kind in BYZANTINE_KINDS for n in b.nations}
            | {n for c in scenario.custom if c.byzantine for n in c.nations}))
        self.twinned = {n for b in scenario.behaviours if b.kind == "twin" for n in b.nations}

    def _active(self, nation: str, kind: str):
        for b in self.behaviours.get(nation, ()):
            if b.kind == kind and b.active(self.now):
                return b
        return None

    def _instances_of(self, nation: str) -> list[str]:
        return [nation] + ([f"{nation}{TWIN}"] if nation in self.twinned else [])

    def _twin_side(self, nation: str, peer: str) -> str:
        """Which instance of twinned `nation` talks to `peer`: each serves half the others."""
        side = self._twin_sides.get((nation, peer))
        if side is None:
            others = sorted(n for n in self.nations if n != nation)
            first = set(others[:(len(others) + 1) // 2])
            side = self._twin_sides[(nation, peer)] = (
                nation if peer in first else f"{nation}{TWIN}")
        return side

    def _deliver(self, src: str, dst: str, data: bytes, kind: str, height: int, round_: int
                 ) -> None:
        node = self.nodes[dst]
        if node is None:
            self._drop_net(src, dst, kind, "crashed")
            return
        network, now = self.network, self.now
        if network.partitioned and network.blocked(self.nation_of[src], self.nation_of[dst],
                                                   now):
            self._drop_net(src, dst, kind, "partition")
            return
        self.messages_delivered += 1
        # txs are left out: gossip would crowd out votes
        if (height <= self._spacetime_heights_max and kind != "txs"
                and len(self.spacetime) < SPACETIME_MESSAGES_MAX):
            sent = self._sent_at.get((src, dst, data))
            self.spacetime.append((sent.pop(0) if sent else now, now, src, dst, kind, height,
                                   round_))
        self.trace.deliver(now, src, dst, kind, height, round_)
        self._act(dst, node.on_bytes(data, now))

    def _round_partitioned_deliver(self, src: str, dst: str, data: bytes, kind: str,
                                   height: int, round_: int) -> None:
        """`_deliver`, once a round partition ([[partition]] rounds) has had its say: a
        proposal or vote of a cut round between two sides is dropped."""
        if kind in CONSENSUS_KINDS and self.network.round_blocked(
                self.nation_of[src], self.nation_of[dst], self.now, height, round_):
            self._drop_net(src, dst, kind, "round_partition")
            return
        self._deliver_across_rounds(src, dst, data, kind, height, round_)

    def _watched_deliver(self, src: str, dst: str, data: bytes, kind: str, height: int,
                         round_: int) -> None:
        """`_deliver` with the `on_deliver` watcher told first (only a world given one)."""
        self._on_deliver(src, dst, data, kind, height, round_)
        World._deliver(self, src, dst, data, kind, height, round_)

    def _deliver_many(self, src: str, arrivals: list[tuple[str, bytes]], kind: str, height: int,
                      round_: int) -> None:
        """The deliveries of one broadcast that arrive now, `(dst, data)` in send order, each
        run and counted as the event of its own queue entry would be (`Speedups.
        broadcast_events`); the loop would stop before the next entry once liveness is shown."""
        deliver = self._deliver
        dst, data = arrivals[0]
        deliver(src, dst, data, kind, height, round_)
        for dst, data in arrivals[1:]:
            if self.stopped_early:
                return
            self.events += 1
            deliver(src, dst, data, kind, height, round_)

    def _wake(self, nation: str, token: int) -> None:
        if token != self.wake_token[nation]:
            self.stale_wakes += 1  # replaced by an earlier one, or its node crashed since
            return
        node = self.nodes[nation]
        deadline = node.idle_deadline(self.now)
        if deadline is None and node.hooks is not None:
            deadline = node.next_deadline()
            if deadline is not None and deadline <= self.now:
                deadline = None
        if deadline is not None:
            # A deadline that has since moved later: nothing is due (on_timer would do nothing,
            # no timeout is traced); the node's one wake-up moves to its deadline. A node with
            # hooks is woken only when its deadline, theirs included, has come.
            self._arm_at(nation, deadline)
            return
        self.wake_token[nation] = 0
        self.armed[nation] = None
        for timeout in node.replica.due_timeouts(self.now):
            self.trace.timeout(self.now, nation, timeout.step.name.lower(), timeout.height,
                               timeout.round)
        self._act(nation, node.on_timer(self.now))

    def _submit(self, at: float, rate: float) -> None:
        up = self._up_honest
        if up is None:  # rebuilt after a crash or a boot, not at every submission
            up = self._up_honest = [n for n in self.honest if self.nodes[n] is not None]
        if up:
            nation = self.workload_rng.choice(up)
            self._nonce += 1
            payload = self.workload_rng.randbytes(self.scenario.workload["payload_bytes"])
            tx = Transaction.create(self.genesis.chain_id, self.identities[nation], "payload",
                                    self._nonce, payload)
            self.submitted_at[tx.tx_id] = self.now
            self.trace.submit(self.now, nation, tx.tx_id.hex()[:16])
            self._act(nation, self.nodes[nation].submit(tx, self.now))
        self._schedule_submission(at + self.workload_rng.expovariate(rate))

    def _schedule_submission(self, at: float) -> None:
        """Queue the client submission due at virtual time `at` (a Poisson process), unless the
        stream has ended by then (`[workload] txs_until_tick`)."""
        until = self.scenario.workload.get("txs_until_tick")
        if until is None or at <= until:
            self._push(max(self.now, math.ceil(at)), SUBMIT, at)

    # ------------------------------------------------------------------ a node's actions

    def _act(self, instance: str, actions: list) -> None:
        if not actions or (actions[0].__class__ is Delivered and len(actions) == 1):
            # Most wake-ups: only the next deadline to arm. Most deliveries: the node only
            # reports the message delivered, which the world ignores.
            self._arm(instance)
            return
        nation = self.nation_of[instance]
        # Only a nation with behaviours can be muted: the others skip the look-up.
        muted = nation in self.behaviours and self._active(nation, "mute") is not None
        for action in actions:
            cls = action.__class__
            if cls not in _ACTION_CLASSES:
                cls = _action_class(action)  # a subclass is handled as its base
            if cls is Delivered:
                continue
            if cls is SendAll:
                if muted:
                    self.suppressed += 1
                else:
                    self._send_all(instance, nation, action)
            elif cls is SendTo:
                if muted:
                    self.suppressed += 1
                else:
                    self._route(instance, action.dst, action.data, action.kind, action.height,
                                action.round)
            elif cls is Dropped:
                self.dropped[action.reason] = self.dropped.get(action.reason, 0) + 1
                self.trace.drop(self.now, instance, action.reason, action.kind)
            elif cls is Committed:
                self._on_commit(instance, action)
            elif cls is Misbehaviour:
                ev = action.evidence
                record = {"kind": "equivocation", "nation": ev.voter, "tick": self.now,
                          "seen_by": instance, "height": ev.first.height, "round": ev.first.round,
                          "step": _step_name(ev.first)}
                self.trace.write({"t": self.now, "ev": "evidence", **record})
                key = (ev.voter, ev.first.height, ev.first.round, record["step"])
                if key not in self._evidence_keys:  # the summary lists each offence once
                    self._evidence_keys.add(key)
                    self.evidence.append(record)
        self._arm(instance)

    def _send_all(self, src: str, src_nation: str, action: SendAll) -> None:
        """A broadcast from instance `src`: one send to every other nation, in nation order.

        With `Speedups.broadcast_events`, the sends go through the network one by one as
        without it (the same random draws, drops and trace lines, in the same order), but the
        arrivals are pushed once all are known: one DELIVER_MANY entry per arrival tick, its
        deliveries in send order (a single one stays a DELIVER). Nothing else is pushed while a
        broadcast is sent, so one entry per arrival would have had consecutive seqs: no other
        entry could have run between two of the same tick, and none runs inside a batch."""
        data, kind, height, round_ = action.data, action.kind, action.height, action.round
        if not self.speedups.broadcast_events:
            for dst in self.nations:
                if dst != src_nation:
                    self._route(src, dst, data, kind, height, round_)
            return
        if self.twinned:
            dsts = [d for d in (self._route_to(src, n) for n in self.nations if n != src_nation)
                    if d is not None]
        else:
            dsts = [n for n in self.nations if n != src_nation]
        self._count_sends(src, dsts, data, kind, height)
        by_tick: dict[int, list[tuple[str, bytes]]] = {}  # in the order of the first arrival
        network, nation_of, now = self.network, self.nation_of, self.now
        # _transmit, inlined where it only asks the network (no partition, no wire behaviour)
        direct = not network.partitioned and src_nation not in self.behaviours
        for dst in dsts:
            if direct:
                sent, arrivals = data, network.arrivals(src_nation, nation_of[dst], now)
                if not arrivals:
                    self._drop_net(src, dst, kind, "loss")
            else:
                sent, arrivals = self._transmit(src, dst, data, kind)
            for tick in arrivals:  # two with a duplicate, maybe at one tick
                batch = by_tick.get(tick)
                if batch is None:
                    by_tick[tick] = [(dst, sent)]
                else:
                    batch.append((dst, sent))
        for tick, batch in by_tick.items():
            if len(batch) == 1:
                self._push(tick, DELIVER, src, batch[0][0], batch[0][1], kind, height, round_)
            else:
                self._push(tick, DELIVER_MANY, src, batch, kind, height, round_)

    def _route(self, src: str, dst_nation: str, data: bytes, kind: str, height: int,
               round_: int) -> None:
        """Send from instance `src` to the instance of `dst_nation` that talks to it."""
        dst = self._route_to(src, dst_nation) if self.twinned else dst_nation
        if dst is not None:
            self._send(src, dst, data, kind, height, round_)

    def _route_to(self, src: str, dst_nation: str) -> str | None:
        """The instance of `dst_nation` that instance `src` talks to, or None: the other twin
        of `src` serves that peer."""
        src_nation = self.nation_of[src]
        if src_nation in self.twinned and self._twin_side(src_nation, dst_nation) != src:
            return None
        if dst_nation in self.twinned:
            return self._twin_side(dst_nation, src_nation)
        return dst_nation

    def _send(self, src: str, dst: str, data: bytes, kind: str, height: int, round_: int) -> None:
        self._count_sends(src, (dst,), data, kind, height)
        data, arrivals = self._transmit(src, dst, data, kind)
        for tick in arrivals:
            self._push(tick, DELIVER, src, dst, data, kind, height, round_)

    def _count_sends(self, src: str, dsts: list[str] | tuple[str], data: bytes, kind: str,
                     height: int) -> None:
        """Count a message from instance `src` to each of `dsts`, once for them all, and note
        its send tick per receiver for the space-time diagram."""
        if not dsts:
            return
        self.messages_sent += len(dsts)
        self.sent_by_nation[src] = self.sent_by_nation.get(src, 0) + len(dsts)
        self.bytes_sent += len(data) * len(dsts)
        if (height <= self._spacetime_heights_max and kind != "txs"
                and len(self.spacetime) < SPACETIME_MESSAGES_MAX):
            for dst in dsts:
                self._sent_at.setdefault((src, dst, data), []).append(self.now)  # resends too

    def _transmit(self, src: str, dst: str, data: bytes, kind: str) -> tuple[bytes, list[int]]:
        """Put one counted message on the wire: return the bytes that will arrive (a Byzantine
        sender's may differ from `data`) with their arrival ticks, none if the network drops it
        (traced here). Pushes nothing: the caller queues the arrivals."""
        nation_of, network, now = self.nation_of, self.network, self.now
        src_nation, dst_nation = nation_of[src], nation_of[dst]
        if network.partitioned and network.blocked(src_nation, dst_nation, now):
            self._drop_net(src, dst, kind, "partition")
            return data, []
        arrivals = network.arrivals(src_nation, dst_nation, now)
        if not arrivals:
            self._drop_net(src, dst, kind, "loss")
            return data, arrivals
        if src_nation in self.behaviours:
            data, arrivals = self._misbehave_on_wire(src_nation, data, arrivals)
        return data, arrivals

    def _misbehave_on_wire(self, nation: str, data: bytes, arrivals: list[int]
                           ) -> tuple[bytes, list[int]]:
        corrupt = self._active(nation, "invalid_signature")
        if corrupt is not None and self.behaviour_rng.random() < corrupt.params["rate"]:
            # Flip a bit of the last byte: for signed messages that is the signature.
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        delay = self._active(nation, "delay")
        if delay is not None:
            arrivals = [t + delay.params["ticks"] for t in arrivals]
        return data, arrivals

    def _drop_net(self, src: str, dst: str, kind: str, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self.trace.drop_net(self.now, src, dst, kind, reason)

    def _on_commit(self, nation: str, action: Committed) -> None:
        block = action.committed.block
        self.commits[nation].append((self.now, block.height))
        if action.via == "sync" and nation in self.honest:
            self.coverage["state_sync"] = self.coverage.get("state_sync", 0) + 1
        if self.liveness_heights:
            self._check_stop(block.height)
        self.trace.decide(self.now, nation, block.height, block.block_id.hex()[:16],
                          len(block.txs), action.via)
        if nation not in self.honest:
            return  # Byzantine nodes (and twins) are not judged by the oracles
        first = block.height not in self.safety.canonical
        for violation in self.safety.on_commit(nation, action.committed, self.now,
                                               action.root_before):
            self.trace.write({"t": self.now, "ev": "violation", **violation})
        if first:
            self.canonical_txs[block.height] = len(block.txs)
            for tx in block.txs:
                submitted = self.submitted_at.pop(tx.tx_id, None)
                if submitted is not None and submitted <= self.now:
                    self.latencies_ticks.append(self.now - submitted)
            self.workload.on_canonical(block, action)

    # ------------------------------------------------------------------ results

    def fault_end_tick(self) -> int:
        """GST: the tick the last fault that ends has ended, or 0 when every fault is permanent."""
        ticks_max = self.scenario.ticks_max
        ends = [p.until_tick for p in self.scenario.partitions
                if p.until_tick is not None and p.until_tick <= ticks_max]
        ends += [b.until_tick for b in self.scenario.behaviours
                 if b.until_tick is not None and b.until_tick <= ticks_max]
        return max(ends, default=0)

    def last_fault_tick(self) -> int:
        """The tick the last fault began or ended within the run: GST, or later the start of a
        fault that never ends (a crash for good), after which the nations left must show they
        still commit."""
        ticks_max = self.scenario.ticks_max
        starts = [f.from_tick for f in (*self.scenario.partitions, *self.scenario.behaviours)
                  if f.until_tick is None and f.from_tick <= ticks_max]
        return max([self.fault_end_tick(), *starts])

    def _check_stop(self, height: int) -> None:
        """With [expect] liveness_heights = K, the run ends at the first tick at which every
        nation that is up and honest has committed K heights above the highest height committed
        by GST (as judge_liveness counts it): liveness is then shown, and the rest of the run
        would only repeat it. A fuzzer runs thousands of scenarios; this keeps each one short."""
        if self.now <= self.gst_tick:
            self.height_at_gst = max(self.height_at_gst, height)
            return
        target = self.height_at_gst + self.liveness_heights
        if height < target:
            return
        for n in self.correct_nations():
            history = self.commits[n]
            if not history or history[-1][1] < target or history[-1][0] <= self.gst_tick:
                return
        self.stopped_early = True

    def correct_nations(self) -> list[str]:
        """Nations that are up and honest at the end of the run."""
        return [n for n in self.honest if self.nodes[n] is not None]

    def summary(self) -> RunSummary:
        s = self.scenario
        gst = self.fault_end_tick()
        bound = s.expect["liveness_ticks_max"]
        ticks_run = self.now if self.stopped_early else s.ticks_max
        verdict, liveness_why = liveness_verdict(self.commits, self.correct_nations(), gst,
                                                 bound, ticks_run, self.last_fault_tick(),
                                                 shown=self.stopped_early)
        # None when not judged: the run ended before the window the promise covers.
        liveness_ok = None if verdict == LIVENESS_NOT_JUDGED else verdict == LIVENESS_OK
        # At or above 1/3 Byzantine power the protocol promises nothing: violations are
        # expected. Below it, any violation is a bug.
        expected = 3 * self.byzantine_power_fraction >= 1 - 1e-12
        violations = [dict(v, expected=expected) for v in self.safety.violations]
        violations.extend(dict(v, expected=expected) for v in self._framed())
        safety_ok = not violations
        if verdict == LIVENESS_STALLED:
            violations.append({"kind": "liveness", "reason": liveness_why, "gst_tick": gst,
                               "expected": expected})
        prompt = self._prompt_decisions() if s.expect.get("prompt_decisions") else None
        if prompt is not None:
            violations.extend(dict(v, expected=expected) for v in prompt.late)
        heights = max(self.safety.canonical, default=0)
        txs = sum(self.canonical_txs.values())
        lat = sorted(self.latencies_ticks)
        want_safety = s.expect["safety"]
        unexpected = any(not v["expected"] for v in violations if v["kind"] != "liveness")
        safety_as_expected = (not unexpected) if want_safety == "any" else \
            (safety_ok == want_safety)
        want_liveness = s.expect["liveness"]
        # A run that did not judge liveness cannot meet an [expect] that asks for a verdict.
        expect_ok = safety_as_expected and (want_liveness == "any"
                                             or liveness_ok is want_liveness) and not (
            prompt is not None and prompt.late and not expected)
        return RunSummary(sections=self.workload.summary(), **{
            "scenario": s.name,
            "source": s.source,
            "seed": s.seed,
            "nations": len(self.nations),
            "nations_opted_out": sorted(self.opted_out),
            "byzantine_nations": list(self.byzantine),
            "byzantine_power_fraction": round(self.byzantine_power_fraction, 4),
            "unexpected_violations": unexpected,
            "ticks": s.ticks_max,
            "ticks_run": ticks_run,
            "heights_committed": heights,
            "txs_committed": txs,
            "txs_submitted": self._nonce + self.workload.txs_submitted(),
            "safety_ok": safety_ok,
            "liveness_ok": liveness_ok,
            "liveness": liveness_why,
            "liveness_verdict": verdict,
            "expect": dict(s.expect),
            "expect_ok": expect_ok,
            "violations": violations,
            "evidence": self.evidence,
            "wall_s": round(self.wall_s, 3),
            "txs_per_wall_s": round(txs / self.wall_s, 1) if self.wall_s > 0 else 0.0,
            "txs_per_sim_tick": round(txs / s.ticks_max, 4),
            "messages_sent": self.messages_sent,
            "messages_delivered": self.messages_delivered,
            "messages_dropped": sum(self.dropped.values()),
            "dropped_by_reason": dict(sorted(self.dropped.items())),
            "bytes_sent": self.bytes_sent,
            "latency_ticks_p50": _percentile(lat, 50),
            "latency_ticks_p99": _percentile(lat, 99),
            "signatures": self.signatures.name,
            "signatures_verified": self.verifier.misses,
            "signature_cache_hits": self.verifier.hits,
            "events": self.events,
            "coverage": self._coverage_at_end(),
            "prompt_decisions": None if prompt is None else {
                "applied": prompt.applies, "why": prompt.why, "heights_judged": len(prompt.judged),
                "late": len(prompt.late)},
        })

    def _framed(self) -> list[dict]:
        """Accountability: evidence of equivocation against a nation that is honest and never
        restarted from a wiped disk. Such a nation signs one vote per step and keeps it across
        restarts in its write-ahead record, so evidence against it means a correct node voted
        twice: a bug of the honest protocol, or of what a restart remembers."""
        wiped = {n for b in self.scenario.behaviours
                 if b.kind == BehaviourKind.CRASH and b.params.get("wipe") for n in b.nations}
        return [{"kind": "accountability", "height": e["height"], "tick": e["tick"],
                 "nation": e["nation"],
                 "reason": f"evidence of equivocation against {e['nation']} (round {e['round']} "
                           f"{e['step']}, seen by {e['seen_by']}), an honest nation that never "
                           f"lost its disk"}
                for e in self.evidence if e["nation"] in self.honest and e["nation"] not in wiped]

    def _prompt_decisions(self) -> PromptJudgement:
        """The first-correct-proposer oracle (`oracles.judge_prompt_decisions`) on this run."""
        since = self.last_fault_tick()
        delay, loss = self.network.worst_after(since, self.nations)
        for b in self.scenario.behaviours:  # a slowed nation that stays slow after the faults
            if b.kind == BehaviourKind.DELAY and (b.until_tick is None or b.until_tick > since):
                delay += b.params["ticks"]
        return judge_prompt_decisions(self.safety.rounds, self.commits, self.correct_nations(),
                                      self.byzantine, self.genesis.validators,
                                      self.node_config.timeouts, since, delay, loss)

    def _coverage_at_end(self) -> dict[str, int]:
        """Every protocol event of the run (COVERAGE_EVENTS, then state syncs, evidence and
        crashes at a protocol point), zero included, in a fixed order."""
        counts = dict(self.coverage)
        for node in self.nodes.values():
            replica = getattr(node, "replica", None)
            if replica is not None and _nation(node.me) in self.honest:
                for event, count in replica.coverage.items():
                    counts[event] = counts.get(event, 0) + count
        counts["evidence"] = len(self.evidence)
        return {e: counts.get(e, 0) for e in (*COVERAGE_EVENTS, "state_sync", "evidence",
                                               "crash_point")}


def _reached(at: str, before, record) -> bool:
    """Whether the write-ahead record went from `before` to `record` (a new one) at crash
    point `at`: any write (persist), a new lock (lock), a new precommit of its own (precommit)."""
    if at == "persist":
        return True
    if at == "lock":
        return record.locked_round >= 0 and (
            before is None or (before.height, before.locked_round, before.locked_value_id)
            != (record.height, record.locked_round, record.locked_value_id))
    known = set(before.own_votes) if before is not None else set()
    return any(getattr(v, "step", None) is Step.PRECOMMIT and v not in known
               for v in record.own_votes)  # own_votes holds its proposals too


def _nation(instance: str) -> str:
    return instance.rstrip(TWIN)


_ACTION_CLASSES = frozenset({SendAll, SendTo, Committed, Dropped, Delivered, Misbehaviour})


def _action_class(action) -> type | None:
    """The action class `action` is an instance of (for a subclass), or None: ignored."""
    for cls in (SendAll, SendTo, Committed, Dropped, Misbehaviour, Delivered):
        if isinstance(action, cls):
            return cls
    return None


def _percentile(sorted_values: list[int], pct: int) -> int | None:
    """Nearest-rank percentile; None when there is nothing to rank."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _step_name(message) -> str:
    step = getattr(message, "step", None)
    return step.name.lower() if step is not None else "propose"
