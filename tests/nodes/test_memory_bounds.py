"""Memory under junk: what peers send cannot grow a node's caches past their byte bounds.

A failed decode is remembered as its reason, never as the exception (whose traceback would keep
the input alive), and the decode cache, the transaction memo and the signature cache are each
bounded in bytes as well as in entries. Measured with tracemalloc, which is deterministic where
RSS is not.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import sys
import tracemalloc
from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from nodes import Genesis, Node, Transaction, VerifyCache
from nodes.chain.bounded import DIGEST_ENTRY_BYTES, BoundedMemo, SeenDigests, SeenTable
from nodes.chain.ledger import TxIndex
from nodes.chain.mempool import Mempool
from nodes.chain.codec import MESSAGE_BYTES_MAX, pack, unpack
from nodes.chain.tx import TX_MEMO_ENTRY_BYTES, TX_PAYLOAD_BYTES_MAX, TxMemo, tx_from_wire
from nodes.node import SEEN_DIGESTS_BYTES_MAX, SEEN_DIGESTS_MAX
from nodes.chain.block import BLOCK_BYTES_MAX
from nodes.wire.messages import (
    DECODE_CACHE_BYTES_MAX,
    DECODE_ENTRY_BYTES,
    DIGEST_MEMO_BYTES_MAX,
    DecodeCache,
)

CHAIN = "memory-test"
GENESIS, IDS = Genesis.simulated(CHAIN, [("USA", 1), ("MEX", 1), ("CAN", 1), ("CHN", 1)], 5)
JUNK_BYTES = 256 * 1024
# What 300 rejections may keep: their reasons and cache slots, far below one junk message each.
GROWTH_BYTES_MAX = 2 * 1024 * 1024


def _junk(i: int) -> bytes:
    """Distinct malformed messages of three shapes: not msgpack at all, a well-formed array of
    an unknown kind carrying a large binary, and one over the codec's message limit."""
    tag = i.to_bytes(4, "big")
    if i % 50 == 49:
        return tag + bytes(MESSAGE_BYTES_MAX + 1)
    if i % 2:
        return pack((99, tag + bytes(JUNK_BYTES)))
    return b"\xc1" + tag + bytes(JUNK_BYTES)


def test_hundreds_of_oversized_malformed_messages_leave_tracked_memory_bounded():
    node = Node(IDS["USA"], GENESIS, VerifyCache())
    node.start(0)
    node.on_bytes(_junk(10_000), 1)  # warm up what a first drop allocates once
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(300):
            node.on_bytes(_junk(i), 2)
            node.on_bytes(_junk(i), 3)  # the same bytes again: a cache hit, still refused
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert sum(node.dropped.values()) >= 600, node.dropped
    # About 80 MiB of junk went in; the old cache kept every input alive through its exception.
    assert growth < GROWTH_BYTES_MAX, f"{growth} bytes kept after 300 junk messages"
    assert node.decoder.bytes <= 301 * DECODE_ENTRY_BYTES


def test_decode_cache_is_bounded_in_bytes_and_keeps_reasons_not_exceptions():
    cache = DecodeCache(CHAIN, bytes_max=100 * DECODE_ENTRY_BYTES)
    for i in range(300):
        data = _junk(i)
        try:
            cache.decode(cache.digest(data), data)
        except ValueError as exc:
            assert exc.__traceback__ is not None and str(exc)
    assert cache.bytes <= 100 * DECODE_ENTRY_BYTES
    # Nothing the cache holds refers to an input: only short reasons.
    for entry in cache._entries.values():
        assert len(entry.reason) <= 200 and not hasattr(entry, "__traceback__")
    assert cache._digest_bytes == 0


def _big_txs(count: int) -> list[Transaction]:
    return [Transaction.create(CHAIN, IDS["MEX"], "note", n, bytes(TX_PAYLOAD_BYTES_MAX))
            for n in range(count)]


def test_transaction_memo_is_bounded_in_bytes():
    bound = 1024 * 1024
    memo = TxMemo(bytes_max=bound)
    for tx in _big_txs(200):
        raw = (tx.kind, tx.signer, tx.nonce, tx.payload, tx.signature)
        assert tx_from_wire(CHAIN, raw, memo) == tx
    assert memo.bytes <= bound
    assert len(memo) == bound // (TX_PAYLOAD_BYTES_MAX + TX_MEMO_ENTRY_BYTES)


def test_signature_cache_is_bounded_in_bytes():
    bound = 1024 * 1024
    cache = VerifyCache(bytes_max=bound)
    key = IDS["MEX"].public_key
    for tx in _big_txs(200):
        assert cache.verify_tx(key, CHAIN, tx)
    assert 0 < cache.tx_verdict_bytes <= bound


def _digest(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(4, "big")).digest()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.lists(st.tuples(st.sampled_from("add discard".split()),
                                             st.integers(0, 12)), max_size=120))
def test_the_duplicate_filter_answers_as_the_ordered_dict_it_replaced(bound, steps):
    """Node._seen was an OrderedDict whose oldest key was popped past SEEN_DIGESTS_MAX; the
    filter must answer every `in` the same after any adds and discards (traces depend on it)."""
    seen = SeenDigests(bound, bound * DIGEST_ENTRY_BYTES)
    model: OrderedDict[bytes, None] = OrderedDict()
    for op, i in steps:
        if op == "add":
            seen.add(_digest(i))
            model[_digest(i)] = None
            if len(model) > bound:
                model.popitem(last=False)
        else:
            seen.discard(_digest(i))
            model.pop(_digest(i), None)
        assert [i for i in range(13) if _digest(i) in seen] == \
               [i for i in range(13) if _digest(i) in model]
        assert len(seen) == len(model)
        assert len(seen._order) <= 2 * len(model) + 64 + 1


def test_the_duplicate_filter_is_bounded_by_bytes_and_forgets_the_oldest_first():
    seen = SeenDigests(entries_max=1_000, bytes_max=10 * DIGEST_ENTRY_BYTES + 50)
    for i in range(25):
        seen.add(_digest(i))
    assert len(seen) == 10, "the byte budget binds before the count"
    assert [i for i in range(25) if _digest(i) in seen] == list(range(15, 25))


def test_a_node_far_behind_discarding_digests_keeps_its_filter_small():
    seen = SeenDigests(entries_max=100, bytes_max=100 * DIGEST_ENTRY_BYTES)
    for i in range(10_000):
        seen.add(_digest(i))
        seen.discard(_digest(i))  # the core had no room: forgotten at once
    assert len(seen) == 0 and len(seen._order) <= 64 + 1
    assert sum(seen._stale.values()) == len(seen._order), "only stale places are left"


def test_a_node_duplicate_filter_holds_the_count_bound_at_current_sizes():
    """At SEEN_DIGESTS_MAX the byte budget does not bind: the count is the bound, as before."""
    node = Node(IDS["USA"], GENESIS, VerifyCache())
    assert node.duplicate_filter_digests_max == SEEN_DIGESTS_MAX
    assert SEEN_DIGESTS_BYTES_MAX // DIGEST_ENTRY_BYTES > SEEN_DIGESTS_MAX


def test_the_duplicate_filter_takes_half_the_memory_of_an_ordered_dict():
    digests = [_digest(i) for i in range(20_000)]
    sizes = []
    for make, add in ((OrderedDict, lambda d, k: d.__setitem__(k, None)),
                      (lambda: SeenDigests(65_536, 2**30), SeenDigests.add)):
        gc.collect()
        tracemalloc.start()
        try:
            kept = make()
            for digest in digests:
                add(kept, digest)
            sizes.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
        del kept
    assert sizes[1] < 0.6 * sizes[0], sizes


def test_decoded_transactions_share_their_kind_and_signer_strings():
    """Each decoded transaction used to hold strs of its own for its kind and signer."""
    tx = Transaction.create(CHAIN, IDS["USA"], "payload", 1, b"x")
    first, second = (Transaction.from_wire(CHAIN, unpack(pack(tx.to_wire()))) for _ in "12")
    assert first == second == tx
    assert first.kind is second.kind and first.signer is second.signer


def test_a_transaction_index_keeps_one_place_without_a_tuple_around_it():
    index = TxIndex()
    a, b = (5, hashlib.sha256(b"a").digest()), (5, hashlib.sha256(b"b").digest())
    index.record(b"tx", a)
    index.record(b"tx", a)
    assert index.places(b"tx") == (a,) and index._where[b"tx"] is a
    index.record(b"tx", b)
    index.record(b"tx", a)
    index.record(b"tx", (6, a[1]))
    assert index.places(b"tx") == (a, b, (6, a[1]))
    assert index.places(b"other") == ()


def test_signature_verdicts_share_their_entries():
    """A verdict memo keeps one (verdict, size) tuple per distinct pair, not one per key; the
    bounds and the answers are those of a tuple per key."""
    cache = VerifyCache(entries_max=100, bytes_max=10**9)
    txs = [Transaction.create(CHAIN, IDS["USA"], "payload", i, b"x" * 64) for i in range(150)]
    assert all(cache.verify_tx(IDS["USA"].public_key, CHAIN, tx) for tx in txs)
    entries = list(cache._tx_verdicts._entries.values())
    assert len(entries) == 100 and len({id(entry) for entry in entries}) == 1
    assert cache.tx_verdict_bytes == 100 * entries[0][1]
    assert cache.verify_tx(IDS["USA"].public_key, CHAIN, txs[-1]) and cache.hits == 1
    assert not cache.verify_tx(IDS["MEX"].public_key, CHAIN, txs[-1])
    assert len({id(entry) for entry in cache._tx_verdicts._entries.values()}) == 2


def test_a_gossiped_transaction_reaches_the_nodes_of_its_process_as_its_own_object():
    """The client's object, not an equal decoded copy, is what a receiver sharing the decode
    cache pools (one object per transaction for the whole run); a receiver with its own cache
    decodes a copy, equal in every field."""
    decoder, verifier = DecodeCache(CHAIN), VerifyCache()
    usa, mex = (Node(IDS[code], GENESIS, verifier, decoder=decoder) for code in ("USA", "MEX"))
    alone = Node(IDS["CAN"], GENESIS, verifier)
    tx = Transaction.create(CHAIN, IDS["USA"], "payload", 7, b"p" * 64)
    sent = [a for a in usa.submit(tx, 1) if a.__class__.__name__ == "SendAll"]
    assert len(sent) == 1
    for node in (mex, alone):
        node.on_bytes(sent[0].data, 2)
        assert node.mempool.ids() == (tx.tx_id,)
    assert mex.mempool._txs[tx.tx_id] is tx
    assert alone.mempool._txs[tx.tx_id] == tx and alone.mempool._txs[tx.tx_id] is not tx


def test_only_a_transaction_its_wire_array_decodes_to_is_seeded():
    memo = TxMemo()
    long_kind = Transaction.create(CHAIN, IDS["USA"], "k" * 40, 1, b"")  # from_wire refuses it
    forged = dataclasses.replace(Transaction.create(CHAIN, IDS["USA"], "payload", 2, b""),
                                 tx_id=bytes(32))
    memo.seed(CHAIN, (long_kind, forged))
    assert len(memo) == 0


def test_the_signature_cache_forgets_its_oldest_verdict_first():
    """Its verdicts by digest are a SeenDigests (values: the verdicts) instead of an OrderedDict:
    the same bound, the same order of eviction."""
    cache, ident = VerifyCache(entries_max=3), IDS["USA"]
    messages = [bytes([i]) for i in range(4)]
    for message in messages + messages[1:]:
        assert cache.verify(ident.public_key, message, ident.sign(message))
    assert (cache.misses, cache.hits) == (4, 3)
    assert not cache.verify(ident.public_key, messages[0], ident.sign(messages[1]))
    assert cache.verify(ident.public_key, messages[0], ident.sign(messages[0]))
    assert (cache.misses, cache.hits, len(cache._verdicts)) == (6, 3, 3)


def test_a_mempool_emptied_by_a_block_gives_its_table_back():
    """A dict keeps its table after removals; the pool is copied to one of its size, with the
    same transactions in the same order."""
    pool = Mempool()
    txs = [Transaction.create(CHAIN, IDS["USA"], "payload", i, b"") for i in range(4000)]
    for tx in txs:
        pool.add(tx)
    full = sys.getsizeof(pool._txs)
    pool.remove(tx.tx_id for tx in txs[:3900:2])
    assert sys.getsizeof(pool._txs) == full, "half full: kept as it is"
    pool.remove(tx.tx_id for tx in txs[1:3900:2])
    assert pool.ids() == tuple(tx.tx_id for tx in txs[3900:])
    assert sys.getsizeof(pool._txs) < full / 20
    assert pool.reap(10) == tuple(txs[3900:3910])


def test_the_decode_cache_keeps_two_of_the_largest_proposals_and_their_digests():
    """Bounded lower for the global day's memory, the caches still serve every receiver of a
    height's proposal (and of the height before) from one decode and one hash."""
    assert DIGEST_MEMO_BYTES_MAX >= 2 * BLOCK_BYTES_MAX
    assert DECODE_CACHE_BYTES_MAX >= 2 * (BLOCK_BYTES_MAX + 64 * 1024 + DECODE_ENTRY_BYTES)
    cache = DecodeCache(CHAIN)
    big = [bytes([i]) * (BLOCK_BYTES_MAX - 1024) for i in range(2)]
    digests = [cache.digest(data) for data in big]
    assert [cache.digest(data) is digest for data, digest in zip(big, digests)] == [True, True]


class _OrderedDictMemo:
    """BoundedMemo as it was (an OrderedDict): the model the dict and deque must answer as."""

    def __init__(self, entries_max: int, bytes_max: int) -> None:
        self.entries: OrderedDict = OrderedDict()
        self.entries_max, self.bytes_max, self.bytes = entries_max, bytes_max, 0

    def put(self, key, value, size: int) -> None:
        if self.entries_max <= 0 or size > self.bytes_max:
            return
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self.entries[key] = (value, size)
        self.bytes += size
        while len(self.entries) > self.entries_max or self.bytes > self.bytes_max:
            _, (_, old_size) = self.entries.popitem(last=False)
            self.bytes -= old_size


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 6), st.integers(0, 40),
       st.lists(st.tuples(st.integers(0, 12), st.sampled_from([True, False, "v", b"w"]),
                          st.integers(0, 15)), max_size=150))
def test_the_bounded_memo_answers_as_the_ordered_dict_it_replaced(entries_max, bytes_max,
                                                                   steps):
    """BoundedMemo was an OrderedDict (decode cache, transaction memo, signature verdicts):
    after any puts, new keys or old, it must hold the same keys with the same values in the
    same order, and count the same bytes (what it evicts decides cache hits, and so traces)."""
    memo = BoundedMemo(entries_max, bytes_max)
    model = _OrderedDictMemo(entries_max, bytes_max)
    for key, value, size in steps:
        memo.put(key, value, size)
        model.put(key, value, size)
        assert list(memo._entries) == list(model.entries)
        assert memo.values() == [value for value, _ in model.entries.values()]
        assert [memo.get(k) for k in range(13)] == \
               [model.entries[k][0] if k in model.entries else None for k in range(13)]
        assert memo.bytes == model.bytes and len(memo) == len(model.entries)
        assert len(memo._order) <= 2 * len(model.entries) + 64 + 1
        assert sum(memo._stale.values()) == len(memo._order) - len(memo._entries)
        skip, live = dict(memo._stale), []  # a key's stale places come before its live one
        for k in memo._order:
            if skip.get(k):
                skip[k] -= 1
            else:
                live.append(k)
        assert live == list(memo._entries)


def test_a_bounded_memo_put_again_and_again_keeps_its_order_small():
    memo = BoundedMemo(entries_max=10, bytes_max=10_000)
    for i in range(10_000):
        memo.put(i % 3, True, 1)  # three keys, each moved to the newest place over and over
    assert len(memo) == 3 and len(memo._order) <= 2 * 3 + 64 + 1
    assert list(memo._entries) == [1, 2, 0]  # 9,999 % 3 == 0 was put last


def test_the_bounded_memo_takes_less_memory_than_an_ordered_dict():
    keys = [_digest(i) for i in range(20_000)]
    sizes = []
    for make in (lambda: _OrderedDictMemo(65_536, 2**30), lambda: BoundedMemo(65_536, 2**30)):
        gc.collect()
        tracemalloc.start()
        try:
            kept = make()
            for key in keys:
                kept.put(key, True, 100)
            sizes.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
        del kept
    assert sizes[1] < 0.75 * sizes[0], sizes


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6),
       st.lists(st.tuples(st.sampled_from("add add discard new".split()), st.integers(0, 3),
                          st.integers(0, 12)), max_size=200))
def test_filters_sharing_a_table_answer_as_a_duplicate_filter_each(bound, steps):
    """Node._seen is a filter in its decoder's SeenTable: with other filters adding and
    discarding the same digests in between, and new filters made (a node restarted) while old
    ones are dropped, each must answer every `in` as its own SeenDigests would."""
    table = SeenTable()
    shared = [table.filter(bound, bound * DIGEST_ENTRY_BYTES) for _ in range(4)]
    alone = [SeenDigests(bound, bound * DIGEST_ENTRY_BYTES) for _ in range(4)]
    for op, which, i in steps:
        if op == "new":  # the old filter is dropped with whatever it held
            shared[which] = table.filter(bound, bound * DIGEST_ENTRY_BYTES)
            alone[which] = SeenDigests(bound, bound * DIGEST_ENTRY_BYTES)
        else:
            getattr(shared[which], op)(_digest(i))
            getattr(alone[which], op)(_digest(i))
        for mine, model in zip(shared, alone):
            assert [i for i in range(13) if _digest(i) in mine] == \
                   [i for i in range(13) if _digest(i) in model]
            assert len(mine) == len(model)
            assert len(mine._order) <= 2 * len(model) + 64 + 1
    held = {d for d, mask in table.masks.items() for f in shared if mask & f._bit}
    assert all(mask for mask in table.masks.values()), "no entry without a filter's bit"
    assert held == {d for model in alone for d in model._live}


def test_nodes_of_one_decoder_share_one_table_of_digests():
    """n filters remembering the same broadcasts keep one entry per digest between them."""
    table = SeenTable()
    filters = [table.filter(SEEN_DIGESTS_MAX, SEEN_DIGESTS_BYTES_MAX) for _ in range(20)]
    digests = [_digest(i) for i in range(2_000)]
    for f in filters:
        for digest in digests:
            f.add(digest)
    assert len(table.masks) == 2_000 and all(len(f) == 2_000 for f in filters)
    assert all(digest in f for f in filters for digest in digests)
    for f in filters:
        for digest in digests:
            f.discard(digest)
    assert not table.masks and all(len(f) == 0 for f in filters)


def test_a_node_remembers_in_its_decoders_table():
    decoder = DecodeCache(CHAIN)
    usa = Node(IDS["USA"], GENESIS, VerifyCache(), decoder=decoder)
    mex = Node(IDS["MEX"], GENESIS, VerifyCache(), decoder=decoder)
    digest = b"\x01" * 32
    usa.duplicate_filter.add(digest)
    assert digest in usa.duplicate_filter and digest not in mex.duplicate_filter
    assert list(decoder.seen.masks) == [digest]  # the decoder's one table holds it
    mex.duplicate_filter.add(digest)
    assert list(decoder.seen.masks) == [digest]  # still one entry, now with two bits
    assert bin(decoder.seen.masks[digest]).count("1") == 2
