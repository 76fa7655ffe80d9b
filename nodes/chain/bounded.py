"""A memo bounded in entries and in bytes, for everything fed by peers.

Each entry is counted as the bytes its caller says it keeps alive; the oldest entries go first
once either bound is passed, and an entry larger than the whole byte bound is not kept at all.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Hashable, TypeVar

V = TypeVar("V")


class BoundedMemo(Generic[V]):
    __slots__ = ("_entries", "entries_max", "bytes_max", "bytes")

    def __init__(self, entries_max: int, bytes_max: int) -> None:
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self.entries_max = entries_max
        self.bytes_max = bytes_max
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        found = self._entries.get(key)
        return None if found is None else found[0]

    def values(self) -> list[V]:
        return [value for value, _ in self._entries.values()]

    def put(self, key: Hashable, value: V, size: int) -> None:
        if self.entries_max <= 0 or size > self.bytes_max:
            return
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        entries[key] = (value, size)
        self.bytes += size
        while len(entries) > self.entries_max or self.bytes > self.bytes_max:
            _, (_, old_size) = entries.popitem(last=False)
            self.bytes -= old_size
