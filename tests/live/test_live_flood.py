"""A junk flood from one nation's login on a live chain (issue 17, part 2).

Three in-process live runtimes (MEX, CAN, CHN: more than 2/3 of the power) on a private Mosquitto
with the generated configuration; USA's login is the attacker's. Each node's inbound queue is
made small (200 entries) and USA publishes 1,500 junk messages as fast as it can, half random
bytes and half vote-shaped messages of the current height with bad signatures (which cost the
node a signature check each). The queue must drop junk, count every drop by reason and topic in
the status, drop nothing an honest nation sent, and the chain must keep committing.
"""

from __future__ import annotations

import asyncio
import os
import time

import aiomqtt

from consensus import Step, Vote
from mqtt_helpers import live_runtimes, start_live_broker, stop_runtimes, until
from nodes.live.inbound import InboundLimits
from nodes.live.runtime import TickClock
from nodes.live.transport import Topics
from nodes.wire.messages import encode_vote

QUEUE_ENTRIES = 200
FLOOD_MESSAGES = 1_500
# Drops the transport makes before the inbox, on the way in (the rest of its counters are
# outbound: partition_out, outbox_full, lost_in_flight).
TRANSPORT_INBOUND_REASONS = ("malformed", "oversized", "bad_topic", "partition", "bad_control")




def _junk(height: int, i: int) -> bytes:
    if i % 2:
        return os.urandom(100 + i % 900)
    vote = Vote(Step.PREVOTE, height, i % 900, os.urandom(32), "USA", os.urandom(64))
    return encode_vote(vote)


async def _flood(broker) -> dict:
    g, cfg = broker.genesis, broker.config
    topics = Topics(g.chain_id)
    clock = TickClock(2.0, time.time())
    limits = InboundLimits(queue_entries_max=QUEUE_ENTRIES)
    runtimes = live_runtimes(broker, [n for n in g.codes if n != "USA"], clock, limits=limits)
    tasks = [asyncio.create_task(r.run()) for r in runtimes.values()]
    try:
        async with aiomqtt.Client(cfg.host, cfg.port, username="USA",
                                  password=cfg.credentials["USA"], identifier="USA") as usa:
            await until(lambda: all(r.node.ledger.height >= 3 for r in runtimes.values()),
                         "the chain to start")
            before = {n: r.node.ledger.height for n, r in runtimes.items()}
            height = runtimes["CAN"].node.replica.height
            started = time.monotonic()
            for i in range(FLOOD_MESSAGES):
                await usa.publish(topics.msg("USA"), _junk(height, i), qos=0)
            flood_s = time.monotonic() - started
            await until(lambda: all(r.node.ledger.height >= before[n] + 5
                                     for n, r in runtimes.items()), "commits after the flood")
            await until(lambda: not any(r.transport.inbox for r in runtimes.values()),
                         "the inboxes to drain")
            return {"flood_s": flood_s, "before": before,
                    "alive": [not t.done() for t in tasks],
                    "status": {n: r.status() for n, r in runtimes.items()},
                    "received": {n: r.transport.received for n, r in runtimes.items()},
                    "transport_dropped": {n: dict(r.transport.dropped)
                                          for n, r in runtimes.items()}}
    finally:
        await stop_runtimes(runtimes, tasks)


def test_a_junk_flood_is_dropped_and_counted_and_no_honest_message_is_lost(tmp_path):
    broker = start_live_broker(tmp_path)
    try:
        result = asyncio.run(_flood(broker))
    finally:
        broker.process.stop()
    assert all(result["alive"])
    total_queue_drops = 0
    for nation, status in result["status"].items():
        assert status["height"] >= result["before"][nation] + 5  # the chain kept committing
        inbound = status["inbound_dropped"]
        # Only USA's topic lost anything in the queue: no honest proposal, vote or sync
        # message was refused or evicted.
        assert {topic for by_topic in inbound.values() for topic in by_topic} <= {"USA/msg"}
        queue_drops = sum(sum(by_topic.values()) for by_topic in inbound.values())
        total_queue_drops += queue_drops
        # Every drop is counted in the status, by reason (the totals) and by topic.
        for reason, by_topic in inbound.items():
            assert status["dropped"][reason] >= sum(by_topic.values())
        # Every message read was queued or dropped, and each drop counted once.
        transport = result["transport_dropped"][nation]
        accounted = (sum(status["received_by_class"].values()) + queue_drops
                     + sum(transport.get(r, 0) for r in TRANSPORT_INBOUND_REASONS))
        assert accounted == result["received"][nation] >= FLOOD_MESSAGES
        # What got through was judged by the node, and the junk rejected there.
        assert status["dropped"].get("malformed", 0) + status["dropped"].get(
            "bad_signature", 0) > 0
    # The flood was at least five times the queue, and the queue dropped junk.
    assert FLOOD_MESSAGES >= 5 * QUEUE_ENTRIES
    assert total_queue_drops > 0, result["status"]
