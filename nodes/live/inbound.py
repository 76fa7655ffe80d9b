"""The live node's inbound queue: bounded in entries and bytes, ordered by what consensus needs.

Theory of operation
-------------------

The transport reads every MQTT message the broker hands it straight into an `InboundQueue`
(nodes/live/transport.py); nothing waits in the MQTT client's own queue. Each message is put in
one of three classes, from its topic and first bytes, without decoding it:

    CURRENT   a proposal or vote that claims the node's current height (`peek_consensus_height`)
    URGENT    anything else a peer publishes on its own topics but transaction gossip: consensus
              of other heights, sync requests and answers, and junk (the node judges it)
    BULK      transaction gossip (a TXS message) and client submissions

The runtime takes CURRENT, then URGENT, then BULK. A message gets in only past three gates, and
each refusal is counted by reason and by topic (`dropped`, e.g. {"rate_limited": {"USA/msg":
3}}); the node's status publishes the counts:

- `rate_limited`: each nation has a token bucket in messages and one in bytes for the topics it
  can write (`<NATION>/msg`, `<NATION>/to/<ME>`); the broker's ACL makes the topic's nation the
  publisher's login, so one hostile login drains its own buckets only.
- `sender_share`: no sender (a nation, or the operator for submissions) holds more than an equal
  share of the queue's entries, or of its bytes (never less than one largest message): a flood
  from one login cannot crowd out the others.
- `queue_full` and `evicted`: when the queue is full in entries or bytes, a new message takes
  the place of the oldest of a lower class (that one is `evicted`); with none below it, the new
  one is refused (`queue_full`). An honest vote of the current height therefore displaces gossip
  and junk, never the reverse.

A flood is logged once per `DROP_LOG_EVERY_S` at most (what was dropped since the last line),
never a line per message. Time for the buckets is whatever clock the caller passes (the
transport's monotonic clock); this module does no I/O.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from nodes.chain.codec import MESSAGE_BYTES_MAX
from nodes.wire.messages import peek_consensus_height

CURRENT, URGENT, BULK = 0, 1, 2
CLASS_NAMES = ("current", "urgent", "bulk")
TXS_PREFIX = b"\x93\x03"  # msgpack: fixarray of 3, first field 3 (nodes/wire/messages.py TXS)
DROP_LOG_EVERY_S = 10.0
OPERATOR = "operator"  # the sender of submissions, for the shares

log = logging.getLogger("chemtrace.transport")


@dataclass(frozen=True, slots=True)
class InboundLimits:
    """The bounds of one node's inbound queue and of each sender's rate. The defaults leave an
    honest 4-nation cluster at 2,200 tx/s (docs/live.md, bench-live) far below every bound."""

    queue_entries_max: int = 20_000
    queue_bytes_max: int = 256 * 1024 * 1024
    sender_messages_per_s: float = 2_000.0
    sender_messages_burst: int = 4_000
    sender_bytes_per_s: float = 64 * 1024 * 1024
    sender_bytes_burst: int = 2 * MESSAGE_BYTES_MAX

    def __post_init__(self) -> None:
        if self.queue_entries_max < 1 or self.queue_bytes_max < 1:
            raise ValueError("queue_entries_max and queue_bytes_max must be at least 1")
        if min(self.sender_messages_per_s, self.sender_bytes_per_s) <= 0:
            raise ValueError("sender rates must be above 0")
        if self.sender_messages_burst < 1 or self.sender_bytes_burst < MESSAGE_BYTES_MAX:
            raise ValueError(f"sender_messages_burst must be at least 1 and sender_bytes_burst "
                             f"at least one largest message ({MESSAGE_BYTES_MAX} bytes)")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message that passed the transport's checks: `channel` from `Topics.parse`, `nation`
    the publishing peer for 'msg'/'to' (the addressee, us, for 'submit'), and the payload bytes,
    undecoded."""

    channel: str
    nation: str
    payload: bytes


class TokenBucket:
    """`rate` tokens a second up to `burst`; `take(n, now_s)` spends n if there are that many."""

    __slots__ = ("rate", "burst", "tokens", "at_s")

    def __init__(self, rate: float, burst: float, now_s: float) -> None:
        self.rate, self.burst, self.tokens, self.at_s = rate, burst, float(burst), now_s

    def take(self, amount: float, now_s: float) -> bool:
        if now_s > self.at_s:
            self.tokens = min(self.burst, self.tokens + (now_s - self.at_s) * self.rate)
            self.at_s = now_s
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


class InboundQueue:
    """See the module docstring. `height` is the node's current height, set by the runtime."""

    def __init__(self, limits: InboundLimits, senders: int, owner: str = "") -> None:
        self.limits = limits
        self.owner = owner  # the node's nation, for the log
        self.height = 1
        self._lanes: tuple[deque, deque, deque] = (deque(), deque(), deque())
        self.entries = 0
        self.bytes = 0
        senders = max(1, senders)
        self.sender_entries_max = max(1, limits.queue_entries_max // senders)
        self.sender_bytes_max = max(MESSAGE_BYTES_MAX, limits.queue_bytes_max // senders)
        self._held: dict[str, list[int]] = {}  # sender -> [entries, bytes] in the queue
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self.dropped: dict[str, dict[str, int]] = {}
        self.received_by_class = [0, 0, 0]
        self._unlogged = 0
        self._logged_at_s: float | None = None

    def __len__(self) -> int:
        return self.entries

    def __bool__(self) -> bool:
        return self.entries > 0

    def lengths(self) -> dict[str, int]:
        return {name: len(lane) for name, lane in zip(CLASS_NAMES, self._lanes)}

    def put(self, item: Inbound, now_s: float) -> bool:
        """Queue `item` (True), or drop and count it (False)."""
        size = len(item.payload)
        sender = OPERATOR if item.channel == "submit" else item.nation
        topic = "submit" if item.channel == "submit" else f"{item.nation}/{item.channel}"
        if item.channel != "submit" and not self._within_rate(sender, size, now_s):
            return self._drop("rate_limited", topic, now_s)
        held = self._held.get(sender)
        if held is not None and (held[0] >= self.sender_entries_max
                                 or held[1] + size > self.sender_bytes_max):
            return self._drop("sender_share", topic, now_s)
        cls = self._class_of(item)
        limits = self.limits
        while (self.entries >= limits.queue_entries_max
               or self.bytes + size > limits.queue_bytes_max):
            if not self._evict_below(cls, now_s):
                return self._drop("queue_full", topic, now_s)
        self._lanes[cls].append((item, sender, topic))
        self.entries += 1
        self.bytes += size
        if held is None:
            held = self._held[sender] = [0, 0]
        held[0] += 1
        held[1] += size
        self.received_by_class[cls] += 1
        return True

    def pop(self, urgent: bool) -> Inbound | None:
        """The next message of the CURRENT or URGENT classes (`urgent`), or of BULK; None if
        there is none."""
        for cls in ((CURRENT, URGENT) if urgent else (BULK,)):
            lane = self._lanes[cls]
            if lane:
                item, sender, _ = lane.popleft()
                self._release(item, sender)
                return item
        return None

    def _class_of(self, item: Inbound) -> int:
        payload = item.payload
        if item.channel == "submit" or payload[:2] == TXS_PREFIX:
            return BULK
        return CURRENT if peek_consensus_height(payload) == self.height else URGENT

    def _within_rate(self, sender: str, size: int, now_s: float) -> bool:
        buckets = self._buckets.get(sender)
        if buckets is None:
            limits = self.limits
            buckets = self._buckets[sender] = (
                TokenBucket(limits.sender_messages_per_s, limits.sender_messages_burst, now_s),
                TokenBucket(limits.sender_bytes_per_s, limits.sender_bytes_burst, now_s))
        messages, volume = buckets
        # Check both before spending either: a message refused costs its sender nothing more.
        if not messages.take(1, now_s):
            return False
        if not volume.take(size, now_s):
            messages.tokens += 1
            return False
        return True

    def _evict_below(self, cls: int, now_s: float) -> bool:
        for lower in (BULK, URGENT):
            if lower <= cls:
                break
            lane = self._lanes[lower]
            if lane:
                item, sender, topic = lane.popleft()
                self._release(item, sender)
                self._drop("evicted", topic, now_s)
                return True
        return False

    def _release(self, item: Inbound, sender: str) -> None:
        size = len(item.payload)
        self.entries -= 1
        self.bytes -= size
        held = self._held[sender]
        held[0] -= 1
        held[1] -= size
        if not held[0]:
            del self._held[sender]

    def _drop(self, reason: str, topic: str, now_s: float) -> bool:
        by_topic = self.dropped.get(reason)
        if by_topic is None:
            by_topic = self.dropped[reason] = {}
        by_topic[topic] = by_topic.get(topic, 0) + 1
        self._unlogged += 1
        if self._logged_at_s is None or now_s - self._logged_at_s >= DROP_LOG_EVERY_S:
            log.warning("%s: inbound queue dropped %d message(s) since the last such line "
                        "(totals by reason and topic: %s); the node's status has them under "
                        "'inbound_dropped'", self.owner, self._unlogged, self.dropped)
            self._unlogged = 0
            self._logged_at_s = now_s
        return False

    def dropped_totals(self) -> dict[str, int]:
        return {reason: sum(by_topic.values()) for reason, by_topic in self.dropped.items()}
