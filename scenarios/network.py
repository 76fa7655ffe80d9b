"""The simulated network: per-link latency with seeded jitter, loss, duplication, partitions.

Jitter reorders messages: two sent in one order on one link can arrive in the other. Partitions
are checked both when a message is sent and when it would arrive, so a message in flight when a
link is cut is lost, as on a real network.
"""

from __future__ import annotations

import random

from .loader import Partition


class Network:
    def __init__(self, config: dict, partitions: tuple[Partition, ...], nations: tuple[str, ...],
                 rng: random.Random) -> None:
        self.latency_ticks = config["latency_ticks"]
        self.jitter_ticks = config["jitter_ticks"]
        self.loss_probability = config["loss_probability"]
        self.duplicate_probability = config["duplicate_probability"]
        self.rng = rng
        # For each partition: nation -> side index; unlisted nations share one extra side.
        self._partitions = []
        for p in partitions:
            side = {n: len(p.groups) for n in nations}
            for i, group in enumerate(p.groups):
                for n in group:
                    side[n] = i
            self._partitions.append((p.from_tick, p.until_tick, side))

    def blocked(self, src: str, dst: str, tick: int) -> bool:
        for from_tick, until_tick, side in self._partitions:
            if from_tick <= tick and (until_tick is None or tick < until_tick):
                if side[src] != side[dst]:
                    return True
        return False

    def arrivals(self, now: int) -> list[int]:
        """Arrival ticks for one message sent now: [] if lost, two entries if duplicated."""
        rng = self.rng
        if self.loss_probability and rng.random() < self.loss_probability:
            return []
        copies = 2 if self.duplicate_probability and rng.random() < self.duplicate_probability else 1
        out = []
        for _ in range(copies):
            delay = self.latency_ticks
            if self.jitter_ticks:
                delay += rng.randint(-self.jitter_ticks, self.jitter_ticks)
            out.append(now + max(1, delay))
        return out
