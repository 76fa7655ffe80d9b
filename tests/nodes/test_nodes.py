"""The node layer's building blocks: keys, the verify cache, blocks, ledger and mempool."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import Step, Vote
from nodes import (
    Block,
    CommittedBlock,
    Genesis,
    Identity,
    Ledger,
    LedgerError,
    Mempool,
    Transaction,
    VerifyCache,
    certificate_error,
    merkle_root,
    pack,
    unpack,
    vote_sign_bytes,
)

CHAIN = "test-chain"
GENESIS, IDS = Genesis.simulated(CHAIN, [("USA", 1), ("MEX", 1), ("CAN", 1), ("CHN", 1)], 3)
KEYS = {n.code: n.public_key for n in GENESIS.nations}


def _tx(nonce: int, signer: str = "USA") -> Transaction:
    return Transaction.create(CHAIN, IDS[signer], "payload", nonce, b"x" * 8)


def _certificate(block: Block, voters=("USA", "MEX", "CAN"), round_: int = 0,
                 step: Step = Step.PRECOMMIT):
    return tuple(
        Vote(step, block.height, round_, block.block_id, v,
             IDS[v].sign(vote_sign_bytes(CHAIN, block.height, round_, step,
                                         block.block_id)))
        for v in voters)


def test_keys_derive_deterministically_from_the_seed():
    a = Identity.derive("USA", 7)
    assert a.public_key == Identity.derive("USA", 7).public_key
    assert a.public_key != Identity.derive("USA", 8).public_key
    assert a.public_key != Identity.derive("MEX", 7).public_key


def test_verify_cache_checks_each_signature_once_and_caches_bad_verdicts_too():
    cache = VerifyCache()
    ident = IDS["USA"]
    sig = ident.sign(b"hello")
    for _ in range(5):
        assert cache.verify(ident.public_key, b"hello", sig)
    assert (cache.misses, cache.hits) == (1, 4)
    bad = bytes(64)
    assert not cache.verify(ident.public_key, b"hello", bad)
    assert not cache.verify(ident.public_key, b"hello", bad)
    assert (cache.misses, cache.hits) == (2, 5)
    # The key is part of the digest: the same bytes and signature under another key fail.
    assert not cache.verify(IDS["MEX"].public_key, b"hello", sig)


def test_verdicts_are_shared_across_caches_only_inside_sharing_verdicts(monkeypatch):
    """Inside `sharing_verdicts` (the fuzzer's search) a verdict one cache computed is known to
    the next: pynacl runs once, yet each cache counts it as its own miss. A signature this
    process made is never taken as checked, a tampered one is checked, a cache with caching off
    checks everything, and outside the block (a benchmark's repeated runs) every cache checks
    for itself."""
    import nodes.chain.identity as identity_module
    checked = []
    real = identity_module.verify_signature

    def counting(public_key, message, signature):
        checked.append(signature)
        return real(public_key, message, signature)

    monkeypatch.setattr(identity_module, "verify_signature", counting)
    ident = IDS["USA"]
    message = b"known verdicts %d" % id(checked)
    sig = ident.sign(message)
    with identity_module.sharing_verdicts():
        assert identity_module.known_verdict(ident.public_key, message, sig) is None
        first, second = VerifyCache(), VerifyCache()
        assert first.verify(ident.public_key, message, sig)
        assert identity_module.known_verdict(ident.public_key, message, sig) is True
        assert second.verify(ident.public_key, message, sig)
        assert checked == [sig] and (first.misses, second.misses) == (1, 1)
        tampered = sig[:-1] + bytes([sig[-1] ^ 1])
        assert not first.verify(ident.public_key, message, tampered)
        assert not second.verify(ident.public_key, message, tampered)
        assert checked == [sig, tampered]  # once: the second cache knew the first one's verdict
        assert VerifyCache(entries_max=0).verify(ident.public_key, message, sig)
        assert checked == [sig, tampered, sig]
        assert VerifyCache(known_verdicts=False).verify(ident.public_key, message, sig)
        assert checked == [sig, tampered, sig, sig]
    assert identity_module.known_verdict(ident.public_key, message, sig) is None
    assert VerifyCache().verify(ident.public_key, message, sig)
    assert checked == [sig, tampered, sig, sig, sig]


def test_verify_cache_is_bounded():
    cache = VerifyCache(entries_max=3)
    ident = IDS["USA"]
    for i in range(10):
        cache.verify(ident.public_key, bytes([i]), ident.sign(bytes([i])))
    assert len(cache._verdicts) == 3


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**40), max_size=20, unique=True))
def test_block_round_trips_through_its_canonical_bytes(nonces):
    txs = tuple(_tx(n) for n in nonces)
    block = Block.build(3, b"\x01" * 32, "USA", 99, txs)
    again = Block.decode(CHAIN, block.encoded)
    assert again == block
    assert again.tx_root == merkle_root([t.tx_id for t in txs])


def test_merkle_root_commits_to_order_and_content():
    a, b, c = (bytes([i]) * 32 for i in range(3))
    assert merkle_root([a, b]) != merkle_root([b, a])
    assert merkle_root([a, b, c]) != merkle_root([a, b])
    assert merkle_root([a]) != merkle_root([])


def test_canonical_encoding_is_stable():
    value = (1, "USA", b"\x00\xff", None, True, (2, 3))
    assert pack(value) == pack(value)
    assert unpack(pack(value)) == value


def test_ledger_chains_blocks_and_refuses_a_gap():
    ledger = Ledger(GENESIS)
    b1 = Block.build(1, ledger.tip_hash, "USA", 1, (_tx(1),))
    ledger.append(CommittedBlock(b1, _certificate(b1)))
    assert ledger.height == 1 and ledger.tip_hash == b1.block_id
    assert ledger.tx_heights[_tx(1).tx_id] == 1
    orphan = Block.build(2, b"\x00" * 32, "USA", 2, ())
    with pytest.raises(LedgerError):
        ledger.append(CommittedBlock(orphan, ()))
    skip = Block.build(3, b1.block_id, "USA", 2, ())
    with pytest.raises(LedgerError):
        ledger.append(CommittedBlock(skip, ()))


def test_certificate_needs_more_than_two_thirds_of_signed_precommits():
    cache = VerifyCache()
    block = Block.build(1, b"\x00" * 32, "USA", 1, ())
    assert certificate_error(CHAIN, GENESIS.validators, KEYS, cache, block,
                             _certificate(block)) is None
    assert "not more than 2/3" in certificate_error(
        CHAIN, GENESIS.validators, KEYS, cache, block, _certificate(block, ("USA", "MEX")))
    twice = _certificate(block, ("USA", "MEX", "MEX"))
    assert "twice" in certificate_error(CHAIN, GENESIS.validators, KEYS, cache, block, twice)
    other = Block.build(1, b"\x00" * 32, "MEX", 1, ())
    assert "another block" in certificate_error(CHAIN, GENESIS.validators, KEYS, cache, other,
                                                _certificate(block))
    forged = tuple(Vote(v.step, v.height, v.round, v.value_id, v.voter, bytes(64))
                   for v in _certificate(block))
    assert "bad signature" in certificate_error(CHAIN, GENESIS.validators, KEYS, cache, block,
                                                forged)
    mixed = _certificate(block, ("USA", "MEX")) + _certificate(block, ("CAN",), round_=1)
    assert "mixes rounds" in certificate_error(CHAIN, GENESIS.validators, KEYS, cache, block,
                                               mixed)
    # Correctly signed prevotes, a polka, do not prove a decision (line 49 counts precommits).
    polka = _certificate(block, step=Step.PREVOTE)
    assert "not a precommit" in certificate_error(CHAIN, GENESIS.validators, KEYS, cache, block,
                                                  polka)
    one_prevote = _certificate(block, ("USA", "MEX")) + _certificate(block, ("CAN",),
                                                                     step=Step.PREVOTE)
    assert "CAN is a prevote" in certificate_error(CHAIN, GENESIS.validators, KEYS, cache,
                                                   block, one_prevote)


def test_mempool_is_bounded_drops_duplicates_and_keeps_arrival_order():
    pool = Mempool(txs_max=3)
    txs = [_tx(n) for n in range(5)]
    assert pool.add(txs[0]) and pool.add(txs[1])
    assert not pool.add(txs[0])
    assert pool.add(txs[2])
    assert not pool.add(txs[3])
    assert (pool.rejected_duplicate, pool.rejected_full) == (1, 1)
    assert pool.reap(2) == (txs[0], txs[1])
    pool.remove([txs[0].tx_id])
    assert pool.reap(10) == (txs[1], txs[2])


def test_genesis_round_trips_through_json(tmp_path):
    path = tmp_path / "genesis.json"
    path.write_text(GENESIS.to_json())
    again = Genesis.load(path)
    assert again.chain_id == CHAIN and again.nations == GENESIS.nations


def test_genesis_hash_covers_every_key_and_power():
    """A genesis with one nation's key swapped, or one power changed, starts another chain: the
    node's tip before the first block (the first block's prev_hash) differs, so no block of one
    can be taken for a block of the other."""
    from dataclasses import replace

    from nodes import Node

    def tip(genesis: Genesis) -> bytes:
        return Node(IDS["USA"], genesis, VerifyCache()).ledger.tip_hash

    nations = list(GENESIS.nations)
    swapped = list(nations)
    swapped[2] = replace(nations[2], public_key=Identity.derive("CAN", 99).public_key)
    repowered = list(nations)
    repowered[3] = replace(nations[3], power=2)
    reordered = [nations[1], nations[0]] + nations[2:]
    tips = {tip(Genesis(CHAIN, tuple(n))) for n in (nations, swapped, repowered, reordered)}
    assert len(tips) == 4
    assert tip(Genesis(CHAIN, tuple(nations))) == tip(GENESIS)


@pytest.mark.parametrize("code", ["USA\n", "usa", "US", "USAX", 7])
def test_genesis_refuses_a_nation_code_that_is_not_exactly_three_capitals(code):
    from nodes.chain.genesis import GenesisError, GenesisNation
    key = GENESIS.nations[0].public_key
    with pytest.raises(GenesisError, match="ISO 3166 alpha-3"):
        Genesis(CHAIN, (GenesisNation(code, key),))


def test_decode_cache_decodes_each_broadcast_once_and_remembers_failures():
    import hashlib

    from nodes.wire.messages import DecodeCache, WireError, encode_txs
    cache = DecodeCache(CHAIN)
    data = encode_txs("USA", (_tx(1),))
    digest = hashlib.sha256(data).digest()
    first = cache.decode(digest, data)
    assert cache.decode(digest, data) is first
    assert (cache.misses, cache.hits) == (1, 1)
    bad = b"\xc1"
    for _ in range(2):
        with pytest.raises(WireError):
            cache.decode(hashlib.sha256(bad).digest(), bad)
    assert (cache.misses, cache.hits) == (2, 2)


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=6), st.data())
def test_a_broadcast_is_hashed_once_and_its_receivers_share_the_digest(messages, data):
    import hashlib

    from nodes.wire.messages import DecodeCache
    cache = DecodeCache(CHAIN)
    for message in messages:
        first = cache.digest(message)
        assert first == hashlib.sha256(message).digest()
        # the other receivers of the same bytes object get the same digest object
        assert cache.digest(message) is first
        # equal bytes in another object (another sender's copy) still hash to the same digest
        copy = bytes(bytearray(message))
        assert cache.digest(copy) == first
    off = DecodeCache(CHAIN, entries_max=0)  # caching off: every call hashes
    message = data.draw(st.sampled_from(messages))
    assert off.digest(message) == off.digest(message) == hashlib.sha256(message).digest()


def test_a_restart_counts_the_stored_polka_again_but_only_votes_whose_signature_holds():
    """The write-ahead record keeps others' signed prevotes behind a lock (so a restarted node
    can still show that polka); the node checks each signature when it reads the record, so a
    damaged disk cannot make its core count a vote nobody signed: dropped and counted."""
    from consensus import WalRecord
    from nodes import MemoryStorage, Node

    value_id = bytes(range(32))

    def prevote(voter: str, signature: bytes | None = None) -> Vote:
        good = IDS[voter].sign(vote_sign_bytes(CHAIN, 1, 0, Step.PREVOTE, value_id))
        return Vote(Step.PREVOTE, 1, 0, value_id, voter, signature or good)

    storage = MemoryStorage()
    storage.wal = WalRecord(1, 0, Step.PRECOMMIT, None, None, -1, None, None, -1, (),
                            (prevote("MEX"), prevote("CAN", b"\x01" * 64)))
    node = Node(IDS["USA"], GENESIS, VerifyCache(), storage)
    assert node.dropped == {"wal_bad_signature": 1}
    node.start(0)
    tally = node.replica.prevotes(0)
    assert tally is not None
    assert {v.voter for v in tally.certificate(value_id)} == {"MEX"}
