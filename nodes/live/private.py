"""Private records over the broker: the records offices of the nations, one broker login each.

Theory of operation
-------------------

In a private mode (docs/privacy.md) the chain carries a sealed envelope and the event's private
record goes to the nations of its lane. Live, each nation's records office (the client that
files its events and keeps what its lanes send it; not its node, which carries the chain only)
logs in as `<NATION>-records` (nodes/live/brokerconf.py `records_login`) and:

- subscribes to `private_inbox(chain_id, NATION)`, which the broker's ACL lets it alone read;
- sends a record it files to each other nation of the lane, one publication per recipient on
  `private_topic(chain_id, RECIPIENT, NATION)`, QoS 1. A lane changes with every shipment, so
  a topic per recipient is what a static ACL can guard.

`RecordCourier` holds the records offices of a set of nations in one process (the cluster
driver plays every nation's clients, as it signs their transactions). It knows bytes, topics
and logins only: what a record is and how it is checked against the chain is the caller's
(`on_record`, scenarios/trade/privacy.py `PrivateLanes.receive`). A message on a topic that is
not `<prefix>/<this recipient>/<a nation>`, or larger than `bytes_max`, is dropped and counted
by reason (`dropped`) before it reaches the caller; nothing from the network raises.

A record that cannot be sent (the broker away) stays queued and is sent again when the records
office is back, so a broker restart delays records but does not lose the ones filed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable

import aiomqtt

from nodes.live.brokerconf import private_inbox, private_prefix, private_topic, records_login

log = logging.getLogger("chemtrace.live.private")
RECONNECT_S = 0.5
FLUSH_WAIT_S = 0.05
KEEPALIVE_S = 10


class RecordCourier:
    def __init__(self, host: str, port: int, chain_id: str, nations: tuple[str, ...],
                 passwords: dict[str, str], on_record: Callable[[str, str, bytes], None],
                 bytes_max: int) -> None:
        """`passwords`: records login -> password, for each of `nations`. `on_record(recipient,
        sender, record)` gets each record that reached a recipient's office, with the sender
        the broker vouches for (the topic's last level, which only the sender may write)."""
        missing = [records_login(n) for n in nations if records_login(n) not in passwords]
        if missing:
            raise ValueError(f"no broker password for {', '.join(missing)}")
        self.host, self.port, self.chain_id = host, port, chain_id
        self.nations = tuple(nations)
        self.passwords = passwords
        self.on_record = on_record
        self.bytes_max = bytes_max
        self.prefix = private_prefix(chain_id)
        self.outbox: deque[tuple[str, str, bytes]] = deque()  # (sender, recipient, record)
        self.sent = self.received = self.bytes_sent = self.bytes_received = 0
        self.dropped: dict[str, int] = {}
        self._clients: dict[str, aiomqtt.Client] = {}
        self._tasks: list[asyncio.Task] = []
        self._wake: asyncio.Event | None = None
        self._closing = False

    # ------------------------------------------------------------ sending

    def send(self, sender: str, recipient: str, record: bytes) -> None:
        """Queue `record`, filed by `sender`, for `recipient`'s office. Callable before
        `start` (the queue is sent once the offices are connected)."""
        self.outbox.append((sender, recipient, record))
        if self._wake is not None:
            self._wake.set()

    async def _flush(self) -> None:
        while not self._closing:
            while self.outbox:
                sender, recipient, record = self.outbox[0]
                if sender not in self.nations:
                    self.outbox.popleft()
                    self._count("unknown_sender_office")
                    continue
                client = self._clients.get(sender)
                if client is None:
                    break  # the office is reconnecting: keep it queued, try again
                try:
                    await client.publish(private_topic(self.chain_id, recipient, sender),
                                         record, qos=1)
                except aiomqtt.MqttError:
                    break  # the broker is away: keep it queued, try again
                self.outbox.popleft()
                self.sent += 1
                self.bytes_sent += len(record)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(),
                                       RECONNECT_S if self.outbox else FLUSH_WAIT_S)
            except TimeoutError:
                pass

    # ------------------------------------------------------------ receiving

    def deliver(self, recipient: str, topic: str, payload: object) -> None:
        """One message that reached `recipient`'s office: checked for its topic and size, then
        handed to `on_record`. Dropped and counted otherwise."""
        levels = topic[len(self.prefix) + 1:].split("/") if topic.startswith(
            self.prefix + "/") else []
        if len(levels) != 2 or levels[0] != recipient or levels[1] not in self.nations:
            self._count("bad_private_topic")
            return
        if not isinstance(payload, (bytes, bytearray)):
            self._count("malformed_record")
            return
        if len(payload) > self.bytes_max:
            self._count("oversized_record")
            return
        self.received += 1
        self.bytes_received += len(payload)
        self.on_record(recipient, levels[1], bytes(payload))

    async def _office(self, nation: str, ready: asyncio.Event) -> None:
        """One records office: connect, subscribe to its inbox, read; reconnect when the
        broker goes away."""
        login = records_login(nation)
        while not self._closing:
            client = aiomqtt.Client(self.host, self.port, username=login,
                                    password=self.passwords[login], keepalive=KEEPALIVE_S)
            try:
                async with client:
                    await client.subscribe(private_inbox(self.chain_id, nation), qos=1)
                    self._clients[nation] = client
                    ready.set()
                    if self._wake is not None:
                        self._wake.set()
                    async for message in client.messages:
                        self.deliver(nation, str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                self._clients.pop(nation, None)
                if self._closing:
                    return
                log.warning("records office of %s: %s; reconnecting", nation, exc)
                await asyncio.sleep(RECONNECT_S)

    # ------------------------------------------------------------ life cycle

    async def start(self, wait_s: float = 10.0) -> None:
        """Connect every office and subscribe it; then send what was queued."""
        self._wake = asyncio.Event()
        readies = []
        for nation in self.nations:
            ready = asyncio.Event()
            readies.append(ready)
            self._tasks.append(asyncio.create_task(self._office(nation, ready),
                                                   name=f"records-{nation}"))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), wait_s)
        self._tasks.append(asyncio.create_task(self._flush(), name="records-flush"))

    async def close(self, drain_s: float = 2.0) -> None:
        """Send what is queued (for up to `drain_s`), then disconnect every office."""
        deadline = asyncio.get_running_loop().time() + drain_s
        while self.outbox and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, aiomqtt.MqttError):
                pass
        self._tasks.clear()

    def summary(self) -> dict:
        return {"sent": self.sent, "received": self.received, "bytes_sent": self.bytes_sent,
                "bytes_received": self.bytes_received, "queued": len(self.outbox),
                "dropped": dict(sorted(self.dropped.items()))}

    def _count(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
