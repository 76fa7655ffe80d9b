"""The live transport's shim: a scenario's network model and a Byzantine sender's wire faults,
applied to real MQTT traffic.

Theory of operation
-------------------

Kernel network emulation (netem) is not available where the live runtime runs, and the broker
fans each broadcast out to every subscriber, so the per-link network model is applied by the
RECEIVER: when a peer's message reaches a node's transport, `LinkShim.arrivals(peer)` draws,
for the directed link peer -> me, what the simulated network (scenarios/sim/network.py) draws
for it, in the same order: loss, duplication, then for each copy jitter and reordering with its
hold-back. The answer is a list of delays in seconds: empty for a lost message, two for a
duplicated one. The transport holds each copy that long before it enters the node's inbound
queue; a message held back longer than the next one arrives after it (reordering).

Every link has its own random stream, seeded from the scenario's seed and the link's two
nations (`random.Random` seeds a string through SHA-512, so the stream is the same in every
process and run): the draws of one link do not depend on the traffic of another, and a test can
replay a link's draws exactly. What the real run does with them still depends on timing.

Ticks become seconds with the cluster's tick length: a latency of 20 ticks at 2 ms a tick holds
a message 40 ms, so the ratio of latency to the protocol's timeouts (also in ticks) is the
simulated one. The broker's own delay (well under a millisecond on loopback) comes on top.

`SenderFaults` is what a Byzantine sender does to its own messages on the wire, which the
simulated world also does on the wire rather than through node hooks: `mute` (sends nothing to
its peers; the status for the driver still goes), `invalid_signature` (flips the last byte of a
share `rate` of its messages: for signed messages, the signature), `delay` (holds every message
`ticks` longer). Each has the behaviour's window in ticks. Its draws come from one seeded
stream too.

A link's settings may change over time (`Epochs`, from a scenario's `[[network.change]]`): the
shim reads the node's clock and takes the settings of the epoch it is in, as the simulated
network takes those of the tick a message is sent at.

What the shim cannot model (docs/live.md, "The network model live"): a link faster than the
broker (its delay is a floor), loss that is correlated in time (bursts), bandwidth and queueing
in the network (only the node's own queues fill), reordering inside the broker (MQTT keeps each
publisher's order; only the shim reorders), and per-receiver corruption of one broadcast (a
sender's corrupted message is corrupted for every peer, since the broker copies one publish).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

REORDER_HOLD_FACTOR = 4  # as scenarios/sim/network.py: a held message waits up to 4 x latency


@dataclass(frozen=True, slots=True)
class LinkParams:
    """One directed link's model, in ticks and probabilities (a scenario's `[network]` keys)."""

    latency_ticks: int = 0
    jitter_ticks: int = 0
    loss_probability: float = 0.0
    duplicate_probability: float = 0.0
    reorder_probability: float = 0.0

    def __post_init__(self) -> None:
        for name in ("loss_probability", "duplicate_probability", "reorder_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be from 0 to 1, got {value!r}")
        if self.latency_ticks < 0 or self.jitter_ticks < 0:
            raise ValueError("latency_ticks and jitter_ticks must be >= 0")

    @property
    def idle(self) -> bool:
        """Whether the link changes nothing (no delay, loss, duplicate or hold-back)."""
        return not (self.latency_ticks or self.jitter_ticks or self.loss_probability
                    or self.duplicate_probability or self.reorder_probability)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_json(cls, raw: dict) -> "LinkParams":
        if not isinstance(raw, dict) or set(raw) - set(cls.__slots__):
            raise ValueError(f"a link must be an object of {', '.join(cls.__slots__)}")
        return cls(**raw)


def _first(epoch: tuple[int, LinkParams]) -> int:
    return epoch[0]


def link_seed(seed: int, src: str, dst: str) -> str:
    """The seed of the directed link src -> dst's random stream."""
    return f"chemtrace-link/{seed}/{src}->{dst}"


Epochs = tuple[tuple[int, LinkParams], ...]
"""A link's settings over time: (first tick, params), by tick, the first from tick 0 (a
scenario's `[[network.change]]` starts a new epoch)."""


class LinkShim:
    """The links into one node: `links[peer]` is the model of peer -> me, one `LinkParams` for
    the whole run or its `Epochs`. A peer without an entry (or idle in every epoch) is delivered
    at once and draws nothing. `now_ticks` (the node's clock) picks the epoch; without it the
    first one holds."""

    def __init__(self, me: str, links: dict[str, LinkParams | Epochs], seed: int, tick_ms: float,
                 now_ticks: Callable[[], int] | None = None) -> None:
        self.me = me
        self.tick_s = tick_ms / 1000.0
        self.now_ticks = now_ticks
        epochs = {p: ((0, l),) if isinstance(l, LinkParams) else tuple(sorted(l, key=_first))
                  for p, l in links.items()}
        self.links = {p: e for p, e in epochs.items() if not all(l.idle for _, l in e)}
        self._rngs = {p: random.Random(link_seed(seed, p, me)) for p in self.links}
        self.lost: dict[str, int] = {}
        self.duplicated: dict[str, int] = {}
        self.held: dict[str, int] = {}  # copies delayed by a reordering hold-back

    def link(self, peer: str) -> LinkParams | None:
        """The settings of peer -> me now, or None when the link changes nothing ever."""
        epochs = self.links.get(peer)
        if epochs is None:
            return None
        if len(epochs) == 1 or self.now_ticks is None:
            return epochs[0][1]
        now = self.now_ticks()
        current = epochs[0][1]
        for first, params in epochs:
            if first > now:
                break
            current = params
        return current

    def arrivals(self, peer: str) -> list[float]:
        """Delays in seconds for one message from `peer`: [] lost, two entries duplicated.
        The draws are the simulated network's, in its order (scenarios/sim/network.py)."""
        link = self.link(peer)
        if link is None or link.idle:
            return [0.0]
        rng = self._rngs[peer]
        if link.loss_probability and rng.random() < link.loss_probability:
            self.lost[peer] = self.lost.get(peer, 0) + 1
            return []
        copies = 1
        if link.duplicate_probability and rng.random() < link.duplicate_probability:
            copies = 2
            self.duplicated[peer] = self.duplicated.get(peer, 0) + 1
        out = []
        latency, jitter = link.latency_ticks, link.jitter_ticks
        for _ in range(copies):
            delay = latency
            if jitter:
                delay += rng.randint(-jitter, jitter)
            if link.reorder_probability and rng.random() < link.reorder_probability:
                delay += rng.randint(1, max(1, REORDER_HOLD_FACTOR * latency))
                self.held[peer] = self.held.get(peer, 0) + 1
            out.append(max(1, delay) * self.tick_s)  # at least a tick, as simulated
        return out


@dataclass(frozen=True, slots=True)
class Window:
    """A behaviour's window in ticks: from `from_tick` up to (not including) `until_tick`."""

    from_tick: int = 0
    until_tick: int | None = None

    def active(self, tick: int) -> bool:
        return self.from_tick <= tick and (self.until_tick is None or tick < self.until_tick)


@dataclass
class SenderFaults:
    """A Byzantine sender's faults on the wire (see the module docstring). `now_ticks` is the
    node's clock; `seed` seeds the corruption draws."""

    now_ticks: Callable[[], int]
    tick_ms: float
    seed: int = 0
    mute: tuple[Window, ...] = ()
    corrupt: tuple[tuple[Window, float], ...] = ()  # (window, rate)
    delay: tuple[tuple[Window, int], ...] = ()  # (window, ticks)
    muted: int = 0
    corrupted: int = 0
    delayed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"chemtrace-wire/{self.seed}")

    def outbound(self, data: bytes) -> list[tuple[float, bytes]]:
        """What goes out for one message to peers: [] when muted, else one (delay_s, bytes)."""
        now = self.now_ticks()
        if any(w.active(now) for w in self.mute):
            self.muted += 1
            return []
        for window, rate in self.corrupt:
            if window.active(now) and data and self._rng.random() < rate:
                data = data[:-1] + bytes([data[-1] ^ 0x01])
                self.corrupted += 1
                break
        # The first open window's delay, as the simulated world takes the first active one.
        delay_ticks = next((ticks for window, ticks in self.delay if window.active(now)), 0)
        if delay_ticks:
            self.delayed += 1
        return [(delay_ticks * self.tick_ms / 1000.0, data)]
