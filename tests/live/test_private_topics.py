"""Private records over MQTT (docs/privacy.md, "Live"): the generated ACL lets only a nation's
records login read the records filed for it, and lets a records login write them under its own
nation's name only. Against a real Mosquitto on a free loopback port (`live_broker`)."""

from __future__ import annotations

import asyncio

import aiomqtt
from mqtt_helpers import LIVE_CHAIN_ID

from nodes.live.brokerconf import (OPERATOR, private_inbox, private_prefix, private_topic,
                                   records_login)

WAIT_S = 5.0
QUIET_S = 0.5


def _client(broker, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(broker.config.host, broker.config.port, username=user,
                          password=broker.config.credentials[user],
                          protocol=aiomqtt.ProtocolVersion.V5, timeout=WAIT_S)


async def _read(client: aiomqtt.Client, seen: list[tuple[str, bytes]]) -> None:
    async for message in client.messages:
        seen.append((str(message.topic), bytes(message.payload)))


async def _until(predicate, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_nation_outside_the_lane_is_refused_another_nations_private_topic(live_broker):
    """USA files a record for MEX (a USA -> MEX lane). CAN, outside the lane, subscribes to
    MEX's private topic by name and to everything under the chain: it receives nothing of it,
    nor does CAN's node login or the operator; MEX's records login receives the record. CAN then
    forges a record under USA's name on MEX's topic: the broker drops it."""
    record = b"record for MEX: 734219865431 g, consignee 9f3a61c0b2d84e7a55c1"
    to_mex = private_topic(LIVE_CHAIN_ID, "MEX", "USA")
    to_can = private_topic(LIVE_CHAIN_ID, "CAN", "USA")

    async def scenario():
        mex_seen, can_seen, can_node_seen, op_seen = [], [], [], []
        async with _client(live_broker, records_login("MEX")) as mex, \
                _client(live_broker, records_login("CAN")) as can, \
                _client(live_broker, "CAN") as can_node, \
                _client(live_broker, OPERATOR) as op, \
                _client(live_broker, records_login("USA")) as usa:
            await mex.subscribe(private_inbox(LIVE_CHAIN_ID, "MEX"), qos=1)
            # Mosquitto 2.0 grants these subscriptions and applies the read ACL to each
            # message: the refusal is that nothing is delivered.
            await can.subscribe(private_inbox(LIVE_CHAIN_ID, "MEX"), qos=1)
            await can.subscribe(f"{private_prefix(LIVE_CHAIN_ID)}/#", qos=1)
            await can.subscribe("#", qos=1)
            await can_node.subscribe("#", qos=1)
            await op.subscribe("#", qos=1)
            readers = [asyncio.create_task(_read(c, s)) for c, s in
                       ((mex, mex_seen), (can, can_seen), (can_node, can_node_seen),
                        (op, op_seen))]
            try:
                await can.publish(to_mex, b"forged by CAN under USA's name", qos=1)
                await usa.publish(to_mex, record, qos=1)
                # Sent after the record on the same connection: once CAN has its own record,
                # MEX's would have come first had the broker let it through.
                await usa.publish(to_can, b"record for CAN", qos=1)
                await _until(lambda: (to_mex, record) in mex_seen, "MEX's record")
                await _until(lambda: (to_can, b"record for CAN") in can_seen, "CAN's record")
                await asyncio.sleep(QUIET_S)
            finally:
                for task in readers:
                    task.cancel()
        return mex_seen, can_seen, can_node_seen, op_seen

    mex_seen, can_seen, can_node_seen, op_seen = asyncio.run(scenario())
    assert mex_seen == [(to_mex, record)], "the lane member gets the record, and only it"
    # (its own record once per overlapping subscription)
    assert set(can_seen) == {(to_can, b"record for CAN")}, "the outsider gets its own only"
    for seen in (can_node_seen, op_seen):
        assert not [t for t, _ in seen if t.startswith(private_prefix(LIVE_CHAIN_ID))], seen


def test_a_nations_node_login_cannot_write_or_read_private_records(live_broker):
    """The node logins carry the chain only: USA's node cannot file a private record, and
    MEX's node cannot read one filed for MEX."""
    to_mex = private_topic(LIVE_CHAIN_ID, "MEX", "USA")

    async def scenario():
        mex_seen, node_seen = [], []
        async with _client(live_broker, records_login("MEX")) as mex, \
                _client(live_broker, "MEX") as mex_node, \
                _client(live_broker, "USA") as usa_node, \
                _client(live_broker, records_login("USA")) as usa:
            await mex.subscribe(private_inbox(LIVE_CHAIN_ID, "MEX"), qos=1)
            await mex_node.subscribe(private_inbox(LIVE_CHAIN_ID, "MEX"), qos=1)
            readers = [asyncio.create_task(_read(mex, mex_seen)),
                       asyncio.create_task(_read(mex_node, node_seen))]
            try:
                await usa_node.publish(to_mex, b"from USA's node", qos=1)
                await usa.publish(to_mex, b"from USA's records", qos=1)
                await _until(lambda: len(mex_seen) >= 1, "MEX's record")
                await asyncio.sleep(QUIET_S)
            finally:
                for task in readers:
                    task.cancel()
        return mex_seen, node_seen

    mex_seen, node_seen = asyncio.run(scenario())
    assert mex_seen == [(to_mex, b"from USA's records")]
    assert node_seen == []
