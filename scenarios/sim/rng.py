"""Named random sub-streams derived from one seed.

Each consumer (the network, the workload, each behaviour) draws from its own `random.Random`,
seeded by sha256 of (seed, name). Adding draws to one stream never shifts another, and nothing
depends on `PYTHONHASHSEED`.
"""

from __future__ import annotations

import hashlib
import random


class Streams:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def get(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            digest = hashlib.sha256(f"chemtrace/{self.seed}/{name}".encode()).digest()
            stream = self._streams[name] = random.Random(int.from_bytes(digest[:16], "big"))
        return stream
