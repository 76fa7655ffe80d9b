"""A world whose network is driven by hand: the stateful test's (and a debugger's) schedule.

`ControlledWorld` is the simulated `World` with one difference: a message that would be put on
the timed queue for delivery is parked in `in_flight` instead, and stays there until the caller
delivers, drops or duplicates it. Everything else still runs on the virtual clock: timeouts and
rebroadcasts (WAKE), client submissions, crashes and restarts fire when `advance(ticks)` moves
the clock past them. The nodes, the consensus core and the oracles are World's own.

    world = build_controlled_world(scenario)   # scenarios/assemble.py
    world.deliver(0)                  # the oldest message in flight arrives now
    world.drop(3)
    world.advance(300)                # timeouts fire; nothing in flight moves
    world.corrupt("MEX")              # from now on MEX equivocates (below 1/3 of the power)
    world.heal()                      # GST: everything in flight and later arrives in time order
    ok, why = world.check_liveness(bound_ticks=20_000)

A message identical to one still in flight on the same link (a node's periodic rebroadcast) is
not added again: the receiver would drop the second copy as a duplicate anyway, and the list
stays as long as the distinct messages. `duplicate(i)` makes a second arrival explicitly.

Messages never arrive late or early by themselves before `heal()`: the schedule is the caller's,
which is what lets hypothesis shrink a failing one to a few steps. `heal()` is the global
stabilisation time: the in-flight messages are put on the queue in the order they were sent
(each at its original arrival tick, or now if that has passed), later ones follow the
scenario's network model, and crashed nations restart.

A corrupted nation is Byzantine from then on: it is taken out of `honest`, so the oracles stop
judging its commits (as for a scenario's Byzantine behaviours), and its node is given the hooks
(nodes/hooks.py) that `corrupt_hooks(behaviour, previous_hooks)` makes: the caller's, since the
kernel knows no behaviour (build_controlled_world passes those of scenarios/faults/assign.py).
`forge(i, mutation)` additionally lets the
caller rewrite, and re-sign with the corrupted nation's key, a message of its in flight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
from dataclasses import dataclass

from consensus import Proposal, Vote
from nodes import Block, decode, kind_of
from nodes.node import encode_message
from nodes.wire.messages import MessageKind, WireError, proposal_signed_bytes, vote_signed_bytes

from scenarios.spec.loader import Behaviour, Scenario
from scenarios.spec.schema import BehaviourKind
from scenarios.sim.oracles import judge_liveness
from scenarios.sim.world import DELIVER, Speedups, World, _nation

CORRUPT_MODES = ("equivocate", "amnesia", "forge")
MUTATIONS = ("round+1", "round-1", "height+1", "height-1", "value")
FLUSH_DELIVERIES_MAX = 10_000


@dataclass(frozen=True, slots=True)
class InFlight:
    """A message on the wire: sent by instance `src` to instance `dst`, not yet delivered.
    `due` is the tick the network model would have delivered it at; `seq` orders the sends."""

    src: str
    dst: str
    data: bytes
    kind: str
    height: int
    round: int
    due: int
    seq: int

    def __str__(self) -> str:
        return f"{self.kind}(h={self.height}, r={self.round}) {self.src}->{self.dst}"


class ControlledWorld(World):
    """See the module docstring. Construct it like a `World`; it boots the nodes at once."""

    def __init__(self, scenario: Scenario, node_hooks=None, corrupt_hooks=None,
                 **kwargs) -> None:
        """`node_hooks` as for `World`; `corrupt_hooks(behaviour, previous) -> NodeHooks` gives
        a nation that `corrupt()` turns Byzantine its hooks (needed for the modes that change
        what a node does, "equivocate" and "amnesia")."""
        self.corrupt_hooks = corrupt_hooks
        self._corrupt_behaviours: dict[str, Behaviour] = {}
        self.in_flight: list[InFlight] = []
        self._flying: set[tuple[str, str, bytes]] = set()  # (src, dst, data) in flight
        self.coalesced = 0
        self.healed_at: int | None = None
        self.corrupted: dict[str, str] = {}  # nation -> mode
        self.log: list[str] = []  # what the caller did, for a failure's story
        self._flight_seq = 0
        # Each message is parked by itself (`_push`, `_send`), so a broadcast is never batched
        # into one queue entry.
        speedups = dataclasses.replace(kwargs.pop("speedups", Speedups()), broadcast_events=False)
        self._scenario_hooks = node_hooks
        super().__init__(scenario, node_hooks=self._hooks_of, speedups=speedups, **kwargs)
        self._start()

    # ------------------------------------------------------------------ the clock

    def _hooks_of(self, nation: str, genesis):
        """A corrupted nation restarts with its Byzantine hooks; the others as the scenario
        says."""
        behaviour = self._corrupt_behaviours.get(nation)
        if behaviour is not None:
            return self.corrupt_hooks(behaviour, None)
        return self._scenario_hooks(nation, genesis) if self._scenario_hooks else None

    def _start(self) -> None:
        """What `World.run()` does before its loop; restarts are scheduled whatever their tick,
        since a controlled run has no fixed end."""
        self.begin(restarts_until=None)

    def _push(self, tick: int, kind: int, *payload) -> None:
        if kind == DELIVER and self.healed_at is None:
            src, dst, data, kind_name, height, round_ = payload
            if (src, dst, data) in self._flying:
                self.coalesced += 1  # a rebroadcast of a message still in flight
                return
            self._flying.add((src, dst, data))
            self._flight_seq += 1
            self.in_flight.append(InFlight(src, dst, data, kind_name, height, round_, tick,
                                           self._flight_seq))
            return
        super()._push(tick, kind, *payload)

    def _send(self, src: str, dst: str, data: bytes, kind: str, height: int, round_: int
              ) -> None:
        if self.healed_at is None and (src, dst, data) in self._flying:
            # A rebroadcast of a message still in flight: skip the network model's draws.
            self.coalesced += 1
            self.messages_sent += 1
            self.bytes_sent += len(data)
            return
        super()._send(src, dst, data, kind, height, round_)

    def run(self, progress=None) -> dict:
        raise RuntimeError("a ControlledWorld is driven step by step: deliver(), advance(), "
                           "heal(); it has no run()")

    def advance(self, ticks: int) -> int:
        """Move the clock `ticks` forward, firing every timeout, submission, crash and restart
        due by then (and, after `heal()`, every delivery). Returns the number of events run."""
        if ticks < 0:
            raise ValueError("time does not go backwards")
        self.log.append(f"t={self.now} advance {ticks}")
        return self._run_until(self.now + ticks)

    def _run_until(self, target: int) -> int:
        ran = 0
        queue = self._queue
        while queue and queue[0][0] <= target:
            tick, _, kind, payload = heapq.heappop(queue)
            self.now = max(self.now, tick)
            self.events += 1
            ran += 1
            self._dispatch(kind, payload)
        self.now = target
        return ran

    # ------------------------------------------------------------------ the network, by hand

    def _take(self, i: int) -> InFlight:
        if not self.in_flight:
            raise IndexError("no message in flight")
        m = self.in_flight.pop(i)
        self._flying.discard((m.src, m.dst, m.data))
        return m

    def deliver(self, i: int) -> InFlight:
        """Message `i` of `in_flight` arrives now (and leaves the list)."""
        m = self._take(i)
        self.log.append(f"t={self.now} deliver {m}")
        self._deliver(m.src, m.dst, m.data, m.kind, m.height, m.round)
        return m

    def drop(self, i: int) -> InFlight:
        """Message `i` is lost."""
        m = self._take(i)
        self.log.append(f"t={self.now} drop {m}")
        self._drop_net(m.src, m.dst, m.kind, "controlled")
        return m

    def duplicate(self, i: int) -> InFlight:
        """A copy of message `i` arrives now; the original stays in flight and can arrive (or
        be dropped) later, so the receiver sees it twice."""
        m = self.in_flight[i]
        self.log.append(f"t={self.now} duplicate {m}")
        self._deliver(m.src, m.dst, m.data, m.kind, m.height, m.round)
        return m

    def deliver_among(self, nations, heights: int | None = 1,
                      limit: int = FLUSH_DELIVERIES_MAX) -> int:
        """`deliver_within` with one group: messages to or from the others stay in flight."""
        return self.deliver_within([nations], heights, limit)

    def deliver_within(self, groups, heights: int | None = 1,
                       limit: int = FLUSH_DELIVERIES_MAX) -> int:
        """A round of a partitioned network: deliver, oldest first, every message in flight
        whose sender and receiver are in one group of `groups`, and those the deliveries
        cause, until none is left (or `limit` arrived). Messages across groups stay in flight.

        With `heights`, a group moves at most that many heights on: messages for heights above
        the highest height a member had committed when the round began, plus `heights`, stay in
        flight for a later round (otherwise a group holding a quorum would commit height after
        height at one tick). Returns how many messages arrived."""
        side = {n: i for i, group in enumerate(groups) for n in group}
        ceiling = {}
        for i, group in enumerate(groups):
            committed = [self.nodes[inst].ledger.height for n in group
                         for inst in self._instances_of(n) if self.nodes.get(inst) is not None]
            ceiling[i] = (max(committed, default=0) + heights) if heights is not None else None
        group_of: dict[tuple[str, str], int | None] = {}
        self.log.append(f"t={self.now} deliver within "
                        f"{' | '.join(','.join(sorted(g)) for g in groups)}")
        done = 0
        while done < limit:
            # One pass takes every matching message; those its deliveries cause are newer than
            # all of them, so the next pass sees them in order: oldest first throughout.
            batch, rest = [], []
            for m in self.in_flight:
                pair = (m.src, m.dst)
                if pair not in group_of:
                    s = side.get(_nation(m.src))
                    group_of[pair] = s if s is not None and s == side.get(_nation(m.dst)) \
                        else None
                s = group_of[pair]
                top = ceiling.get(s)
                if s is not None and (top is None or m.height <= top):
                    batch.append(m)
                else:
                    rest.append(m)
            if not batch:
                break
            self.in_flight = rest
            for j, m in enumerate(batch):
                if done == limit:
                    self.in_flight = sorted(self.in_flight + batch[j:], key=_by_seq)
                    break
                self._flying.discard((m.src, m.dst, m.data))
                self._deliver(m.src, m.dst, m.data, m.kind, m.height, m.round)
                done += 1
        return done

    def rounds(self, groups, count: int, ticks: int, heights: int | None = 1) -> None:
        """`count` rounds of a network split into `groups` (as in Twins): each round, the
        messages within each group arrive (`deliver_within`), then the clock moves `ticks` on
        and timeouts fire."""
        for _ in range(count):
            self.deliver_within(groups, heights)
            self.advance(ticks)

    def heal(self) -> None:
        """GST: from now on every message is delivered in time order, by the network model;
        the messages in flight are queued in the order they were sent, each at its arrival
        tick or now, whichever is later; crashed nations restart."""
        if self.healed_at is not None:
            return
        self.healed_at = self.now
        self.log.append(f"t={self.now} heal")
        for instance in self.instances:
            if self.nodes[instance] is None:
                self._restart(_nation(instance))
        pending, self.in_flight = sorted(self.in_flight, key=_by_seq), []
        self._flying.clear()
        for m in pending:
            World._push(self, max(m.due, self.now), DELIVER, m.src, m.dst, m.data, m.kind,
                        m.height, m.round)

    # ------------------------------------------------------------------ faults

    def crash(self, nation: str) -> None:
        """`nation` stops now; it keeps its disk. `restart` (or `heal`) brings it back."""
        self.log.append(f"t={self.now} crash {nation}")
        self._crash(nation)

    def restart(self, nation: str) -> None:
        self.log.append(f"t={self.now} restart {nation}")
        self._restart(nation)

    def byzantine_power(self, extra: str | None = None) -> tuple[int, int]:
        """(Byzantine power, total power), counting `extra` as Byzantine too."""
        power = dict(self.scenario.nations)
        members = set(self.byzantine) | ({extra} if extra else set())
        return sum(power[n] for n in members), sum(power[n] for n in self.nations)

    def can_corrupt(self, nation: str) -> bool:
        """Whether `nation` is honest and corrupting it keeps the Byzantine power below 1/3."""
        if nation not in self.honest:
            return False
        byz, total = self.byzantine_power(nation)
        return 3 * byz < total

    def corrupt(self, nation: str, mode: str = "equivocate") -> None:
        """From now on `nation` is Byzantine: it leaves the honest set (the oracles no longer
        judge it), and with mode
        - "equivocate": its node signs two versions of every consensus message and sends both
          to every peer (equivocate's hooks, noisy mode); the schedule decides who sees which;
        - "amnesia": its node forgets its lock after every step (amnesia's hooks);
        - "forge": its node stays as it was; only `forge()` makes it lie.
        Refused (ValueError) if the Byzantine power would reach 1/3."""
        if mode not in CORRUPT_MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {CORRUPT_MODES}")
        if mode != "forge" and self.corrupt_hooks is None:
            raise ValueError(f"mode {mode!r} needs the world built with corrupt_hooks "
                             "(scenarios.assemble.build_controlled_world)")
        if nation not in self.nations:
            raise ValueError(f"{nation} is not a member")
        if nation not in self.honest:
            raise ValueError(f"{nation} is Byzantine already")
        if not self.can_corrupt(nation):
            byz, total = self.byzantine_power(nation)
            raise ValueError(f"corrupting {nation} would give the Byzantine nations {byz} of "
                             f"{total} power, not below 1/3")
        self.log.append(f"t={self.now} corrupt {nation} ({mode})")
        self.corrupted[nation] = mode
        self.byzantine = tuple(sorted(set(self.byzantine) | {nation}))
        self.honest = tuple(n for n in self.honest if n != nation)
        power = dict(self.scenario.nations)
        self.byzantine_power_fraction = (sum(power[n] for n in self.byzantine)
                                         / sum(power[n] for n in self.nations))
        if mode == "forge":
            return
        kind = BehaviourKind.EQUIVOCATE if mode == "equivocate" else BehaviourKind.AMNESIA
        behaviour = Behaviour((nation,), kind, self.now, None,
                              {"mode": "noisy"} if kind == BehaviourKind.EQUIVOCATE else {})
        # A restart boots with the Byzantine hooks by itself (_hooks_of).
        self.behaviours.setdefault(nation, []).append(behaviour)
        self._corrupt_behaviours[nation] = behaviour
        for instance in self._instances_of(nation):
            node = self.nodes[instance]
            if node is not None:
                node.use_hooks(self.corrupt_hooks(behaviour, node.hooks))

    def forge(self, i: int, mutation: str) -> InFlight | None:
        """Add to `in_flight` a rewritten copy of consensus message `i`, whose sender must be
        corrupted, signed with the sender's key and bound for the same peer. `mutation` is one
        of MUTATIONS; "value" swaps a vote's value (nil <-> a block proposed at that height) or
        gives a proposal a different block. Returns the new entry, or None when the mutation
        does not apply (the original stays in flight either way)."""
        if mutation not in MUTATIONS:
            raise ValueError(f"unknown mutation {mutation!r}; use one of {MUTATIONS}")
        m = self.in_flight[i]
        nation = _nation(m.src)
        if nation not in self.corrupted:
            raise ValueError(f"{nation} is not corrupted: only a Byzantine nation's key signs "
                             "forgeries")
        try:
            message = decode(self.genesis.chain_id, m.data)
        except WireError:
            return None
        if not isinstance(message, (Proposal, Vote)):
            return None
        forged = self._mutate(message, mutation)
        if forged is None:
            return None
        identity = self.identities[nation]
        if isinstance(forged, Proposal):
            forged = _with_signature(forged, identity.sign(
                proposal_signed_bytes(self.genesis.chain_id, forged)))
        else:
            forged = _with_signature(forged, identity.sign(
                vote_signed_bytes(self.genesis.chain_id, forged)))
        data = encode_message(forged)
        if (m.src, m.dst, data) in self._flying:
            return None
        self._flying.add((m.src, m.dst, data))
        self._flight_seq += 1
        entry = InFlight(m.src, m.dst, data, kind_of(forged), forged.height, forged.round,
                         m.due, self._flight_seq)
        self.in_flight.append(entry)
        self.log.append(f"t={self.now} forge {mutation} of {m}")
        return entry

    def _mutate(self, message: Proposal | Vote, mutation: str) -> Proposal | Vote | None:
        h, r = message.height, message.round
        if mutation == "round+1":
            r += 1
        elif mutation == "round-1":
            r -= 1
        elif mutation == "height+1":
            h += 1
        elif mutation == "height-1":
            h -= 1
        if h < 1 or r < 0:
            return None
        if isinstance(message, Proposal):
            block = message.value
            if mutation == "value" or h != block.height:
                block = Block.build(h, block.prev_hash, block.proposer, block.time_ticks + 1,
                                    block.txs, block.app_hash)
            return Proposal(h, r, block, block.block_id, min(message.valid_round, r - 1),
                            message.proposer)
        value_id = message.value_id
        if mutation == "value":
            others = [b for b in self._proposed_ids(h) if b != value_id]
            if value_id is not None:
                value_id = None
            elif others:
                value_id = others[0]
            else:
                value_id = hashlib.sha256(b"forged" + message.voter.encode()).digest()
        return Vote(message.step, h, r, value_id, message.voter)

    def _proposed_ids(self, height: int) -> list[bytes]:
        """Ids of the blocks proposed at `height` by the proposals now in flight, oldest first."""
        out: list[bytes] = []
        for m in self.in_flight:
            if m.kind != MessageKind.PROPOSAL or m.height != height:
                continue
            try:
                p = decode(self.genesis.chain_id, m.data)
            except WireError:
                continue
            if p.value_id not in out:
                out.append(p.value_id)
        return out

    # ------------------------------------------------------------------ the oracles

    @property
    def violations(self) -> list[dict]:
        """Every safety violation (agreement, validity, integrity) among the honest nations."""
        return self.safety.violations

    def violations_of(self, *kinds: str) -> list[dict]:
        return [v for v in self.safety.violations if v["kind"] in kinds]

    def heights(self) -> dict[str, int]:
        """Each up instance's committed height."""
        return {n: node.ledger.height for n, node in self.nodes.items() if node is not None}

    def check_liveness(self, bound_ticks: int, step_ticks: int = 50) -> tuple[bool, str]:
        """After `heal()`: run until every up, honest nation has committed a height above the
        highest one committed by GST, or `bound_ticks` have passed; then judge as the scenario
        oracle does (`judge_liveness`), with GST the heal tick."""
        if self.healed_at is None:
            raise RuntimeError("liveness is only promised after heal()")
        gst = self.healed_at
        deadline = gst + bound_ticks
        while True:
            verdict = judge_liveness(self.commits, self.correct_nations(), gst, bound_ticks,
                                     self.now)
            if verdict[0] or self.now >= deadline:
                return verdict
            self._run_until(min(self.now + step_ticks, deadline))


def _by_seq(m: InFlight) -> int:
    return m.seq


def _with_signature(message, signature: bytes):
    if isinstance(message, Proposal):
        return Proposal(message.height, message.round, message.value, message.value_id,
                        message.valid_round, message.proposer, signature)
    return Vote(message.step, message.height, message.round, message.value_id, message.voter,
                signature)
