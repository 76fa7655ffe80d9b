"""Memory under junk: what peers send cannot grow a node's caches past their byte bounds.

A failed decode is remembered as its reason, never as the exception (whose traceback would keep
the input alive), and the decode cache, the transaction memo and the signature cache are each
bounded in bytes as well as in entries. Measured with tracemalloc, which is deterministic where
RSS is not.
"""

from __future__ import annotations

import gc
import tracemalloc

from nodes import Genesis, Node, Transaction, VerifyCache
from nodes.chain.codec import MESSAGE_BYTES_MAX, pack
from nodes.chain.tx import TX_MEMO_ENTRY_BYTES, TX_PAYLOAD_BYTES_MAX, TxMemo, tx_from_wire
from nodes.wire.messages import DECODE_ENTRY_BYTES, DecodeCache

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
