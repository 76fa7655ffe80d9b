"""The live runtime's network: one MQTT connection per nation, through a broker (aiomqtt).

Theory of operation
-------------------

Every topic lives under `chemtrace/<chain_id>/v1/` (`Topics`):

    <NATION>/msg          consensus broadcasts NATION publishes (proposals, votes, tx batches,
                          sync requests); every peer subscribes to it. QoS 1.
    <NATION>/to/<PEER>    direct messages from NATION to PEER (sync responses). QoS 1.
    <NATION>/status       NATION's retained status (JSON) for the cluster driver. QoS 1, retained.
    submit/<NATION>       client submissions to NATION's node (a TXS message of signed txs). QoS 1.
    control/<NATION>      the cluster driver's control messages (JSON), e.g. the partition filter.

A node subscribes to each peer's `msg` and `to/<ME>` topic by name rather than to `+/msg`, so the
broker never echoes its own broadcasts back to it.

The broker is not trusted. It may be down, slow, duplicate, reorder, or (if a credential leaks)
let anyone publish anything. So:
- a payload longer than `payload_bytes_max` is dropped and counted before anything decodes it;
- a message on a topic outside the layout is dropped and counted;
- everything that passes goes, as bytes, into `Node.on_bytes`, whose structure, sender and
  signature gates judge it like any network input (the transport hands over the publishing
  nation from the topic only for the partition filter, never as proof of authorship).

Inbound, every message the client reads goes at once into the node's own bounded queue
(nodes/live/inbound.py `InboundQueue`): bounded in entries and bytes, with per-sender token
buckets and shares, ordered current-height consensus first, then other urgent messages, then
transaction gossip and submissions, and every drop counted by reason and topic. The MQTT
client's own queue is never used (it would drop with a log line each and no counter), and the
client reads up to `READ_PACKETS_PER_EVENT_MAX` packets whenever its socket is readable, so a
flood backed up in the socket is sorted (junk dropped, votes kept) rather than served in order.
The runtime takes every urgent inbound message before a time-boxed share of bulk ones.

Outbound, consensus traffic (proposals, votes, sync, status) is `urgent` and transaction gossip
`bulk`; the publisher sends urgent messages first.

Bulk messages go out at QoS 0, urgent ones at QoS 1. A broker sends each subscriber a bounded
number of unacknowledged QoS 1 messages (Mosquitto's `max_inflight_messages`, 20 by default)
and queues the rest; QoS 0 is outside that window, so a flood of transaction batches cannot hold
votes back in it. (With the default window, Mosquitto 2.0.11 even stopped delivering QoS 1 to a
busy node for good while QoS 0 went on, and a 4-nation cluster offered 2,500 tx/s stalled; the
generated broker configuration lifts the cap, nodes/live/brokerconf.py.) A lost gossip batch costs
nothing lasting: the transactions stay in the submitting node's mempool and go into its next
proposal, and a validator checks any transaction it has not seen when it checks the block.

Publishing does not wait for each PUBACK before the next: up to `PUBLISH_WINDOW` QoS 1 messages
are in flight at once (MQTT keeps their order per client). A message leaves the outbox when it
is handed to the client; the ones in flight when the connection drops are lost, like those the
broker drops. Consensus retransmits its own votes and state sync fills gaps, so a lost message
costs time, never safety.

When the connection fails the transport reconnects with capped exponential backoff
(`RECONNECT_DELAY_S_MIN` doubling to `RECONNECT_DELAY_S_MAX`) and subscribes again. Messages the
node sends meanwhile wait in the bounded outboxes; when one is full its oldest message is dropped
and counted.

`TCP_NODELAY` is set on the client socket: MQTT QoS 1 is a stream of small packets, and Nagle's
algorithm holding each one back for the previous PUBACK costs tens of milliseconds a hop
(docs/live.md has the measurement).

The shim (nodes/live/shim.py) applies a scenario's network model to real traffic: each message
from a peer is lost, held for its link's latency and jitter, duplicated or held back (reordered)
as the link's seeded draws say, before it enters the inbound queue (`link_loss` counts the
lost). A Byzantine sender's wire faults (mute, corrupted signatures, delay) are applied to what
it publishes. A twin instance (`talk_to`) sends its broadcasts as direct messages to its half of
the peers and drops what the other half sends it (`twin_other_half`).

The partition filter (`drop_from`) is a set of nations whose messages this node ignores, and to
whom it sends no direct message. The cluster driver sets it through `control/<ME>`; a partition
"in both directions" is the filter on both sides.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import select
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import unquote, urlsplit

import aiomqtt

from nodes.live.brokerconf import (
    BrokerError,
    check_chain_id,
    control_topic,
    direct_topic,
    msg_topic,
    status_topic,
    submit_topic,
    topic_prefix,
)
from nodes.chain.codec import MESSAGE_BYTES_MAX
from nodes.live.inbound import TXS_PREFIX, Inbound, InboundLimits, InboundQueue
from nodes.live.shim import LinkShim, SenderFaults

PAYLOAD_BYTES_MAX = MESSAGE_BYTES_MAX
CONTROL_BYTES_MAX = 64 * 1024
OUTBOX_MESSAGES_MAX = 20_000
HELD_MESSAGES_MAX = 20_000  # messages the shim may hold for their links' delays at once
PUBLISH_WINDOW = 64
READ_PACKETS_PER_EVENT_MAX = 512
RECONNECT_DELAY_S_MIN = 0.05
RECONNECT_DELAY_S_MAX = 2.0
KEEPALIVE_S = 10
QOS_CONSENSUS = 1
QOS_BULK = 0
NODELAY_OPTION = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

log = logging.getLogger("chemtrace.transport")


class BrokerUrlError(ValueError):
    """A --broker value that is not mqtt://USER:PASS@HOST:PORT; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> "BrokerUrl":
        parts = urlsplit(text)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise BrokerUrlError(f"--broker {text!r}: write mqtt://USER:PASS@HOST:PORT, "
                                 f"e.g. mqtt://USA:secret@127.0.0.1:1883")
        try:
            port = parts.port or 1883
        except ValueError:
            raise BrokerUrlError(f"--broker {text!r}: the port must be a number from 1 to 65535"
                                 ) from None
        return cls(parts.hostname, port, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def with_credentials(self, username: str, password: str) -> "BrokerUrl":
        return BrokerUrl(self.host, self.port, username, password)


@dataclass(frozen=True, slots=True)
class Topics:
    """One chain's topics. The names come from nodes/live/brokerconf.py, which writes the ACL over
    the same layout, so the two cannot drift apart; this adds parsing."""

    chain_id: str

    def __post_init__(self) -> None:
        try:
            check_chain_id(self.chain_id, "genesis")
        except BrokerError as exc:
            raise ValueError(str(exc)) from None

    @property
    def root(self) -> str:
        return topic_prefix(self.chain_id)

    def msg(self, nation: str) -> str:
        return msg_topic(self.chain_id, nation)

    def to(self, nation: str, peer: str) -> str:
        return direct_topic(self.chain_id, nation, peer)

    def status(self, nation: str) -> str:
        return status_topic(self.chain_id, nation)

    def submit(self, nation: str) -> str:
        return submit_topic(self.chain_id, nation)

    def control(self, nation: str) -> str:
        return control_topic(self.chain_id, nation)

    def parse(self, topic: str) -> tuple[str, str] | None:
        """(channel, nation) for a topic of the layout: channel is 'msg' or 'to' (nation is the
        publisher), 'status', 'submit' or 'control' (nation is the addressee); else None."""
        prefix = self.root + "/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix):].split("/")
        if len(levels) == 2 and levels[0] in ("submit", "control"):
            return levels[0], levels[1]
        if len(levels) == 2 and levels[1] in ("msg", "status"):
            return levels[1], levels[0]
        if len(levels) == 3 and levels[1] == "to":
            return "to", levels[0]
        return None


class _Sink(asyncio.Queue):
    """The MQTT client's incoming queue, replaced: each message goes straight through the
    transport's gates into its `InboundQueue`; nothing is ever queued here."""

    def __init__(self, transport: "Transport", maxsize: int = 0) -> None:
        super().__init__()
        self._transport = transport

    def put_nowait(self, message) -> None:
        transport = self._transport
        transport.received += 1
        transport.accept(str(message.topic), message.payload)


def _read_ahead(client: aiomqtt.Client) -> None:
    """Make the client read up to READ_PACKETS_PER_EVENT_MAX packets each time its socket is
    readable, while more bytes wait there (paho reads one, or as many as it has in flight)."""
    paho = getattr(client, "_client", None)
    read_once = getattr(paho, "loop_read", None)
    if read_once is None:
        return  # another client version: it reads at its own pace; the queue still bounds it

    def loop_read(max_packets: int = 1):
        rc = read_once()
        for _ in range(READ_PACKETS_PER_EVENT_MAX - 1):
            sock = paho.socket()
            if rc or sock is None or not select.select([sock], [], [], 0)[0]:
                break
            rc = read_once()
        return rc

    paho.loop_read = loop_read


class Transport:
    """One nation's MQTT connection. `run()` keeps it up; `send_all`, `send_to` and
    `publish_status` never block and never raise. Inbound messages wait in `inbox` (an
    `InboundQueue` bounded by `limits`); `arrived` is set whenever one is added."""

    def __init__(self, broker: BrokerUrl, topics: Topics, me: str, peers: Iterable[str], *,
                 payload_bytes_max: int = PAYLOAD_BYTES_MAX, nodelay: bool = True,
                 client_id: str | None = None, limits: InboundLimits | None = None,
                 shim: LinkShim | None = None, faults: SenderFaults | None = None,
                 talk_to: Iterable[str] | None = None, status_topic: str | None = None
                 ) -> None:
        """`shim`: the network model of the links into this node; `faults`: a Byzantine
        sender's wire faults; `talk_to`: a twin's half of the peers (None: every peer);
        `status_topic`: where the status goes (default `<ME>/status`; a twin publishes its own
        elsewhere so the driver keeps reading the first instance's)."""
        self.broker = broker
        self.shim = shim
        self.faults = faults
        self.talk_to = frozenset(talk_to) if talk_to is not None else None
        self.held = 0  # messages the shim holds (delayed, not yet in the inbox)
        self.topics = topics
        self.me = me
        self._status_topic = status_topic or topics.status(me)
        self.peers = tuple(sorted(p for p in peers if p != me))
        self.payload_bytes_max = payload_bytes_max
        self.nodelay = nodelay
        self.client_id = client_id or f"chemtrace-{me}"
        # Senders: every peer, and the operator (submissions).
        self.inbox = InboundQueue(limits or InboundLimits(), len(self.peers) + 1, me)
        self.arrived = asyncio.Event()
        self._out_urgent: deque[tuple[str, bytes, bool]] = deque()
        self._out_bulk: deque[tuple[str, bytes, bool]] = deque()
        self._outbox_ready = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self.drop_from: frozenset[str] = frozenset()
        self.dropped: dict[str, int] = {}
        self.connected = asyncio.Event()
        self.connections = 0
        self.reconnects = 0  # not a drop: the drop counters list rejected messages only
        self.published = 0
        self.published_by_qos = [0, 0]
        self.received = 0
        self.bytes_published = 0

    # ------------------------------------------------------------ sending (never blocks)

    def send_all(self, data: bytes, *, bulk: bool = False) -> None:
        box = self._out_bulk if bulk else self._out_urgent
        if self.talk_to is not None:  # a twin: its half of the peers, one by one
            for peer in self.peers:
                if peer in self.talk_to and peer not in self.drop_from:
                    self._send(box, self.topics.to(self.me, peer), data)
            return
        self._send(box, self.topics.msg(self.me), data)

    def send_to(self, peer: str, data: bytes) -> None:
        if peer in self.drop_from:
            self._count("partition_out")
            return
        if self.talk_to is not None and peer not in self.talk_to:
            self._count("twin_other_half_out")
            return
        self._send(self._out_urgent, self.topics.to(self.me, peer), data)

    def publish_status(self, data: bytes) -> None:
        self._enqueue(self._out_urgent, self._status_topic, data, True)

    def _send(self, box: deque, topic: str, data: bytes) -> None:
        """A message to peers, through the sender's wire faults when it has any."""
        if self.faults is None:
            self._enqueue(box, topic, data, False)
            return
        for delay_s, sent in self.faults.outbound(data):
            if delay_s <= 0:
                self._enqueue(box, topic, sent, False)
            else:
                self.held += 1
                asyncio.get_running_loop().call_later(delay_s, self._release_out, box, topic,
                                                      sent)

    def _release_out(self, box: deque, topic: str, data: bytes) -> None:
        self.held -= 1
        self._enqueue(box, topic, data, False)

    def outbox_len(self) -> int:
        return len(self._out_urgent) + len(self._out_bulk) + len(self._in_flight)

    def _enqueue(self, box: deque, topic: str, data: bytes, retain: bool) -> None:
        if len(box) >= OUTBOX_MESSAGES_MAX:
            box.popleft()
            self._count("outbox_full")
        box.append((topic, data, retain))
        self._outbox_ready.set()

    # ------------------------------------------------------------ the connection

    async def run(self) -> None:
        """Connect, subscribe, pump messages both ways; on any failure wait and reconnect.
        Returns only when cancelled."""
        delay_s = RECONNECT_DELAY_S_MIN
        while True:
            try:
                client = aiomqtt.Client(
                    self.broker.host, self.broker.port, username=self.broker.username,
                    password=self.broker.password, identifier=self.client_id,
                    keepalive=KEEPALIVE_S, timeout=5.0,
                    socket_options=(NODELAY_OPTION,) if self.nodelay else (),
                    queue_type=functools.partial(_Sink, self),
                    max_inflight_messages=PUBLISH_WINDOW)
                _read_ahead(client)
                async with client:
                    await self._subscribe(client)
                    self.connections += 1
                    self.connected.set()
                    delay_s = RECONNECT_DELAY_S_MIN
                    log.info("%s connected to %s:%d", self.me, self.broker.host, self.broker.port)
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._pump_in(client))
                        group.create_task(self._pump_out(client))
            except* aiomqtt.MqttError as errors:
                log.warning("%s: broker connection lost (%s); retrying in %.2f s", self.me,
                            errors.exceptions[0], delay_s)
            self.connected.clear()
            self.reconnects += 1
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RECONNECT_DELAY_S_MAX)

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        topics = [self.topics.msg(p) for p in self.peers]
        topics += [self.topics.to(p, self.me) for p in self.peers]
        topics += [self.topics.submit(self.me), self.topics.control(self.me)]
        await client.subscribe([(t, QOS_CONSENSUS) for t in topics])

    async def _pump_in(self, client: aiomqtt.Client) -> None:
        # Messages go through _Sink into the inbox as they are read; this only waits for the
        # connection to fail (the iterator raises MqttError then).
        async for _ in client.messages:
            pass

    def accept(self, topic: str, payload: object) -> None:
        """Judge one message from the broker: the size limit, the topic layout, the partition
        filter, then the inbox's rates, shares and bounds. Public so tests can drive it without
        a broker."""
        if not isinstance(payload, (bytes, bytearray)):
            self._count("malformed")
            return
        if len(payload) > self.payload_bytes_max:
            self._count("oversized")  # before any decoding: a huge payload costs nothing more
            return
        parsed = self.topics.parse(topic)
        if parsed is None:
            self._count("bad_topic")
            return
        channel, nation = parsed
        if channel in ("msg", "to"):
            if nation in self.drop_from:
                self._count("partition")
                return
            if self.talk_to is not None and nation not in self.talk_to:
                self._count("twin_other_half")
                return
            if self.shim is not None:
                delays = self.shim.arrivals(nation)
                if not delays:
                    self._count("link_loss")
                    return
                if delays != [0.0]:
                    if self.held + len(delays) > HELD_MESSAGES_MAX:
                        # A flood must not pile up in timers before the inbound queue's own
                        # bounds and rates judge it.
                        self._count("held_full")
                        return
                    loop = asyncio.get_running_loop()
                    item = Inbound(channel, nation, bytes(payload))
                    for delay_s in delays:
                        self.held += 1
                        loop.call_later(delay_s, self._release_in, item)
                    return
        if channel == "control":
            self._on_control(bytes(payload))
            return
        self._admit(Inbound(channel, nation, bytes(payload)))

    def _admit(self, item: Inbound) -> None:
        if self.inbox.put(item, time.monotonic()):
            self.arrived.set()

    def _release_in(self, item: Inbound) -> None:
        """A message the shim held for its link's delay enters the inbound queue."""
        self.held -= 1
        self._admit(item)

    def _on_control(self, payload: bytes) -> None:
        if len(payload) > CONTROL_BYTES_MAX:
            self._count("bad_control")
            return
        try:
            raw = json.loads(payload)
            drop_from = raw["drop_from"]
            if not isinstance(drop_from, list) or not all(isinstance(n, str) for n in drop_from):
                raise TypeError("drop_from must be a list of nation codes")
        except (ValueError, KeyError, TypeError):
            self._count("bad_control")
            return
        self.drop_from = frozenset(drop_from) - {self.me}
        log.info("%s: partition filter now drops %s", self.me, sorted(self.drop_from) or "none")

    async def _pump_out(self, client: aiomqtt.Client) -> None:
        window = asyncio.Semaphore(PUBLISH_WINDOW)
        try:
            while True:
                while not (self._out_urgent or self._out_bulk):
                    self._outbox_ready.clear()
                    await self._outbox_ready.wait()
                await window.acquire()
                box = self._out_urgent if self._out_urgent else self._out_bulk
                if not box:
                    window.release()
                    continue
                topic, data, retain = box.popleft()
                qos = QOS_CONSENSUS if box is self._out_urgent else QOS_BULK
                task = asyncio.create_task(self._publish(client, topic, data, retain, qos,
                                                         window))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
        finally:
            for task in list(self._in_flight):
                task.cancel()

    async def _publish(self, client: aiomqtt.Client, topic: str, data: bytes, retain: bool,
                       qos: int, window: asyncio.Semaphore) -> None:
        try:
            await client.publish(topic, data, qos=qos, retain=retain)
            self.published += 1
            self.published_by_qos[qos] += 1
            self.bytes_published += len(data)
        except aiomqtt.MqttError:
            # The connection is going; _pump_in sees it and the transport reconnects.
            self._count("lost_in_flight")
        finally:
            window.release()

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every outbox is empty and nothing is in flight (True), or `timeout_s`
        passes (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.outbox_len() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return not self.outbox_len()

    def _count(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
