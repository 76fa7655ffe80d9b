"""The live node's inbound queue (nodes/live/inbound.py): bounds, order, shares, rates, counts."""

from __future__ import annotations

import pytest

from consensus import Proposal, Step, Vote
from nodes import Genesis
from nodes.chain.block import Block
from nodes.chain.codec import MESSAGE_BYTES_MAX
from nodes.live.inbound import Inbound, InboundLimits, InboundQueue
from nodes.wire.messages import encode_proposal, encode_vote, peek_consensus_height

LOOSE = dict(sender_messages_per_s=1e9, sender_messages_burst=10**9)


def _vote(height: int, voter: str = "MEX", round_: int = 0) -> bytes:
    return encode_vote(Vote(Step.PRECOMMIT, height, round_, b"\x01" * 32, voter, b"\x02" * 64))


def _drain(queue: InboundQueue, urgent: bool) -> list[Inbound]:
    out = []
    while (item := queue.pop(urgent)) is not None:
        out.append(item)
    return out


@pytest.mark.parametrize("height", [1, 127, 128, 255, 256, 70_000, 2**33, 2**47])
def test_peek_reads_the_height_of_votes_and_proposals(height):
    g, _ = Genesis.simulated("c", [("USA", 1)], 1)
    block = Block.build(height, g.hash, "USA", 0, ())
    proposal = Proposal(height, 3, block, block.block_id, -1, "USA", b"\x00" * 64)
    assert peek_consensus_height(encode_proposal(proposal)) == height
    assert peek_consensus_height(_vote(height)) == height


def test_peek_refuses_anything_else():
    for data in (b"", b"\x97", b"\x97\x02", b"\x97\x02\x01", b"\x97\x02\x01\xcd\x01",
                 b"\x93\x03\x01", b"\x97\x01\xc0", b"\x97\x02\x03\x05"):
        assert peek_consensus_height(data) is None


def test_current_height_consensus_goes_first_then_urgent_then_bulk():
    q = InboundQueue(InboundLimits(**LOOSE), senders=4)
    q.height = 5
    q.put(Inbound("msg", "MEX", b"junk"), 0.0)
    q.put(Inbound("submit", "USA", b"a submission"), 0.0)
    q.put(Inbound("msg", "CAN", _vote(4)), 0.0)
    q.put(Inbound("msg", "CHN", _vote(5)), 0.0)
    q.put(Inbound("msg", "MEX", b"\x93\x03 gossip"), 0.0)
    assert [i.nation for i in _drain(q, urgent=True)] == ["CHN", "MEX", "CAN"]
    assert [i.payload for i in _drain(q, urgent=False)] == [b"a submission", b"\x93\x03 gossip"]
    assert q.entries == 0 and q.bytes == 0 and not q


def test_a_full_queue_evicts_gossip_and_junk_for_votes_of_the_current_height():
    # Three senders of one entry each (queue of 3): the share does not bind here.
    q = InboundQueue(InboundLimits(queue_entries_max=3, **LOOSE), senders=1)
    q.height = 9
    assert q.put(Inbound("msg", "USA", b"\x93\x03 gossip"), 0.0)
    assert q.put(Inbound("msg", "USA", b"junk"), 0.0)
    assert q.put(Inbound("msg", "USA", b"more junk"), 0.0)
    assert q.put(Inbound("msg", "MEX", _vote(9)), 0.0)  # evicts the gossip
    assert q.put(Inbound("msg", "CAN", _vote(9)), 0.0)  # evicts the oldest junk
    assert q.put(Inbound("msg", "CHN", _vote(9)), 0.0)  # evicts the other junk
    assert not q.put(Inbound("msg", "USA", _vote(9)), 0.0)  # nothing below it: refused
    assert not q.put(Inbound("msg", "USA", b"junk"), 0.0)
    assert q.dropped == {"evicted": {"USA/msg": 3}, "queue_full": {"USA/msg": 2}}
    assert [i.nation for i in _drain(q, urgent=True)] == ["MEX", "CAN", "CHN"]


def test_the_byte_bound_holds_and_a_sender_gets_only_its_share():
    limits = InboundLimits(queue_entries_max=100, queue_bytes_max=3 * MESSAGE_BYTES_MAX,
                           sender_bytes_per_s=1e12, **LOOSE)
    q = InboundQueue(limits, senders=4)
    assert q.sender_entries_max == 25
    assert q.sender_bytes_max == MESSAGE_BYTES_MAX  # never less than one largest message
    big = b"\x00" * (MESSAGE_BYTES_MAX * 4 // 5)
    assert q.put(Inbound("msg", "USA", big), 0.0)
    assert not q.put(Inbound("msg", "USA", big), 0.0)  # USA's byte share is spent
    assert q.put(Inbound("msg", "MEX", big), 0.0) and q.put(Inbound("msg", "CAN", big), 0.0)
    assert q.put(Inbound("msg", "CHN", big), 0.0) is False  # the whole queue's bytes
    assert q.bytes <= limits.queue_bytes_max
    for i in range(30):
        q.put(Inbound("msg", "CHN", b"%d" % i), 0.0)
    assert q.dropped["sender_share"] == {"USA/msg": 1, "CHN/msg": 5}
    assert q.dropped["queue_full"] == {"CHN/msg": 1}


def test_each_nation_has_a_token_bucket_and_refusals_are_counted_by_topic():
    limits = InboundLimits(sender_messages_per_s=10, sender_messages_burst=5)
    q = InboundQueue(limits, senders=4)
    taken = [q.put(Inbound("msg", "USA", b"x%d" % i), 100.0) for i in range(8)]
    assert taken == [True] * 5 + [False] * 3
    assert q.put(Inbound("to", "MEX", b"sync answer"), 100.0)  # MEX has its own bucket
    assert q.put(Inbound("submit", "USA", b"s"), 100.0)  # submissions are the operator's
    assert not q.put(Inbound("msg", "USA", b"later"), 100.05)
    assert q.put(Inbound("msg", "USA", b"later still"), 100.2)  # 0.2 s refills 2 tokens
    assert q.dropped == {"rate_limited": {"USA/msg": 4}}
    assert q.dropped_totals() == {"rate_limited": 4}


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError):
        InboundLimits(queue_entries_max=0)
    with pytest.raises(ValueError):
        InboundLimits(sender_bytes_burst=1)
