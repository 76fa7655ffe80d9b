"""Gossip and catch-up in the node layer: what the paper's liveness argument assumes of the network.

Tendermint (arXiv 1807.04938) is live after GST only if every message a correct process received
is eventually received by every correct process. These tests pin down how `nodes.Node` provides
that over lossy links and restarts (the fixes of the open findings of tests/regressions/README):

- a message the core had no room for (too many heights ahead) is not remembered as seen, so its
  resend counts once the node has caught up (finding A, wipe-rejoin-stall.toml);
- a node stalled at one (height, round) relays, verbatim, the signed messages of others that
  justify its state: the proposal and the polka behind its lock, and its round's precommits
  (finding B, lock-polka-not-relayed.toml, twin-polka-not-relayed.toml); receivers check them
  like messages sent directly;
- state sync asks the peers known to be ahead in turn, and passes over one whose answer failed
  its checks (finding D, sync-peer-starved.toml);
- a node counts its own signed vote from the network when its write-ahead record lacks it, as
  after a wipe (finding E, wipe-own-vote-unseen.toml).

Each test drives one node by hand, as a runtime would: `on_bytes`, `on_timer`, and the actions
they return.
"""

from __future__ import annotations

from consensus import FUTURE_HEIGHTS_MAX, Proposal, Step, Vote
from nodes import (
    Block,
    CommittedBlock,
    Delivered,
    Dropped,
    Genesis,
    Misbehaviour,
    Node,
    NodeConfig,
    SendAll,
    SendTo,
    VerifyCache,
    genesis_hash,
)
from nodes.node import RELAY_MESSAGES_MAX
from nodes.wire.messages import (
    encode_proposal,
    encode_sync_response,
    encode_vote,
    proposal_signed_bytes,
    vote_signed_bytes,
)

CHAIN = "gossip-test"
GENESIS, IDS = Genesis.simulated(CHAIN, [("USA", 1), ("MEX", 1), ("CAN", 1), ("CHN", 1)], 5)
CODES = ("USA", "MEX", "CAN", "CHN")
PROPOSER = GENESIS.validators.proposer(1, 0)
ME = next(c for c in CODES if c != PROPOSER)
THIRD = next(c for c in CODES if c not in (ME, PROPOSER))  # the other prevote of the polka
LAST = next(c for c in CODES if c not in (ME, PROPOSER, THIRD))  # saw nothing
BLOCK = Block.build(1, genesis_hash(GENESIS), PROPOSER, 5, ())
REBROADCAST_TICKS = NodeConfig().rebroadcast_ticks


def new_node(code: str = ME, verifier: VerifyCache | None = None) -> Node:
    node = Node(IDS[code], GENESIS, verifier or VerifyCache())
    node.start(0)
    return node


def vote(step: Step, height: int, round_: int, value_id: bytes | None, voter: str) -> Vote:
    unsigned = Vote(step, height, round_, value_id, voter)
    return Vote(step, height, round_, value_id, voter,
                IDS[voter].sign(vote_signed_bytes(CHAIN, unsigned)))


def proposal(block: Block, round_: int, proposer: str) -> Proposal:
    unsigned = Proposal(block.height, round_, block, block.block_id, -1, proposer)
    return Proposal(block.height, round_, block, block.block_id, -1, proposer,
                    IDS[proposer].sign(proposal_signed_bytes(CHAIN, unsigned)))


def reasons(actions) -> list[str]:
    return [a.reason for a in actions if isinstance(a, Dropped)]


def sent_to_all(actions) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, SendAll)]


# ---------------------------------------------------------------- A: the seen-digest filter


def test_a_message_too_far_ahead_is_not_remembered_so_its_resend_counts():
    node = new_node()
    far = 1 + FUTURE_HEIGHTS_MAX + 1  # beyond the core's future buffer
    data = encode_vote(vote(Step.PREVOTE, far, 0, None, "MEX"))
    assert reasons(node.on_bytes(data, 1)) == []
    ignored = node.replica.messages_ignored
    # The resend is checked again (and ignored by the core again), not dropped as a duplicate.
    assert "duplicate" not in reasons(node.on_bytes(data, 2))
    assert node.replica.messages_ignored == ignored + 1
    # A message the core took is remembered: its copy is a duplicate, as before.
    near = encode_vote(vote(Step.PREVOTE, 1, 0, None, "MEX"))
    node.on_bytes(near, 3)
    assert reasons(node.on_bytes(near, 4)) == ["duplicate"]


# ---------------------------------------------------------------- B: relaying a polka


def locked_node() -> tuple[Node, dict[str, bytes]]:
    """ME receives the proposal and the prevotes of PROPOSER and THIRD: with its own prevote,
    a polka (3 of 4), so it locks on BLOCK and precommits it (line 36). Then nothing more."""
    node = new_node()
    original = {
        "proposal": encode_proposal(proposal(BLOCK, 0, PROPOSER)),
        PROPOSER: encode_vote(vote(Step.PREVOTE, 1, 0, BLOCK.block_id, PROPOSER)),
        THIRD: encode_vote(vote(Step.PREVOTE, 1, 0, BLOCK.block_id, THIRD)),
    }
    for tick, data in enumerate(original.values(), start=1):
        assert reasons(node.on_bytes(data, tick)) == []
    assert (node.replica.locked_value_id, node.replica.locked_round) == (BLOCK.block_id, 0)
    return node, original


# A stall's first resend (after rebroadcast_ticks) carries our own messages only; the second
# (two periods later) relays too.
RELAY_TICK = REBROADCAST_TICKS + 2 * REBROADCAST_TICKS


def test_a_stalled_node_relays_the_polka_behind_its_lock_verbatim():
    node, original = locked_node()
    # Before rebroadcast_ticks without progress: nothing (a height that decides in time costs
    # no extra traffic); then our own messages only (a round that is merely slow costs little).
    assert sent_to_all(node.on_timer(REBROADCAST_TICKS - 1)) == []
    assert len(sent_to_all(node.on_timer(REBROADCAST_TICKS))) == 2 and node.relays == 0
    assert sent_to_all(node.on_timer(RELAY_TICK - 1)) == []
    out = sent_to_all(node.on_timer(RELAY_TICK))
    # The very bytes the signers sent: the proposal and the others' prevotes of the polka.
    for data in original.values():
        assert data in out
    assert node.relays == len(original)
    # Our own prevote and precommit are resent once each, not relayed a second time.
    own = [encode_vote(vote(Step.PREVOTE, 1, 0, BLOCK.block_id, ME)),
           encode_vote(vote(Step.PRECOMMIT, 1, 0, BLOCK.block_id, ME))]
    assert sorted(out) == sorted([*original.values(), *own])


def test_relayed_messages_are_checked_and_counted_by_a_nation_that_missed_them():
    node, _ = locked_node()
    node.on_timer(REBROADCAST_TICKS)
    out = sent_to_all(node.on_timer(RELAY_TICK))
    late = new_node(LAST)
    delivered = []
    for tick, data in enumerate(out, start=RELAY_TICK + 1):
        actions = late.on_bytes(data, tick)
        assert reasons(actions) == []
        delivered += [a.sender for a in actions if isinstance(a, Delivered)]
    # Each message is delivered as its signer's, whoever relayed it; with them LAST sees the
    # polka (PROPOSER, THIRD and ME): it has the valid value and round the others have.
    assert sorted(delivered) == sorted([PROPOSER, PROPOSER, THIRD, ME, ME])
    assert (late.replica.valid_value_id, late.replica.valid_round) == (BLOCK.block_id, 0)
    # The signer, which has the vote in its record, gets it back as a replay, never counted
    # twice.
    signer = new_node(THIRD)
    signer.on_bytes(encode_proposal(proposal(BLOCK, 0, PROPOSER)), 1)  # it prevotes BLOCK
    assert reasons(signer.on_bytes(out[out.index(encode_vote(
        vote(Step.PREVOTE, 1, 0, BLOCK.block_id, THIRD)))], 2)) == ["own_message"]


def test_a_relay_cannot_forge_a_vote():
    """A relayed message is judged by its signature alone: altering one in transit fails."""
    node, original = locked_node()
    forged = bytearray(original[THIRD])
    forged[-1] ^= 1
    late = new_node(LAST)
    assert reasons(late.on_bytes(bytes(forged), 1)) in (["bad_signature"], ["malformed"])


def test_the_relay_is_bounded_and_in_a_fixed_order():
    node, _ = locked_node()
    relayed = node.replica.justification(RELAY_MESSAGES_MAX)
    assert [type(m).__name__ for m in relayed] == ["Proposal", "Vote", "Vote", "Vote", "Vote"]
    assert [m.voter for m in relayed[1:4]] == sorted([PROPOSER, THIRD, ME])  # the polka
    assert relayed[4].step is Step.PRECOMMIT and relayed[4].voter == ME
    assert node.replica.justification(2) == relayed[:2]
    assert node.replica.justification(0) == []


# ---------------------------------------------------------------- E: our own votes, relayed


def test_our_own_vote_from_the_network_counts_only_when_our_record_lacks_it():
    """A node drops its own message from the network as a replay when its write-ahead record
    holds it; after a wipe it has no record, and its own signed vote from before (relayed back
    by a peer, as part of a polka) must count, or it can never check that polka."""
    mine = encode_vote(vote(Step.PREVOTE, 1, 0, BLOCK.block_id, ME))
    wiped = new_node()  # a fresh node: no record of that prevote
    actions = wiped.on_bytes(mine, 1)
    assert reasons(actions) == []
    assert [a.sender for a in actions if isinstance(a, Delivered)] == [ME]
    # The node that cast it has it in its record: the network copy is a replay.
    node, _ = locked_node()
    assert reasons(node.on_bytes(mine, 10)) == ["own_message"]
    # Its own vote for another value in the same slot is its equivocation from before a wipe:
    # counted, like anyone's, and named as evidence.
    other = encode_vote(vote(Step.PREVOTE, 1, 0, None, ME))
    actions = node.on_bytes(other, 11)
    assert reasons(actions) == []
    assert [a.evidence.voter for a in actions if isinstance(a, Misbehaviour)] == [ME]


# ---------------------------------------------------------------- D: whom state sync asks


def sync_targets(actions) -> list[str]:
    return [a.dst for a in actions if isinstance(a, SendTo) and a.kind == "sync_request"]


def test_state_sync_passes_over_a_peer_whose_answer_failed_its_checks():
    node = new_node("USA")
    # MEX, then CAN, show messages two heights ahead: both are known to be ahead.
    assert sync_targets(node.on_bytes(encode_vote(vote(Step.PREVOTE, 3, 0, None, "MEX")), 1)) \
        == ["MEX"]
    node.on_bytes(encode_vote(vote(Step.PREVOTE, 3, 0, None, "CAN")), 2)
    # CAN answers with a block whose certificate is short of 2/3: dropped, as it must be.
    short = tuple(vote(Step.PRECOMMIT, 1, 0, BLOCK.block_id, v) for v in ("CAN",))
    forged = encode_sync_response(CHAIN, "CAN", [CommittedBlock(BLOCK, short)], IDS["CAN"].sign)
    assert reasons(node.on_bytes(forged, 3)) == ["bad_certificate"]
    # Every retry now goes to MEX, the last nation heard from at a height above ours being CAN.
    retry_ticks = node.config.sync_retry_ticks
    targets = [t for k in range(1, 5) for t in sync_targets(node.on_timer(1 + k * retry_ticks))]
    assert targets == ["MEX"] * 4


def test_state_sync_asks_the_peers_ahead_in_turn():
    node = new_node("USA")
    node.on_bytes(encode_vote(vote(Step.PREVOTE, 3, 0, None, "MEX")), 1)
    node.on_bytes(encode_vote(vote(Step.PREVOTE, 3, 0, None, "CHN")), 2)
    node.on_bytes(encode_vote(vote(Step.PREVOTE, 3, 0, None, "CAN")), 3)
    retry_ticks = node.config.sync_retry_ticks
    targets = [t for k in range(1, 7) for t in sync_targets(node.on_timer(1 + k * retry_ticks))]
    # A peer that never answers (or whose answer is lost) keeps no one behind: all take turns.
    assert sorted(set(targets)) == ["CAN", "CHN", "MEX"]
    assert targets[:3] != [targets[0]] * 3


def _sync_ticks_by_deadlines(node: Node, until: int) -> list[int]:
    """Drive `node` by its own deadlines only, as the simulated world and the live runtime do
    when no message comes: the ticks of the sync requests it sends up to `until`."""
    sent = []
    while (deadline := node.next_deadline()) is not None and deadline <= until:
        if sync_targets(node.on_timer(deadline)):
            sent.append(deadline)
    return sent


def test_state_sync_has_a_deadline_of_its_own():
    # One height behind at tick 10: the request goes out sync_lag_ticks later, and again every
    # sync_retry_ticks while no answer comes, at those very ticks, with no message or other
    # wake-up to prompt it (the node's own deadlines would otherwise come at other ticks).
    node = new_node("USA")
    node.on_bytes(encode_vote(vote(Step.PREVOTE, 2, 0, None, "MEX")), 10)
    lag, retry = node.config.sync_lag_ticks, node.config.sync_retry_ticks
    assert node.next_deadline() <= 10 + lag
    assert _sync_ticks_by_deadlines(node, 10 + lag + 2 * retry) == [
        10 + lag, 10 + lag + retry, 10 + lag + 2 * retry]


def test_a_node_two_heights_behind_asks_at_once_and_retries_on_its_deadline():
    node = new_node("USA")
    assert sync_targets(node.on_bytes(encode_vote(vote(Step.PREVOTE, 3, 0, None, "MEX")), 7)) \
        == ["MEX"]
    retry = node.config.sync_retry_ticks
    assert _sync_ticks_by_deadlines(node, 7 + 2 * retry) == [7 + retry, 7 + 2 * retry]


# ---------------------------------------------------------------- stale wake-ups


def _timer_state(node: Node) -> tuple:
    r = node.replica
    return (node.timer_state(), dict(node.dropped),
            r.height, r.round, r.step, r.pending_timeouts(), node.next_deadline())


def test_a_wake_up_before_the_deadline_does_nothing_and_the_deadline_still_acts():
    """Most simulated wake-ups come for a deadline that has since moved later; `on_timer`
    returns at once for them. It must return nothing and change nothing then, and still act
    once the deadline is reached."""
    node = new_node()
    deadline = node.next_deadline()
    before = _timer_state(node)
    for tick in (1, deadline // 2, deadline - 1):
        assert node.on_timer(tick) == []
        assert _timer_state(node) == before
    assert node.on_timer(deadline) != [] or _timer_state(node) != before
