"""The live transport and runtime pieces that need no broker: topic layout, broker URLs, the
transport's gates (size, topic, partition filter, control), the tick clock, the ledger export,
batched submissions and persist-before-send at the runtime boundary."""

from __future__ import annotations

import asyncio
import time

import pytest

from consensus import Proposal, Vote
from nodes import Genesis, MemoryStorage, Node, NodeConfig, SendAll, Transaction, VerifyCache
from nodes.live.runtime import TickClock, export_ledger, read_ledger_export
from nodes.live.transport import (
    PAYLOAD_BYTES_MAX,
    TXS_PREFIX,
    BrokerUrl,
    BrokerUrlError,
    Inbound,
    Topics,
    Transport,
)
from nodes.wire.messages import TXS_PER_MESSAGE_MAX, TxBatch, decode

NATIONS = ("USA", "MEX", "CAN", "CHN")


def test_topic_layout():
    t = Topics("chain-1")
    assert t.msg("USA") == "chemtrace/chain-1/v1/USA/msg"
    assert t.to("USA", "MEX") == "chemtrace/chain-1/v1/USA/to/MEX"
    assert t.status("USA") == "chemtrace/chain-1/v1/USA/status"
    assert t.submit("MEX") == "chemtrace/chain-1/v1/submit/MEX"
    assert t.control("MEX") == "chemtrace/chain-1/v1/control/MEX"
    assert t.parse(t.msg("USA")) == ("msg", "USA")
    assert t.parse(t.to("USA", "MEX")) == ("to", "USA")
    assert t.parse(t.submit("MEX")) == ("submit", "MEX")
    assert t.parse("chemtrace/other/v1/USA/msg") is None
    assert t.parse("chemtrace/chain-1/v1/USA/msg/extra") is None
    with pytest.raises(ValueError, match="topic level"):
        Topics("a/b")


def test_broker_url():
    u = BrokerUrl.parse("mqtt://USA:p%40ss@127.0.0.1:1999")
    assert (u.host, u.port, u.username, u.password) == ("127.0.0.1", 1999, "USA", "p@ss")
    assert BrokerUrl.parse("mqtt://localhost").port == 1883
    for bad in ("http://x:1", "mqtt://", "mqtt://h:99999"):
        with pytest.raises(BrokerUrlError, match="mqtt://"):
            BrokerUrl.parse(bad)


def _transport(**kw) -> Transport:
    return Transport(BrokerUrl("127.0.0.1", 1), Topics("c"), "USA", NATIONS, **kw)


def _drain(t, urgent: bool) -> list:
    items = []
    while (item := t.inbox.pop(urgent)) is not None:
        items.append(item)
    return items


def test_transport_gates_count_what_they_drop():
    async def go():
        t = _transport(payload_bytes_max=100)
        topics = t.topics
        t.accept(topics.msg("MEX"), b"x" * 101)
        t.accept("elsewhere/MEX/msg", b"x")
        t.accept(topics.msg("MEX"), b"ok")
        t.accept(topics.control("USA"), b'{"drop_from": ["MEX", "USA"]}')
        t.accept(topics.msg("MEX"), b"cut off")
        t.accept(topics.to("MEX", "USA"), b"cut off too")
        t.accept(topics.msg("CAN"), b"still heard")
        t.send_to("MEX", b"not sent")
        t.accept(topics.control("USA"), b'{"drop_from": "MEX"}')
        t.accept(topics.control("USA"), b"\xff")
        t.accept(topics.msg("CAN"), b"\x93\x03 gossip")
        t.accept(topics.submit("USA"), b"a submission")
        return t, _drain(t, urgent=True), _drain(t, urgent=False)
    t, urgent, bulk = asyncio.run(go())
    assert urgent == [Inbound("msg", "MEX", b"ok"), Inbound("msg", "CAN", b"still heard")]
    # Transaction gossip and submissions wait in the bulk lane, behind consensus.
    assert bulk == [Inbound("msg", "CAN", b"\x93\x03 gossip"),
                    Inbound("submit", "USA", b"a submission")]
    assert t.drop_from == frozenset({"MEX"})  # never itself
    assert t.dropped == {"oversized": 1, "bad_topic": 1, "partition": 2, "partition_out": 1,
                         "bad_control": 2}
    assert t.outbox_len() == 0
    assert _transport().payload_bytes_max == PAYLOAD_BYTES_MAX


def test_tick_clock_counts_from_the_epoch():
    clock = TickClock(2.0, time.time() - 1.0)
    assert 480 <= clock.now() <= 520
    assert TickClock(2.0, time.time() + 100).now() == 0  # before the epoch the clock waits
    assert clock.seconds(500) == 1.0
    with pytest.raises(ValueError):
        TickClock(0)


def _nodes(storages=None):
    g, ids = Genesis.simulated("t", [(n, 1) for n in NATIONS], 3)
    cache = VerifyCache()
    storages = storages or {n: MemoryStorage() for n in NATIONS}
    return g, ids, {n: Node(ids[n], g, cache, storages[n], NodeConfig()) for n in NATIONS}


def test_submit_batch_gossips_one_message_per_batch():
    g, ids, nodes = _nodes()
    txs = tuple(Transaction.create(g.chain_id, ids["USA"], "payload", i, b"p")
                for i in range(TXS_PER_MESSAGE_MAX + 5))
    sends = [a for a in nodes["USA"].submit_batch(txs, 0) if isinstance(a, SendAll)]
    assert [len(decode(g.chain_id, s.data).txs) for s in sends] == [TXS_PER_MESSAGE_MAX, 5]
    assert isinstance(decode(g.chain_id, sends[0].data), TxBatch)
    assert sends[0].data[:2] == TXS_PREFIX  # what the transport sorts into the bulk lane
    assert nodes["USA"].submit_batch(txs, 0) == []  # all pooled already: nothing to gossip


def _key(m) -> tuple:
    # What a message says, without its signature (the record holds what the core decided;
    # the node signs it on the way out).
    return (type(m).__name__, getattr(m, "step", None), m.height, m.round, m.value_id)


def test_persist_before_send_every_signed_message_is_in_the_wal_when_returned():
    g, ids, nodes = _nodes()
    checked = 0

    def check(sender: str, actions: list) -> list:
        nonlocal checked
        wal = nodes[sender].storage.wal
        stored = {_key(m) for m in wal.own_votes} if wal is not None else set()
        for action in actions:
            if isinstance(action, SendAll):
                message = decode(g.chain_id, action.data)
                if isinstance(message, (Proposal, Vote)):
                    # When the node hands the runtime a send, the record holding it is stored.
                    assert _key(message) in stored, message
                    checked += 1
        return [(sender, a) for a in actions]

    pending = [p for n in NATIONS for p in check(n, nodes[n].start(0))]
    for _ in range(5000):
        if not pending or min(n.ledger.height for n in nodes.values()) >= 3:
            break
        sender, action = pending.pop(0)
        if isinstance(action, SendAll):
            for n in NATIONS:
                if n != sender:
                    pending += check(n, nodes[n].on_bytes(action.data, 1))
    assert checked >= 24 and min(n.ledger.height for n in nodes.values()) >= 3


def test_ledger_export_round_trip_and_damage(tmp_path):
    g, ids, nodes = _nodes()
    pending = [(n, a) for n in NATIONS for a in nodes[n].start(0)]
    while pending and nodes["USA"].ledger.height < 3:
        sender, action = pending.pop(0)
        if isinstance(action, SendAll):
            for n in NATIONS:
                if n != sender:
                    pending += [(n, a) for a in nodes[n].on_bytes(action.data, 1)]
    path = tmp_path / "ledger.export"
    assert export_ledger(nodes["USA"], path) == nodes["USA"].ledger.height >= 3
    blocks = read_ledger_export(path, g.chain_id)
    assert [c.block.block_id for c in blocks] == [
        nodes["USA"].ledger.get(h).block.block_id for h in range(1, len(blocks) + 1)]
    assert blocks[0].certificate == nodes["USA"].ledger.get(1).certificate
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="ledger.export: record"):
        read_ledger_export(path, g.chain_id)
