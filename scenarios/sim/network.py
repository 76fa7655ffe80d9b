"""The simulated network: per-link latency with seeded jitter, loss, duplication, reordering and
partitions, each of which can change over time.

A link's settings come from three layers, the later winning key by key:

1. the global values of `[network]`, as changed by each `[[network.change]]` whose `at_tick` has
   come (a change sets only the keys it names);
2. the base latency of the model: `latency_ticks` for every link (`model = "uniform"`), or the
   region matrix of `scenarios/data/regions.toml` times `latency_scale` (`model = "regions"`);
3. a `[[network.link]]` naming the pair, whose keys hold for the whole run.

Jitter reorders messages: two sent in one order on one link can arrive in the other. With
`reorder_probability`, a message is also held back by an extra delay of 1 to 4 x the link's
latency. Partitions are checked both when a message is sent and when it would arrive, so a
message in flight when a link is cut is lost, as on a real network. A partition may be one-way
(`direction = "outbound"` or `"inbound"`, relative to its first group).

Determinism: every random draw comes from the `rng` given to the constructor, in a fixed order per
message: loss, duplication, then for each copy jitter and reordering (with its hold-back). A draw
is skipped when its probability or range is zero, so scenarios that do not use a feature draw the
same numbers as before it existed.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scenarios.spec.loader import Partition
from scenarios.spec.regions import REGIONS_PATH, load_regions  # noqa: F401  (kept importable here)

REORDER_HOLD_FACTOR = 4  # a reordered message waits up to this many times the link's latency
MODELS = ("uniform", "regions")
DIRECTIONS = ("both", "outbound", "inbound")
# Global settings: the keys of [network] and [[network.change]], with their defaults.
GLOBAL_DEFAULTS = {
    "latency_ticks": 20,
    "latency_scale": 1.0,
    "jitter_ticks": 10,
    "loss_probability": 0.0,
    "duplicate_probability": 0.0,
    "reorder_probability": 0.0,
}
# Keys a [[network.link]] may override.
LINK_KEYS = ("latency_ticks", "jitter_ticks", "loss_probability", "duplicate_probability")


@dataclass(frozen=True, slots=True)
class LinkState:
    """What one directed link does to a message sent at a given tick."""

    latency_ticks: int
    jitter_ticks: int
    loss_probability: float
    duplicate_probability: float
    reorder_probability: float


def nation_regions(nations: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Region of each nation, from nodes/data/nations.csv; KeyError names a nation not listed."""
    from nodes.app.registry import load_nations
    iso = load_nations()
    out = {}
    for n in nations:
        if n not in iso:
            raise KeyError(n)
        out[n] = iso[n].region
    return out


class Network:
    def __init__(self, config: dict, partitions: tuple[Partition, ...], nations: tuple[str, ...],
                 rng: random.Random, regions: Mapping[str, str] | None = None,
                 matrix: Mapping[tuple[str, str], int] | None = None,
                 proposer: Callable[[int, int], str] | None = None) -> None:
        """`config` is a scenario's [network] table. `regions` (nation -> region) and `matrix`
        default to nodes/data/nations.csv and scenarios/data/regions.toml; they are only used
        with model = "regions". `proposer(height, round)` names a round's proposer, for round
        partitions that choose rounds by who leads them (`leaders`)."""
        self.rng = rng
        self.model = config.get("model", "uniform")
        if self.model not in MODELS:
            raise ValueError(f"unknown network model {self.model!r}; use one of {MODELS}")
        base = {k: config.get(k, d) for k, d in GLOBAL_DEFAULTS.items()}
        # Epochs of the global settings: (first tick, settings), sorted by tick.
        self._epoch_ticks = [-1]
        self._epochs = [base]
        for change in sorted(config.get("change") or (), key=lambda c: c["at_tick"]):
            settings = dict(self._epochs[-1])
            settings.update({k: v for k, v in change.items()
                             if k in GLOBAL_DEFAULTS and v is not None})
            self._epoch_ticks.append(change["at_tick"])
            self._epochs.append(settings)
        # Per directed link: the keys a [[network.link]] sets.
        self._links: dict[tuple[str, str], dict] = {}
        for link in config.get("link") or ():
            overrides = {k: link[k] for k in LINK_KEYS if link.get(k) is not None}
            pairs = [(link["from"], link["to"])]
            if link.get("symmetric", True):
                pairs.append((link["to"], link["from"]))
            for pair in pairs:
                self._links[pair] = overrides
        self._region: dict[str, str] = {}
        self._matrix: Mapping[tuple[str, str], int] = {}
        if self.model == "regions":
            self._region = dict(regions) if regions is not None else nation_regions(nations)
            self._matrix = matrix if matrix is not None else load_regions()
            for n in nations:
                if (self._region.get(n), self._region.get(n)) not in self._matrix:
                    raise ValueError(f"nation {n} has no region in the latency matrix")
        self._cache: dict[tuple[int, str, str], LinkState] = {}
        # The links of one epoch by (src, dst), for `arrivals`: sends come in time order, so
        # they mostly ask the epoch of the last send, without a bisect. [first, end) ticks.
        self._epoch_links: dict[tuple[str, str], LinkState] = {}
        self._epoch_first_tick, self._epoch_end_tick = 0, -1
        # For each partition: nation -> side index (unlisted nations share one extra side), and
        # the direction it blocks.
        self._partitions = []
        self._round_partitions = []
        self._proposer = proposer
        for p in partitions:
            side = {n: len(p.groups) for n in nations}
            for i, group in enumerate(p.groups):
                for n in group:
                    side[n] = i
            direction = getattr(p, "direction", "both")
            if direction not in DIRECTIONS:
                raise ValueError(f"unknown partition direction {direction!r}")
            cut = (p.from_tick, p.until_tick, side, len(p.groups), direction)
            rounds, leaders = getattr(p, "rounds", ()), getattr(p, "leaders", ())
            if rounds or leaders:
                if leaders and proposer is None:
                    raise ValueError("a partition by leaders needs the proposer order")
                self._round_partitions.append((frozenset(rounds), frozenset(leaders),
                                               frozenset(p.heights), cut))
            else:
                self._partitions.append(cut)
        self.partitioned = bool(self._partitions)  # False: `blocked` is always False
        # False: `round_blocked` is always False, and the world does not ask it
        self.round_partitioned = bool(self._round_partitions)

    # ------------------------------------------------------------------ partitions

    def blocked(self, src: str, dst: str, tick: int) -> bool:
        """Whether a partition active at `tick` stops messages from src to dst."""
        # A plain loop, not any() over a generator: this runs for every delivery of a
        # partitioned scenario.
        for cut in self._partitions:
            if _cuts(cut, src, dst, tick):
                return True
        return False

    def round_blocked(self, src: str, dst: str, tick: int, height: int, round_: int) -> bool:
        """Whether a round partition active at `tick` stops a consensus message of (height,
        round_) from src to dst (a Twins-style schedule: the nations a round's messages may
        reach). A partition by `leaders` cuts the rounds whose proposer is one of them."""
        for rounds, leaders, heights, cut in self._round_partitions:
            if ((not rounds or round_ in rounds) and (not heights or height in heights)
                    and (not leaders or self._proposer(height, round_) in leaders)
                    and _cuts(cut, src, dst, tick)):
                return True
        return False

    # ------------------------------------------------------------------ links

    def link(self, src: str, dst: str, tick: int) -> LinkState:
        """The settings of the directed link src -> dst for a message sent at `tick`."""
        epoch = bisect.bisect_right(self._epoch_ticks, tick) - 1
        key = (epoch, src, dst)
        state = self._cache.get(key)
        if state is None:
            g = self._epochs[epoch]
            o = self._links.get((src, dst), {})
            if "latency_ticks" in o:
                latency = o["latency_ticks"]
            elif self.model == "regions":
                base = self._matrix[(self._region[src], self._region[dst])]
                latency = max(1, round(base * g["latency_scale"]))
            else:
                latency = g["latency_ticks"]
            state = self._cache[key] = LinkState(
                latency, o.get("jitter_ticks", g["jitter_ticks"]),
                o.get("loss_probability", g["loss_probability"]),
                o.get("duplicate_probability", g["duplicate_probability"]),
                g["reorder_probability"])
        return state

    def _enter_epoch(self, tick: int) -> None:
        """Point `_epoch_links` at the epoch of the global settings that holds `tick`."""
        epoch = bisect.bisect_right(self._epoch_ticks, tick) - 1
        self._epoch_links = {}
        self._epoch_first_tick = self._epoch_ticks[epoch]
        self._epoch_end_tick = (self._epoch_ticks[epoch + 1]
                                if epoch + 1 < len(self._epoch_ticks) else 2**63)

    def arrivals(self, src: str, dst: str, now: int) -> list[int]:
        """Arrival ticks for one message sent now from src to dst: [] if lost, two entries if
        duplicated."""
        if not self._epoch_first_tick <= now < self._epoch_end_tick:
            self._enter_epoch(now)
        s = self._epoch_links.get((src, dst))
        if s is None:
            s = self._epoch_links[(src, dst)] = self.link(src, dst, now)
        rng = self.rng
        loss, duplicate = s.loss_probability, s.duplicate_probability
        if loss and rng.random() < loss:
            return []
        copies = 2 if duplicate and rng.random() < duplicate else 1
        latency, jitter, reorder = s.latency_ticks, s.jitter_ticks, s.reorder_probability
        if copies == 1 and not reorder:  # the loop below, for the one copy of most sends
            if jitter:
                latency += rng._randbelow(2 * jitter + 1) - jitter
            return [now + max(1, latency)]
        out = []
        for _ in range(copies):
            delay = latency
            if jitter:
                # rng.randint(-j, j) is -j + rng._randbelow(2j + 1) (CPython's randrange): the
                # same draw from the same stream, without randint's checks, which cost as
                # much as the rest of a send at n = 193. tests/scenarios/test_speedups.py pins it.
                delay += rng._randbelow(2 * jitter + 1) - jitter
            if reorder and rng.random() < reorder:
                delay += rng.randint(1, REORDER_HOLD_FACTOR * latency)
            out.append(now + max(1, delay))
        return out


    def worst_after(self, tick: int, nations: tuple[str, ...]) -> tuple[int, float]:
        """(the longest delay in ticks, the highest loss) of any link for a message sent at or
        after `tick`: latency plus jitter, plus the longest reorder hold where messages may be
        held back. Partitions are not counted (their end is a fault's end)."""
        first = max(0, bisect.bisect_right(self._epoch_ticks, tick) - 1)
        delay, loss = 0, 0.0
        for epoch_tick in self._epoch_ticks[first:]:
            at = max(epoch_tick, tick)
            for src in nations:
                for dst in nations:
                    if src == dst:
                        continue
                    s = self.link(src, dst, at)
                    hold = REORDER_HOLD_FACTOR * s.latency_ticks if s.reorder_probability else 0
                    delay = max(delay, s.latency_ticks + s.jitter_ticks + hold)
                    loss = max(loss, s.loss_probability)
        return delay, loss


def _cuts(cut: tuple, src: str, dst: str, tick: int) -> bool:
    """Whether one partition (from_tick, until_tick, side, others, direction) stops a message
    from src to dst at `tick`."""
    from_tick, until_tick, side, others, direction = cut
    if tick < from_tick or (until_tick is not None and tick >= until_tick):
        return False
    s, d = side.get(src, others), side.get(dst, others)
    if s == d:
        return False
    return (direction == "both" or (direction == "outbound" and s == 0)
            or (direction == "inbound" and d == 0))
