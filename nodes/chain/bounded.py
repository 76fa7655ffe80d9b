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
        del self._live[_pop_oldest_live(self._order, self._stale)]

    def _compact(self) -> None:
        self._order = _without_stale(self._order, self._stale)


class SeenTable:
    """The duplicate filters of the nodes of one process (one per `DecodeCache`) in one table:
    digest -> a mask with one bit per filter that holds it (`filter`). A broadcast's digest is
    one dict entry and one int, however many of the n receivers remember it, instead of an
    entry in each of their dicts (about 36 bytes each); a filter keeps only its deque of
    places. A bit is never given to a second filter, so a filter answers from its bit alone;
    the digests a filter still held when it was dropped (a node restarted) keep their entries
    until the other filters forget them too."""

    __slots__ = ("masks", "_filters")

    def __init__(self) -> None:
        self.masks: dict[bytes, int] = {}
        self._filters = 0

    def filter(self, entries_max: int, bytes_max: int) -> "SharedSeenDigests":
        """A new, empty duplicate filter answering as `SeenDigests(entries_max, bytes_max)`."""
        bit = 1 << self._filters
        self._filters += 1
        return SharedSeenDigests(self.masks, bit, entries_max, bytes_max)


class SharedSeenDigests:
    """A node's duplicate filter in a `SeenTable`: answers `in`, `add` and `discard` as
    `SeenDigests` does (the same bounds, the oldest forgotten first, a discarded digest's
    place left stale in the deque and skipped), its digests marked by its bit in the table."""

    __slots__ = ("_masks", "_bit", "_order", "_stale", "_count", "entries_max")

    def __init__(self, masks: dict[bytes, int], bit: int, entries_max: int,
                 bytes_max: int) -> None:
        self._masks = masks
        self._bit = bit
        self._order: deque[bytes] = deque()
        self._stale: dict[bytes, int] = {}  # digest -> its stale places in _order
        self._count = 0
        self.entries_max = min(entries_max, bytes_max // DIGEST_ENTRY_BYTES)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, digest: object) -> bool:
        return self._masks.get(digest, 0) & self._bit != 0  # type: ignore[call-overload]

    def add(self, digest: bytes) -> None:
        """Remember `digest` as the newest; nothing changes if it is remembered already."""
        masks, bit = self._masks, self._bit
        mask = masks.get(digest, 0)
        if mask & bit:
            return
        masks[digest] = mask | bit
        self._order.append(digest)
        self._count += 1
        if self._count > self.entries_max:
            self._forget_oldest()

    def discard(self, digest: bytes) -> None:
        """Forget `digest` now, if it is remembered."""
        if not self._masks.get(digest, 0) & self._bit:
            return
        self._clear(digest)
        stale = self._stale
        stale[digest] = stale.get(digest, 0) + 1
        if len(self._order) > 2 * self._count + 64:
            self._order = _without_stale(self._order, stale)

    def _clear(self, digest: bytes) -> None:
        masks = self._masks
        mask = masks[digest] & ~self._bit
        if mask:
            masks[digest] = mask
        else:
            del masks[digest]
        self._count -= 1

    def _forget_oldest(self) -> None:
        self._clear(_pop_oldest_live(self._order, self._stale))


def _pop_oldest_live(order: deque, stale: dict):
    """The oldest live key of `order`, popped with the stale places before it (which `stale`
    counts per key, and forgets as they go)."""
    while True:
        key = order.popleft()
        places = stale.get(key)
        if places is None:
            return key
        if places == 1:
            del stale[key]
        else:
            stale[key] = places - 1


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
