"""The memory-mapped index of committed transaction ids (nodes/live/txindex.py)."""

from __future__ import annotations

import hashlib

import pytest

import nodes.live.txindex as txindex
from nodes.live.txindex import TxIdIndex


def _ids(start: int, count: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(start, start + count)]


def test_ids_added_are_found_across_growth_and_a_clean_reopen(tmp_path, monkeypatch):
    monkeypatch.setattr(txindex, "INITIAL_CAPACITY", 16)  # grow several times
    path = tmp_path / "node.sqlite.txids"
    index = TxIdIndex(path)
    assert not index.opened_clean and index.height == 0 and index.capacity == 16
    added = []
    for height in range(1, 21):
        ids = _ids(height * 100, 25)
        index.add(height, bytes([height]) * 32, ids + ids[:3])  # repeats count once
        added += ids
    assert index.count == len(added) == 500 and index.capacity >= 500 / txindex.LOAD_MAX
    assert all(tx_id in index for tx_id in added)
    assert not any(tx_id in index for tx_id in _ids(10_000, 200))
    assert bytes(32) not in index and b"short" not in index
    with pytest.raises(ValueError, match="at height 20"):
        index.add(22, bytes(32), [])
    index.close()
    again = TxIdIndex(path)
    try:
        assert again.opened_clean and again.height == 20 and again.tip == bytes([20]) * 32
        assert all(tx_id in again for tx_id in added) and again.count == 500
        again.reset()
        assert again.height == 0 and added[0] not in again
    finally:
        again.close()


def test_a_damaged_header_is_not_trusted(tmp_path):
    path = tmp_path / "x.txids"
    index = TxIdIndex(path)
    index.add(1, bytes([1]) * 32, _ids(0, 10))
    index.close()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF  # the magic
    path.write_bytes(bytes(data))
    damaged = TxIdIndex(path)
    try:
        assert not damaged.opened_clean and damaged.height == 0
        assert _ids(0, 1)[0] not in damaged
    finally:
        damaged.close()


def test_growing_goes_on_beside_new_ids_and_replaces_the_file(tmp_path, monkeypatch):
    """While the bigger table is built in its thread, ids go on being added and found; the next
    add after it is done moves them over and renames the new file into place."""
    import threading

    monkeypatch.setattr(txindex, "INITIAL_CAPACITY", 64)
    release = threading.Event()
    copy = txindex._copy_into

    def held_copy(*args):
        release.wait(10)
        copy(*args)

    monkeypatch.setattr(txindex, "_copy_into", held_copy)
    path = tmp_path / "x.txids"
    index = TxIdIndex(path)
    first, during, after = _ids(0, 40), _ids(100, 12), _ids(200, 2)
    index.add(1, bytes([1]) * 32, first)  # 40 > 64 * 0.6: the copy starts, and waits
    assert index._rebuild is not None and index._rebuild.is_alive()
    index.add(2, bytes([2]) * 32, during)  # 52 <= 64 * 0.85: goes on in the old table
    assert index.capacity == 64 and all(t in index for t in first + during)
    release.set()
    index._rebuild.join(10)
    index.add(3, bytes([3]) * 32, after)  # moves `during` over, renames the new file
    assert index._rebuild is None and index.capacity == 128 and index.count == 54
    assert all(t in index for t in first + during + after)
    assert not path.with_name("x.txids.new").exists()
    index.close()
    again = TxIdIndex(path)
    try:
        assert again.opened_clean and again.capacity == 128 and again.height == 3
        assert all(t in again for t in first + during + after) and again.count == 54
    finally:
        again.close()
