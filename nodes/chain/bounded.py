"""A memo bounded in entries and in bytes, for everything fed by peers, and a node's duplicate
filter (`SeenDigests`), bounded the same two ways.

Each memo entry is counted as the bytes its caller says it keeps alive; the oldest entries go
first once either bound is passed, and an entry larger than the whole byte bound is not kept at
all.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Hashable, TypeVar

V = TypeVar("V")

# What one remembered digest of `SeenDigests` is counted as: the 32-byte digest object (65 bytes,
# 72 allocated) when no other filter shares it, its dict slot and its place in the deque
# (36 bytes a key at 21,000 keys, tracemalloc), rounded up.
DIGEST_ENTRY_BYTES = 112


class BoundedMemo(Generic[V]):
    """Each entry is kept as (value, size). A verdict cache's entries are nearly all (True,
    the same size): those of a bool value are kept once each in `_shared` (a few per distinct
    size) and every key points to that one tuple, not to a tuple and an int of its own (88
    bytes of each of about a million signature verdicts at the global day).

    It answers as the `OrderedDict` it replaced (put moves a key to the newest place, the
    oldest go first), with a plain dict for the entries and a deque for their order, as
    `SeenDigests` does: an OrderedDict keeps a linked node and a second table per key. A key
    put again, or evicted, leaves its earlier place in the deque stale: counted in `_stale`,
    skipped when eviction reaches it, and the deque is rebuilt without stale places once it
    is more than twice the entries (plus 64). The dict keeps insertion order as well (a key
    put again is popped and re-inserted), so `values()` is the same order as before."""

    __slots__ = ("_entries", "entries_max", "bytes_max", "bytes", "_shared", "_order",
                 "_stale")

    def __init__(self, entries_max: int, bytes_max: int) -> None:
        self._entries: dict[Hashable, tuple[V, int]] = {}
        self._order: deque[Hashable] = deque()
        self._stale: dict[Hashable, int] = {}  # key -> its stale places in _order
        self.entries_max = entries_max
        self.bytes_max = bytes_max
        self.bytes = 0
        self._shared: dict[tuple[V, int], tuple[V, int]] = {}

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
            stale = self._stale
            stale[key] = stale.get(key, 0) + 1
        entry = (value, size)
        if value.__class__ is bool:
            entry = self._shared.setdefault(entry, entry)
        entries[key] = entry
        self._order.append(key)
        self.bytes += size
        if len(entries) > self.entries_max or self.bytes > self.bytes_max:
            self._evict()
        elif len(self._order) > 2 * len(entries) + 64:
            self._compact()

    def _evict(self) -> None:
        entries, order, stale = self._entries, self._order, self._stale
        while len(entries) > self.entries_max or self.bytes > self.bytes_max:
            key = order.popleft()
            places = stale.get(key)
            if places is None:
                self.bytes -= entries.pop(key)[1]
            elif places == 1:
                del stale[key]
            else:
                stale[key] = places - 1
        if len(order) > 2 * len(entries) + 64:
            self._compact()

    def _compact(self) -> None:
        self._order = _without_stale(self._order, self._stale)


class SeenDigests:
    """A node's duplicate filter: the digests of the messages it has taken, the oldest
    forgotten first once there are more than `entries_max` of them or they count for more than
    `bytes_max` bytes (DIGEST_ENTRY_BYTES each: digests are all one size, so the byte budget is
    a count, stated in bytes).

    It answers as an `OrderedDict` whose oldest key is popped when it grows past the bound,
    with half the memory: a plain dict answers `in`, and a deque holds the insertion order
    (an OrderedDict keeps a linked node and a second table per key: 73 bytes a key against 36,
    tracemalloc at 21,000 keys). A digest forgotten before its turn (`discard`) leaves its
    place in the deque behind, stale: it is counted in `_stale` and skipped when eviction
    reaches it, and the deque is rebuilt without the stale places once they outnumber the
    live ones, so it stays within twice the bound whatever is discarded.
    """

    __slots__ = ("_live", "_order", "_stale", "entries_max")

    def __init__(self, entries_max: int, bytes_max: int) -> None:
        self._live: dict[bytes, object] = {}
        self._order: deque[bytes] = deque()
        self._stale: dict[bytes, int] = {}  # digest -> its stale places in _order
        self.entries_max = min(entries_max, bytes_max // DIGEST_ENTRY_BYTES)

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, digest: object) -> bool:
        return digest in self._live

    def get(self, digest: bytes) -> object:
        """The value remembered with `digest` (`add`), or None."""
        return self._live.get(digest)

    def add(self, digest: bytes, value: object = None) -> None:
        """Remember `digest` as the newest, with `value` (a signature cache's verdict; None
        for a duplicate filter). Nothing changes if it is remembered already."""
        live = self._live
        if digest in live:
            return
        live[digest] = value
        self._order.append(digest)
        if len(live) > self.entries_max:
            self._forget_oldest()

    def discard(self, digest: bytes) -> None:
        """Forget `digest` now, if it is remembered."""
        if self._live.pop(digest, _ABSENT) is _ABSENT:
            return
        stale = self._stale
        stale[digest] = stale.get(digest, 0) + 1
        if len(self._order) > 2 * len(self._live) + 64:
            self._compact()

    def _forget_oldest(self) -> None:
        order, stale = self._order, self._stale
        while True:
            digest = order.popleft()
            places = stale.get(digest)
            if places is None:
                del self._live[digest]
                return
            if places == 1:
                del stale[digest]
            else:
                stale[digest] = places - 1

    def _compact(self) -> None:
        self._order = _without_stale(self._order, self._stale)


def _without_stale(order: deque, stale: dict) -> deque:
    """`order` without its stale places, which `stale` counts per key and forgets as they go
    (BoundedMemo, SeenDigests): a key's stale places come before its live one (it was put
    again, or discarded and added again, after them)."""
    kept: deque = deque()
    for key in order:
        places = stale.get(key)
        if places is None:
            kept.append(key)
        elif places == 1:
            del stale[key]
        else:
            stale[key] = places - 1
    return kept


_ABSENT = object()
