"""Adversaries built to expose broken protocols: forged votes, forged state sync, and a fork.

Each is a Byzantine behaviour kind (`schema.BEHAVIOURS`, `schema.BYZANTINE_KINDS`, registered in
`behaviours.HOOKS`) whose hooks (nodes/hooks.py) change what its node sends, so the fuzzer's strategies draw it like any other. Below 1/3 of the
power each leaves the honest protocol safe and live (`forge_sync` without pushing is how
finding D of tests/regressions/ was found: a lagging nation asked only one peer for blocks);
tests/scenarios/test_mutants.py checks both. Each is deadly to one
or more of the mutants of `scenarios/faults/mutants.py`:

- `ForgeVotesHooks` (`forge_votes`) sends, each round, a proposal for a block of its own in the
  next round's proposer's name and precommits for it in every validator's name, all with
  invalid signatures; two different blocks to the two halves of its peers. Honest nodes drop
  them (bad_signature); a node that does not check signatures decides them.
- `ForgeSyncHooks` (`forge_sync`) answers state-sync requests with fabricated blocks under
  forged, empty, stolen or own-signed certificates, and after each commit pushes the
  block it committed (with its true certificate) and a fabricated next block to every peer. Honest nodes drop the
  fabrication (bad_certificate); a node that skips the certificate check commits it.
- `ForkHooks` (`fork`) is a coalition that tries to make two honest nations decide different
  values, with the classic split of Tendermint's safety proof: see `ForkCoalition`.
- `InvalidBlockHooks` (`invalid_block`) proposes, as proposer, a block that breaks one check of
  valid() (`params.check`, a name of nodes.node.VALIDITY_CHECKS) and passes every other. Honest
  nodes prevote nil on it; a node that skips that check decides it, and the oracles (or its
  own ledger) catch the block. Each `no_<check>_check` mutant is its prey.

Like the rest of the world, everything here is deterministic: no random stream is drawn, and
the coalition's state is made by faults, once per world (`base.Shared`), and shared by all of
its `fork` nations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from consensus import Proposal, Step, TimeoutConfig, Vote
from nodes import Block, CommittedBlock, Node, SendTo, Transaction, kind_of
from nodes.chain.identity import Identity
from nodes.node import VALIDITY_CHECKS, Delivered, encode_message
from nodes.wire.messages import (
    SYNC_BLOCKS_MAX,
    proposal_signed_bytes,
    vote_signed_bytes,
)

from scenarios.faults.base import BehaviourHooks

CERTIFICATE_MODES = ("forged", "empty", "stolen", "own")
FORK_MODES = ("lock_quorum", "prevote_victim", "lock_one", "lock_quorum_fake")
PLANS_KEPT_HEIGHTS = 4
PLAN_ROUND_MAX = 2  # plans open only in the first rounds of a height
SHOW_EVERY_TICKS = 500  # after a relent, how often the coalition shows its votes again
SHOWS_MAX = 16


def forged_signature(*parts: object) -> bytes:
    """64 bytes that look like an Ed25519 signature and verify under no key."""
    return hashlib.sha512(b"forged" + repr(parts).encode()).digest()


def _halves(names: list[str]) -> tuple[list[str], list[str]]:
    ordered = sorted(names)
    cut = (len(ordered) + 1) // 2
    return ordered[:cut], ordered[cut:]


def _fresh_block(node: Node, height: int, proposer: str, bump: int) -> Block:
    """A valid block at `height` on the node's tip with no transactions; `bump` ticks later
    than now makes it a different block from any other built this tick."""
    time_ticks = max(node.now_ticks, node.ledger.tip_time_ticks) + bump
    return Block.build(height, node.ledger.tip_hash, proposer, time_ticks, (),
                       node.chaincode.state.root)


def _vote_key(key: tuple) -> tuple:
    step, round_, value_id, voter = key
    return int(step), round_, value_id or b"", voter


def _send(out: list, dst: str, message) -> None:
    out.append(SendTo(dst, encode_message(message), kind_of(message), message.height,
                      message.round))


# ---------------------------------------------------------------- forge_votes


class ForgeVotesHooks(BehaviourHooks):
    def __init__(self, behaviour, shared=None) -> None:
        super().__init__(behaviour, shared)
        self.forged_rounds: set[tuple[int, int]] = set()

    def emit(self, node, signed, out) -> None:
        node.send(signed, out)
        if not self.behaviour.active(node.now_ticks):
            return
        h, r = signed.height, signed.round + 1
        forged = self.forged_rounds
        if (h, r) in forged or h != node.ledger.height + 1:
            return
        forged.add((h, r))
        for key in [k for k in forged if k[0] < h]:
            forged.discard(key)
        proposer = node.validators.proposer(h, r)
        peers = list(node.peers)
        for side, group in enumerate(_halves(peers)):
            block = _fresh_block(node, h, proposer, 1 + side)
            messages = [Proposal(h, r, block, block.block_id, -1, proposer,
                                 forged_signature(h, r, block.block_id, proposer))]
            messages += [Vote(Step.PRECOMMIT, h, r, block.block_id, voter,
                              forged_signature(h, r, block.block_id, voter))
                         for voter in node.validators.voters]
            for peer in group:
                for message in messages:
                    _send(out, peer, message)


# ---------------------------------------------------------------- forge_sync


class ForgeSyncHooks(BehaviourHooks):
    def _fabricate(self, node, height: int) -> CommittedBlock | None:
        """A block at `height` that extends the chain every honest node has below it, but was
        never decided, with the certificate params.certificate asks for."""
        known = node.ledger.get(height)
        if known is not None:
            real = known.block
            block = Block.build(height, real.prev_hash, real.proposer, real.time_ticks + 1, (),
                                real.app_hash)
        elif height == node.ledger.height + 1:
            block = _fresh_block(node, height, node.me, 1)
        else:
            return None
        mode = self.behaviour.params.get("certificate", "forged")
        if mode == "empty":
            certificate: tuple = ()
        elif mode == "stolen" and node.ledger.get(height - 1) is not None:
            # Real precommits, for the block below: each one's signature fails for this block.
            certificate = tuple(Vote(Step.PRECOMMIT, height, v.round, block.block_id, v.voter,
                                     v.signature)
                                for v in node.ledger.get(height - 1).certificate)
        elif mode == "own":
            # One genuine precommit for the fabrication, the forger's own: short of 2/3.
            certificate = (node.sign(Vote(Step.PRECOMMIT, height, 0, block.block_id, node.me)),)
        else:
            certificate = tuple(Vote(Step.PRECOMMIT, height, 0, block.block_id, voter,
                                     forged_signature(height, block.block_id, voter))
                                for voter in node.validators.voters)
        return CommittedBlock(block, certificate)

    def answer_sync(self, node, request, out) -> None:
        if not self.behaviour.active(node.now_ticks) or not node.knows(request.requester):
            return node.answer_sync(request, out)
        out.append(Delivered("sync_request", request.requester, request.from_height, 0))
        fabricated = self._fabricate(node, request.from_height)
        if fabricated is None:
            return
        # The true blocks below the fabrication are not needed: the requester asked from its
        # own next height.
        out.append(SendTo(request.requester, node.sync_response([fabricated]),
                          "sync_response", request.from_height, 0))

    def after_commit(self, node, committed, via, out) -> None:
        if not self.behaviour.active(node.now_ticks) or not self.behaviour.params.get("push", True):
            return
        fabricated = self._fabricate(node, node.ledger.height + 1)
        if fabricated is None:
            return
        blocks = [committed, fabricated][-SYNC_BLOCKS_MAX:]
        data = node.sync_response(blocks)
        for peer in node.peers:
            out.append(SendTo(peer, data, "sync_response", committed.block.height, 0))


# ---------------------------------------------------------------- invalid_block


def invalid_block(node: Node, block: Block, check: str) -> Block | None:
    """`block` (the honest one `node` built) changed to fail `check` of valid() and pass the
    checks before it, or None when that cannot be done at this height (no block below to go
    back in time from, no committed transaction to repeat)."""
    tip_time = node.ledger.tip_time_ticks
    height, prev, proposer, time_ticks = block.height, block.prev_hash, block.proposer, \
        block.time_ticks
    txs, app_hash = block.txs, block.app_hash
    if check == "prev_hash":
        prev = hashlib.sha256(b"not the tip" + prev).digest()
    elif check == "proposer":
        proposer = "XXX"  # not a genesis nation (codes are real ISO codes; XXX is none)
    elif check == "app_hash":
        app_hash = hashlib.sha256(b"another state" + app_hash).digest()
    elif check == "time":
        if tip_time < 1:
            return None
        time_ticks = tip_time - 1
    elif check == "duplicate_tx":
        tx = txs[0] if txs else _own_tx(node)
        txs = (tx, tx) + txs[1:]
    elif check == "committed_tx":
        committed = next((b for b in _blocks_down(node) if b.block.txs), None)
        if committed is None:
            return None
        txs = (committed.block.txs[0],) + txs
    elif check == "tx_signature":
        tx = txs[0] if txs else _own_tx(node)
        bad = bytes([tx.signature[0] ^ 0x01]) + tx.signature[1:]
        txs = (Transaction(tx.kind, tx.signer, tx.nonce, tx.payload, bad, tx.tx_id),) + txs[1:]
    else:
        raise ValueError(f"no check named {check!r}")
    return Block.build(height, prev, proposer, time_ticks, txs, app_hash)


def _own_tx(node: Node) -> Transaction:
    """A transaction the Byzantine nation signs as itself: a payload no one else sent."""
    return Transaction.create(node.chain_id, node.identity, "payload",
                              2**62 + node.ledger.height, b"invalid_block")


def _blocks_down(node: Node):
    for h in range(node.ledger.height, 0, -1):
        yield node.ledger.get(h)


class InvalidBlockHooks(BehaviourHooks):
    """`invalid_block`: see the module docstring. With `check = "cycle"` (the default) each
    proposal breaks the next check in turn (from a start drawn by a hash of the nation), or the
    next after it that can be broken at this height, so one scenario exercises several. When no check can be broken
    (a block below is needed first), it proposes the honest block.

    It also votes for its own invalid block: its replica judges the block with this node's
    honest valid() and would prevote and precommit nil, so each nil vote of a round it broke a
    block in goes out re-signed for that block instead. And it submits one valid transaction
    of its own after its first commit, if no block so far held one, so that a transaction is
    committed for it to repeat (`committed_tx`) even under no workload."""

    def __init__(self, behaviour, shared=None) -> None:
        super().__init__(behaviour, shared)
        self.broken: dict[tuple[int, int], bytes] = {}  # (height, round) -> the block's id
        self.seeded = False
        self.turn = 0  # broken proposals so far (check = "cycle")

    def after_commit(self, node, committed, via, out) -> None:
        if self.seeded or not self.behaviour.active(node.now_ticks):
            return
        self.seeded = True
        if next((b for b in _blocks_down(node) if b.block.txs), None) is None:
            out.extend(node.submit(_own_tx(node), node.now_ticks))

    def build_block(self, node, height: int) -> Block:
        block = node.build_block(height)
        if not self.behaviour.active(node.now_ticks):
            return block
        check = self.behaviour.params.get("check", "cycle")
        if check == "cycle":
            # Each broken proposal takes the next check in turn, from a start drawn by a hash
            # of the nation: a scenario's few proposals meet as many checks as they can, and
            # (height + round) would tie the checks to the nation's place in proposer order.
            first = int.from_bytes(hashlib.sha256(node.me.encode()).digest()[:4], "big")
            checks = tuple(VALIDITY_CHECKS[(first + self.turn + i) % len(VALIDITY_CHECKS)]
                           for i in range(len(VALIDITY_CHECKS)))
        else:
            checks = (check,)
        for name in checks:
            broken = invalid_block(node, block, name)
            if broken is not None:
                self.turn += 1
                for key in [k for k in self.broken if k[0] < height]:
                    del self.broken[key]
                self.broken[(height, node.replica.round)] = broken.block_id
                return broken
        return block

    def emit(self, node, signed, out) -> None:
        block_id = self.broken.get((signed.height, signed.round))
        if (block_id is not None and isinstance(signed, Vote) and signed.value_id is None
                and self.behaviour.active(node.now_ticks)):
            signed = node.sign(Vote(signed.step, signed.height, signed.round, block_id,
                                    signed.voter))
        node.send(signed, out)


# ---------------------------------------------------------------- fork


@dataclass
class ForkPlan:
    """One attempt at one height. `for_victim` are the coalition's votes for `a` in round r0
    kept back to be shown to the victim alone (release); `withheld` is every vote it cast at
    this height, all shown to all at the relent."""

    height: int
    r0: int
    mode: str
    a: Block
    b: Block
    h1: tuple[str, ...]
    h2: tuple[str, ...]
    victim: str
    fake_round: int | None  # lock_quorum_fake: the coalition's next proposing round
    relent_round: int
    relent_tick: int
    stage: str = "split"  # -> "released" / "voted" -> "over"
    shown_round: int = -1  # the last round at which the withheld votes were shown to all
    next_show_tick: int = 0  # after the relent: when to show them again
    shows: int = 0
    withheld: dict = field(default_factory=dict)  # (step, round, value, voter) -> Vote
    for_victim: list = field(default_factory=list)
    c_rounds: set = field(default_factory=set)
    helped: set = field(default_factory=set)  # rounds voted for after the relent


class ForkCoalition:
    """The shared mind of the `fork` nations of one world.

    Safety of Tendermint rests on lock rules (lines 22, 28 and 36) and on quorums that meet in
    an honest node. The coalition, holding less than 1/3 of the power, plays the split that the
    safety proof rules out, and waits for a broken rule to let it through. When one of its
    members proposes a fresh value early in a height (round r0 <= PLAN_ROUND_MAX) it makes a
    plan, in one of four modes (params.mode, or in turn; lock_one only when the behaviour has
    an end, since a stall is judged only once every fault is over, and lock_quorum_fake
    whenever the coalition's next turn to propose allows it, by turns with lock_one):

    - `lock_quorum`: block `a` to a group H1 of honest nations just big enough that H1 plus the
      coalition is a quorum, block `b` to the rest (H2, chosen among the next proposers). The
      coalition prevotes `a` to H1 only, so H1 alone sees the polka and locks; its precommits
      for `a` go to one victim in H1, which decides `a`. The next proposer, in H2, proposes a
      fresh value and the coalition votes for it: honest H1 nations stay locked on `a`; a
      protocol that ignores its lock (no_locking) decides the fresh value.
    - `lock_quorum_fake`: as lock_quorum, but H2 holds every proposer up to the coalition's next
      round, where a member proposes a fresh value claiming a valid_round it never had, and
      only then is the victim shown its decision. Honest nations wait for the polka behind
      that valid_round; unlock_on_higher_round believes the claim.
    - `prevote_victim`: the coalition withholds its prevotes for `a`, so nobody locks; once the
      round is over it shows them (and its precommits) to the victim alone. A protocol that
      decides on prevotes (commit_on_prevotes) decides `a` there and the fresh value elsewhere.
    - `lock_one`: only the victim sees the polka for `a` and locks (so do the members' own
      nodes); the coalition then votes fresh values into a polka, without precommitting and
      without showing the victim, until an honest nation locks on one, and stays silent at
      that height. Honest nations unlock the victim with line 28 and decide; a protocol
      without line 28 (ignore_valid_round), or whose locked proposers drop their valid value
      (proposer_ignores_lock), stalls there for good.

    A plan that has not ended by `relent_round` (or `relent_tick`, or when the window closes)
    shows every vote the coalition cast at that height to every honest nation, again at each
    new round, and from then on votes for what is proposed (`help`): the honest protocol then
    decides, so the coalition never costs the honest nations more than a few rounds. Outside
    a plan's height the members behave honestly, but for two tricks aimed at nations that a
    lossy network left behind: `rogue_reproposal` (a member that should propose its valid
    value again proposes a fresh one) and `after_decision` (once a member decides, fresh
    proposals for the later rounds of that height, for whoever missed the decision).
    """

    def __init__(self, genesis) -> None:
        self.chain_id = genesis.chain_id
        self.validators = genesis.validators
        self.identities: dict[str, Identity] = {}
        self.nodes: dict[str, Node] = {}  # the members' nodes, for lock_one
        self.plans: dict[int, ForkPlan] = {}
        self.tried: dict[str, int] = {}  # plans made, per mode
        self.passed: set[tuple[int, int]] = set()  # (height, round) proposals already sent
        self.decided: set[int] = set()  # heights a member decided (after_decision ran)

    # ------------------------------------------------------------ signing for any member

    def vote(self, step: Step, height: int, round_: int, value_id, voter: str) -> Vote:
        unsigned = Vote(step, height, round_, value_id, voter)
        sig = self.identities[voter].sign(vote_signed_bytes(self.chain_id, unsigned))
        return Vote(step, height, round_, value_id, voter, sig)

    def proposal(self, height: int, round_: int, block: Block, valid_round: int,
                 proposer: str) -> Proposal:
        unsigned = Proposal(height, round_, block, block.block_id, valid_round, proposer)
        sig = self.identities[proposer].sign(proposal_signed_bytes(self.chain_id, unsigned))
        return Proposal(height, round_, block, block.block_id, valid_round, proposer, sig)

    def votes(self, step: Step, height: int, round_: int, value_id) -> list[Vote]:
        return [self.vote(step, height, round_, value_id, m) for m in sorted(self.identities)]

    # ------------------------------------------------------------ planning

    def plan(self, proposal: Proposal, members: frozenset[str], wanted: str = "cycle",
             now: int = 0, timeouts: TimeoutConfig | None = None,
             stalls_count: bool = True) -> ForkPlan | None:
        """A plan for the height of `proposal`, a member's fresh proposal, or None. In "cycle"
        mode `stalls_count` says whether a stall would be noticed: a fault that never ends
        promises no liveness, so lock_one, which aims at a stall, is then left out, and
        otherwise it goes first."""
        v = self.validators
        h, r0 = proposal.height, proposal.round
        timeouts = timeouts or TimeoutConfig()
        honest = [x for x in v.voters if x not in members]
        coalition_power = sum(v.power(m) for m in self.identities)
        if not honest or coalition_power == 0:
            return None
        if sum(v.power(x) for x in honest) + coalition_power != v.total_power:
            return None  # a member has not booted: it can neither vote nor be counted on
        room = v.total_power - v.quorum_power  # the power H2 may hold
        upcoming: list[str] = []  # honest proposers after r0, up to the coalition's next round
        fake_round = None
        for k in range(1, v.total_power + 1):
            p = v.proposer(h, r0 + k)
            if p in members:
                fake_round = r0 + k
                break
            if p not in upcoming:
                upcoming.append(p)
        # The least tried mode that can work here (lock_quorum_fake needs every honest
        # proposer before the coalition's next round in H2), the first in FORK_MODES on a tie.
        fake_ok = fake_round is not None and sum(v.power(p) for p in upcoming) <= room
        if wanted != "cycle":
            if wanted == "lock_quorum_fake" and not fake_ok:
                return None
            mode = wanted
        elif fake_ok:
            # Rarely possible: never let the chance go by, but take turns with lock_one when a
            # stall would count. A coalition that can fake is a pair of proposers in a row,
            # which the strategies draw most often: always faking there made lock_one (the
            # split that exposes ignore_valid_round) rare. Ties go to the mode the block picks.
            pair = ["lock_quorum_fake"] + (["lock_one"] if stalls_count else [])
            start = proposal.value_id[0] % len(pair)
            order = pair[start:] + pair[:start]
            mode = min(order, key=lambda m: (self.tried.get(m, 0), order.index(m)))
        else:
            # The least tried mode; ties go round from a place the block picks, so that
            # short runs, which see one or two plans, do not all open with the same mode.
            others = [m for m in FORK_MODES if m not in ("lock_quorum_fake", "lock_one")]
            start = proposal.value_id[0] % len(others)
            order = (["lock_one"] if stalls_count else []) + others[start:] + others[:start]
            mode = min(order, key=lambda m: (self.tried.get(m, 0), order.index(m)))
        self.tried[mode] = self.tried.get(mode, 0) + 1
        # H2 takes the next proposers first (so that a fresh value comes soon), then anyone,
        # until H1 holds just what a quorum needs besides the coalition.
        h2: list[str] = []
        for p in upcoming + sorted(honest):
            if p not in h2 and sum(v.power(x) for x in h2) + v.power(p) <= room:
                h2.append(p)
        h1 = [x for x in honest if x not in h2]
        if not h1 or sum(v.power(x) for x in h1) + coalition_power < v.quorum_power:
            return None  # (no H1: the coalition holds a quorum alone, 1/3 or more: no split)

        def first_turn(x: str) -> int:
            return next((k for k in range(1, v.total_power + 1) if v.proposer(h, r0 + k) == x),
                        v.total_power + 1)
        # The victim proposes as late as possible: it must not be the one to end the round
        # plan by proposing `a` again, nor be the next height's first proposer.
        victim = max(sorted(h1), key=first_turn)
        a = proposal.value
        b = Block.build(a.height, a.prev_hash, a.proposer, a.time_ticks + 1, a.txs, a.app_hash)
        relent = (fake_round + 1 if mode == "lock_quorum_fake" and fake_round is not None
                  else r0 + len(v.voters) + 1)
        # Also relent by the clock: honest nations stuck waiting for votes the coalition
        # showed to one of them only may not reach relent_round for a long time (they relay
        # others' votes only on a stall, see nodes/node.py).
        # The plan plays out in round r0 + 1 (or at the fake round): give it the length of
        # the rounds up to one past that, timeouts and all.
        last = (fake_round if mode == "lock_quorum_fake" and fake_round is not None
                else r0 + (3 if mode == "lock_one" else 1)) + 1
        span = sum(timeouts.ticks(step, r) for r in range(r0, last + 1)
                   for step in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT))
        plan = ForkPlan(h, r0, mode, a, b, tuple(sorted(h1)), tuple(sorted(h2)), victim,
                        fake_round if mode == "lock_quorum_fake" else None, relent,
                        now + span)
        self.plans[h] = plan
        for old in [k for k in self.plans if k < h - PLANS_KEPT_HEIGHTS]:
            del self.plans[old]
        self.passed = {k for k in self.passed if k[0] >= h - PLANS_KEPT_HEIGHTS}
        return plan

    def open(self, plan: ForkPlan, proposal: Proposal, out: list) -> None:
        """Round r0: `a` to H1, `b` to H2, and the mode's prevotes."""
        h, r0 = plan.height, plan.r0
        b_proposal = self.proposal(h, r0, plan.b, proposal.valid_round, proposal.proposer)
        for x in plan.h1:
            _send(out, x, proposal)
        for x in plan.h2:
            _send(out, x, b_proposal)
        for x in sorted(self.identities):  # the other members' own nodes vote for `a` too
            if x != proposal.proposer:
                _send(out, x, proposal)
        self.cast(plan, self.votes(Step.PREVOTE, h, r0, plan.b.block_id), plan.h2, out)
        prevotes_a = self.votes(Step.PREVOTE, h, r0, plan.a.block_id)
        precommits_a = self.votes(Step.PRECOMMIT, h, r0, plan.a.block_id)
        if plan.mode in ("lock_quorum", "lock_quorum_fake"):
            self.cast(plan, prevotes_a, plan.h1, out)
            plan.for_victim = precommits_a
        elif plan.mode == "lock_one":
            self.cast(plan, prevotes_a, (plan.victim,), out)
            # The members' own nodes lock on `a` as the victim does (a correct node that saw
            # the polka would), so that when the window closes and they turn correct, the
            # nations locked on `a` are still too few for a quorum without line 28.
            for node in self.nodes.values():
                r = node.replica
                if r.height == h:
                    r.locked_value, r.locked_value_id, r.locked_round = plan.a, plan.a.block_id, r0
                    r.valid_value, r.valid_value_id, r.valid_round = plan.a, plan.a.block_id, r0
        else:  # prevote_victim
            plan.for_victim = prevotes_a + precommits_a
        self.cast(plan, plan.for_victim, (), out)

    # ------------------------------------------------------------ reacting

    def cast(self, plan: ForkPlan, votes: list[Vote], to: tuple[str, ...], out: list) -> None:
        """Send `votes` to the honest nations `to`, and keep them in `plan.withheld`: after
        the relent every honest nation is shown every vote the coalition cast at the height,
        again at each new round (links lose messages, and honest nodes resend only their own)."""
        for vote in votes:
            for x in to:
                _send(out, x, vote)
            plan.withheld[(vote.step, vote.round, vote.value_id, vote.voter)] = vote

    def release(self, plan: ForkPlan, out: list) -> None:
        """The withheld votes for `a` to the victim alone."""
        if plan.stage == "split" and plan.for_victim:
            for vote in plan.for_victim:
                _send(out, plan.victim, vote)
            plan.stage = "released"

    def relent(self, plan: ForkPlan, out: list, now: int) -> None:
        """Every withheld vote to every honest nation; silent at this height from then on.

        Honest nodes relay the polka behind their lock once a round has been stuck for two
        resend periods (the paper's gossip assumption, nodes/node.py); showing everything at
        once keeps a plan from costing the honest nations more than a few rounds."""
        self.show(plan, out, now)
        plan.stage = "over"

    def show(self, plan: ForkPlan, out: list, now: int) -> None:
        plan.shows += 1
        plan.next_show_tick = now + SHOW_EVERY_TICKS
        for _, vote in sorted(plan.withheld.items(), key=lambda kv: _vote_key(kv[0])):
            for x in plan.h1 + plan.h2:
                _send(out, x, vote)

    def deadline(self, height_decided: int) -> int | None:
        """The next tick at which a member must act without hearing anything: a relent by
        the clock, or showing the votes again (honest nodes drop repeated bytes, so members
        may hear nothing new while the honest nations wait)."""
        ticks = [p.relent_tick if p.stage != "over" else p.next_show_tick
                 for h, p in self.plans.items() if h > height_decided and p.withheld
                 and (p.stage != "over" or p.shows < SHOWS_MAX)]
        return min(ticks, default=None)

    @staticmethod
    def _hold(plan: ForkPlan, round_: int) -> bool:
        """Whether a closed window must still wait to relent: in lock_one, showing the victim
        the polka for the fresh value while its round is on would lock it there too."""
        if plan.mode != "lock_one":
            return False
        if plan.stage == "voted":
            return round_ < plan.relent_round
        return bool(plan.c_rounds) and round_ <= max(plan.c_rounds)

    def on_clock(self, now: int, height_decided: int, out: list, active: bool = True,
                 round_: int = 0) -> None:
        """`round_` is the member's own round, the best guess of where the honest nations are."""
        for h, plan in sorted(self.plans.items()):
            if h <= height_decided:
                continue
            if plan.stage != "over" and (now >= plan.relent_tick or (
                    not active and not self._hold(plan, round_))):
                self.relent(plan, out, now)
            elif (plan.stage == "over" and plan.withheld and plan.shows < SHOWS_MAX
                  and now >= plan.next_show_tick):
                self.show(plan, out, now)

    def back_fresh(self, plan: ForkPlan, round_: int, value_id: bytes, out: list) -> None:
        """Vote for a fresh value at round_: the polka a broken lock rule needs."""
        if round_ in plan.c_rounds or plan.stage == "over" or (
                plan.mode == "lock_one" and plan.stage == "voted"):
            return
        plan.c_rounds.add(round_)
        honest = plan.h1 + plan.h2
        prevotes = self.votes(Step.PREVOTE, plan.height, round_, value_id)
        if plan.mode in ("prevote_victim", "lock_one"):
            self.cast(plan, prevotes, tuple(x for x in honest if x != plan.victim), out)
        else:
            self.cast(plan, prevotes, honest, out)
        if plan.mode == "lock_one":
            # The victim must not see this polka before its round is over: seen while it is
            # still prevoting, line 36 would lock it on the fresh value and the height would
            # be decided. The others lock on it without deciding (no precommits from us); a
            # lost vote may spoil the polka, so each fresh proposal is backed until an honest
            # nation precommits one (observe), and the victim is shown the polka after that.
            return
        self.cast(plan, self.votes(Step.PRECOMMIT, plan.height, round_, value_id),
                  tuple(x for x in honest if x != plan.victim), out)

    def observe(self, message, out: list, active: bool = True, now: int = 0) -> None:
        """An honest message a member received (signature checked). Once its window has
        closed (`active` false), a member only makes good what the coalition withheld."""
        plan = self.plans.get(message.height)
        if plan is None:
            return
        if plan.stage == "over":
            # The honest nations are still at this height: show the withheld votes again,
            # once per new round, as an honest node retransmits its own (links lose them).
            if plan.withheld and message.round > plan.shown_round:
                plan.shown_round = message.round
                self.show(plan, out, now)
            if isinstance(message, Proposal):
                self.help(plan, message, out)
            return
        if message.round >= plan.relent_round or now >= plan.relent_tick or (
                not active and not self._hold(plan, message.round)):
            self.relent(plan, out, now)
            plan.shown_round = message.round
            return
        if (plan.mode in ("lock_quorum", "prevote_victim") and isinstance(message, Vote)
                and message.step is Step.PRECOMMIT and message.round == plan.r0):
            self.release(plan, out)  # r0 has reached its precommits
        if (isinstance(message, Proposal) and message.round > plan.r0
                and message.value_id not in (plan.a.block_id, plan.b.block_id)
                and plan.mode != "lock_quorum_fake"):
            self.back_fresh(plan, message.round, message.value_id, out)
        if (plan.mode == "lock_one" and plan.stage == "split" and isinstance(message, Vote)
                and message.step is Step.PRECOMMIT and message.round in plan.c_rounds
                and message.value_id is not None and message.voter != plan.victim):
            # An honest nation locked on the fresh value: the split holds. Show the victim
            # the polka once the round is over, and be silent at this height from then on.
            plan.stage = "voted"
            plan.relent_round = message.round + 1

    def after_decision(self, node: Node, committed: CommittedBlock, out: list) -> None:
        """A member decided height h in round r; nations that missed the precommits are still
        at h, locked on the decided block, and go on to round r + 1. For every later round of
        h up to a full turn that a member leads, the coalition sends now a proposal for a fresh
        block (with no valid_round, or one it has no polka for, by turns) and its votes for
        it. Honest laggards judge it as they should (they are locked, and no polka backs the
        claim) and catch up by state sync; a protocol that ignores its lock or believes the
        claim may decide the fresh block where the others decided the first."""
        block = committed.block
        h = block.height
        if not committed.certificate or (h in self.plans and self.plans[h].mode != "rogue"):
            return
        r = committed.certificate[0].round
        honest = tuple(x for x in self.validators.voters if x not in self.identities)
        for k in range(1, self.validators.total_power + 1):
            r2 = r + k
            proposer = self.validators.proposer(h, r2)
            if proposer not in self.identities:
                continue
            c = Block.build(h, block.prev_hash, proposer, block.time_ticks + k, (),
                            block.app_hash)
            fake = self.proposal(h, r2, c, -1 if r2 % 2 else r2 - 1, proposer)
            for x in honest:
                _send(out, x, fake)
            for step in (Step.PREVOTE, Step.PRECOMMIT):
                for vote in self.votes(step, h, r2, c.block_id):
                    for x in honest:
                        _send(out, x, vote)

    def rogue_reproposal(self, node: Node, proposal: Proposal, out: list) -> None:
        """Outside a plan: a member that should propose its valid value again (some honest
        nations may be locked on it) proposes a fresh value instead, with no valid_round or
        with a valid_round it has no polka for (by turns), and the coalition votes for it.
        Honest nations locked on the valid value prevote nil and the round is lost; a
        protocol that ignores its lock, or believes a valid_round without its polka, may
        decide the fresh value where another nation decided the old one."""
        h, r = proposal.height, proposal.round
        c = _fresh_block(node, h, node.me, 2 + r)
        fake = self.proposal(h, r, c, -1 if r % 2 else r - 1, node.me)
        honest = tuple(x for x in self.validators.voters if x not in self.identities)
        for x in honest:
            _send(out, x, fake)
        # Kept as a plan that is over from the start, so that the votes are shown again at
        # each new round (an honest nation locked on the old value that lost one could not
        # check the polka that frees it) and the members are otherwise honest at the height.
        plan = self.plans.get(h)
        if plan is None:
            plan = self.plans[h] = ForkPlan(h, r, "rogue", c, c, honest, (), "", None, r, 0,
                                            stage="over")
        for step in (Step.PREVOTE, Step.PRECOMMIT):
            self.cast(plan, self.votes(step, h, r, c.block_id), honest, out)
        plan.next_show_tick = node.now_ticks + SHOW_EVERY_TICKS

    def help(self, plan: ForkPlan, proposal: Proposal, out: list) -> None:
        """After the relent the coalition votes for what is proposed, once per round, so that
        a height where the honest nations are split between locks, or need the coalition's
        power, is not left waiting. In lock_one it backs re-proposals only (valid_round set):
        line 28 is how the honest nations agree there, and a protocol without it, or whose
        locked proposers offer fresh values, gets no help."""
        if plan.mode == "rogue" or proposal.round in plan.helped or (
                plan.mode == "lock_one" and proposal.valid_round < 0):
            return
        plan.helped.add(proposal.round)
        honest = plan.h1 + plan.h2
        for step in (Step.PREVOTE, Step.PRECOMMIT):
            self.cast(plan, self.votes(step, plan.height, proposal.round, proposal.value_id),
                      honest, out)

    def propose_again(self, node: Node, plan: ForkPlan, proposal: Proposal,
                      out: list) -> None:
        """A member is the proposer of a later round of the plan's height."""
        h, r = plan.height, proposal.round
        if plan.stage == "over" or r <= plan.r0 or h != node.ledger.height + 1:
            return
        c = _fresh_block(node, h, node.me, 2 + r)
        if plan.mode == "lock_quorum_fake":
            if r != plan.fake_round:
                return
            fake = self.proposal(h, r, c, r - 1, node.me)  # a valid_round with no polka
            for x in plan.h1 + plan.h2:
                _send(out, x, fake)
            self.back_fresh(plan, r, c.block_id, out)
            self.release(plan, out)
            return
        fresh = self.proposal(h, r, c, -1, node.me)
        for x in plan.h1 + plan.h2:
            _send(out, x, fresh)
        self.back_fresh(plan, r, c.block_id, out)


class ForkHooks(BehaviourHooks):
    """A `fork` nation: its messages are the coalition's to send (`ForkCoalition`), which
    observes what the honest nations say, wakes on its own deadlines and acts after decisions."""

    def deadline(self, node) -> int | None:
        mine = self._mind(node).deadline(node.ledger.height)
        end = self.behaviour.until_tick
        if mine is not None and end is not None and end > node.now_ticks:
            mine = min(mine, end)  # relent when the window closes
        return mine

    def on_timer(self, node, now_ticks: int, out: list) -> None:
        self._mind(node).on_clock(now_ticks, node.ledger.height, out,
                                  self.behaviour.active(now_ticks), node.replica.round)

    def _mind(self, node) -> ForkCoalition:
        shared = self.coalition()
        mind = shared.get("fork")
        if mind is None:
            mind = shared["fork"] = ForkCoalition(node.genesis)
        mind.identities[node.me] = node.identity
        mind.nodes[node.me] = node
        return mind

    def _members(self, node) -> frozenset[str]:
        """Every fork nation of the world that has booted, whatever [[behaviour]] names it."""
        return frozenset(self._mind(node).identities) | frozenset(
            n for n in self.behaviour.nations if n in node.validators)

    def emit(self, node, signed, out) -> None:
        if not self.behaviour.active(node.now_ticks):
            return node.send(signed, out)
        mind = self._mind(node)
        plan = mind.plans.get(signed.height)
        if plan is None or plan.mode == "rogue":
            key = (signed.height, signed.round)
            # Only early rounds open a plan: a plan costs the honest nations a few rounds, and
            # rounds late in a height are long (timeouts grow).
            if (plan is None and isinstance(signed, Proposal) and signed.valid_round == -1
                    and signed.round <= PLAN_ROUND_MAX and node.ahead_height <= signed.height
                    and signed.height == node.ledger.height + 1 and key not in mind.passed):
                # Only a proposal's first sending opens a plan, never a resend of one that
                # went out honestly.
                mind.passed.add(key)
                plan = mind.plan(signed, self._members(node),
                                 self.behaviour.params.get("mode", "cycle"), node.now_ticks,
                                 node.config.timeouts,
                                 stalls_count=self.behaviour.until_tick is not None)
                if plan is not None:
                    mind.open(plan, signed, out)
                    return
            if (isinstance(signed, Proposal) and signed.valid_round >= 0
                    and signed.height == node.ledger.height + 1 and key not in mind.passed):
                mind.passed.add(key)
                return mind.rogue_reproposal(node, signed, out)
            return node.send(signed, out)
        if plan.stage == "over":
            # Relented: a member proposing proposes what its node would, and the coalition
            # votes for it (ForkCoalition.help); its node's own votes stay unsent, as they
            # may contradict what the coalition sent earlier at this height.
            if isinstance(signed, Proposal) and signed.proposer == node.me and (
                    plan.mode != "lock_one" or signed.valid_round >= 0):
                node.send(signed, out)
                mind.help(plan, signed, out)
            return
        if isinstance(signed, Proposal) and signed.proposer == node.me:
            mind.propose_again(node, plan, signed, out)
        # Every other message of a plan's height is the coalition's to send, not the replica's.

    def after_commit(self, node, committed, via, out) -> None:
        if via == "consensus" and self.behaviour.active(node.now_ticks):
            mind = self._mind(node)
            h = committed.block.height
            if h not in mind.decided:
                mind.decided = {d for d in mind.decided if d >= h - PLANS_KEPT_HEIGHTS} | {h}
                mind.after_decision(node, committed, out)

    def delivered(self, node, message, out) -> None:
        sender = message.proposer if isinstance(message, Proposal) else message.voter
        if sender not in self._members(node):
            self._mind(node).observe(message, out, self.behaviour.active(node.now_ticks),
                                     node.now_ticks)
