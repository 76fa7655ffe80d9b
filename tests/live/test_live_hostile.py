"""Hostile traffic on a live chain: four in-process live runtimes on a real Mosquitto (the
generated configuration, a free loopback port), attacked with valid broker credentials.

The broker lets USA publish on USA's own topics, so everything here reaches the other nations'
transports: what must stop it is the transport's size limit and the node's structure, sender and
signature gates. Each kind of hostile message is counted in the nodes' drop counters (and so in
their published status), and the chain keeps committing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time

import aiomqtt

from consensus import Step, Vote
from mqtt_helpers import live_runtimes, start_live_broker, stop_runtimes, until
from nodes import Transaction
from nodes.live.runtime import TickClock
from nodes.live.transport import PAYLOAD_BYTES_MAX, Topics
from nodes.wire.messages import encode_txs, encode_vote, vote_signed_bytes





async def _attack(broker) -> tuple[dict, dict, dict]:
    g, cfg = broker.genesis, broker.config
    topics = Topics(g.chain_id)
    clock = TickClock(2.0, time.time())
    # USA is the hostile member: its login is the attacker's, so USA runs no node (the broker
    # binds a client id to its login, and one login is one session). The other three hold
    # more than 2/3 of the power and keep committing.
    runtimes = live_runtimes(broker, [n for n in g.codes if n != "USA"], clock)
    tasks = [asyncio.create_task(r.run()) for r in runtimes.values()]
    can = runtimes["CAN"]
    try:
        async with aiomqtt.Client(cfg.host, cfg.port, username="USA",
                                  password=cfg.credentials["USA"], identifier="attacker") as usa, \
                aiomqtt.Client(cfg.host, cfg.port, username="operator",
                               password=cfg.credentials["operator"], identifier="op") as op:
            await usa.subscribe(topics.msg("MEX"), qos=1)
            await usa.subscribe(topics.status("CAN"), qos=1)
            genuine = None
            async for message in usa.messages:
                if message.topic.matches(topics.msg("MEX")):
                    genuine = bytes(message.payload)
                    break
            await until(lambda: can.node.ledger.height >= 3, "the chain to start")
            before = {n: r.node.ledger.height for n, r in runtimes.items()}
            h = can.node.replica.height
            # A prevote in MEX's name, signed with USA's key.
            forged = Vote(Step.PREVOTE, h, 0, None, "MEX", b"\x00" * 64)
            forged = Vote(Step.PREVOTE, h, 0, None, "MEX", broker.identities["USA"].sign(
                vote_signed_bytes(g.chain_id, forged)))
            hostile = [os.urandom(300), b"\x00" * (PAYLOAD_BYTES_MAX + 1), genuine,
                       encode_vote(forged)]
            for payload in hostile:
                await usa.publish(topics.msg("USA"), payload, qos=1)
            # The operator's topics: junk submissions, a tx with a bad signature, junk control.
            tx = Transaction.create(g.chain_id, broker.identities["CAN"], "payload", 1, b"x")
            bad_tx = dataclasses.replace(tx, signature=b"\x01" * 64)
            await op.publish(topics.submit("CAN"), os.urandom(200), qos=1)
            await op.publish(topics.submit("CAN"), encode_txs("CAN", (bad_tx,)), qos=1)
            await op.publish(topics.control("CAN"), b"{not json", qos=1)
            wanted = {"malformed", "oversized", "duplicate", "bad_signature", "malformed_submit",
                      "bad_control"}
            await until(lambda: wanted <= set(can.status()["dropped"]), "the drops")
            await until(lambda: all(r.node.ledger.height >= before[n] + 5
                                     for n, r in runtimes.items()), "commits after the attack")
            # The counters are in the status CAN publishes for the cluster driver.
            await asyncio.sleep(0.5)
            published = None
            async for message in usa.messages:
                if message.topic.matches(topics.status("CAN")):
                    published = json.loads(message.payload)
                    if wanted <= set(published["dropped"]):
                        break
            alive = [not t.done() for t in tasks]
            return can.status()["dropped"], published, {"alive": alive,
                                                        "mex": runtimes["MEX"].status()}
    finally:
        await stop_runtimes(runtimes, tasks)


def test_hostile_payloads_and_forgery_are_dropped_counted_and_the_chain_goes_on(tmp_path):
    broker = start_live_broker(tmp_path)
    try:
        dropped, published, rest = asyncio.run(_attack(broker))
    finally:
        broker.process.stop()
    assert all(rest["alive"])
    assert dropped["malformed"] >= 1  # random bytes
    assert dropped["oversized"] >= 1  # dropped by the transport before decoding
    assert dropped["duplicate"] >= 1  # the replayed genuine message of MEX
    assert dropped["bad_signature"] >= 2  # the forged prevote, the badly signed tx
    assert dropped["malformed_submit"] == 1 and dropped["bad_control"] == 1
    assert published["nation"] == "CAN" and published["dropped"]["oversized"] >= 1
    # MEX got the forgery in its own name through USA's topic: not its own, not counted as one.
    assert rest["mex"]["dropped"].get("own_message", 0) >= 1
