"""The transaction path's shortcuts against the plain path (issue 19, branch `txp`).

The signature cache is shared by every node of a process, Byzantine ones included, whose hooks
can build any Transaction object: a verdict memoised for one object must never answer for
another that differs in any field, whatever order they are checked in.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings, strategies as st

from nodes.chain.identity import Identity, VerifyCache, verify_signature
from nodes.chain.tx import Transaction, TxError, TxMemo

CHAINS = ("chain-a", "chain-b")
IDS = {name: Identity.derive(name, 19) for name in ("CHN", "MEX", "USA")}
FIELDS = ("kind", "signer", "nonce", "payload", "signature", "tx_id")


def _genuine(chain: str, signer: str, nonce: int, payload: bytes) -> Transaction:
    return Transaction.create(chain, IDS[signer], "payload", nonce, payload)


@st.composite
def transactions(draw) -> tuple[str, Transaction]:
    """A chain id and a transaction: genuine, or a genuine one with fields swapped for another
    transaction's or made up (a forgery that may keep the honest id and signature)."""
    chain = draw(st.sampled_from(CHAINS))
    tx = _genuine(draw(st.sampled_from(CHAINS)), draw(st.sampled_from(sorted(IDS))),
                  draw(st.integers(0, 3)), draw(st.sampled_from([b"", b"a", b"ab"])))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        if name in ("kind", "signer"):
            value = draw(st.sampled_from(["payload", "CHN", "MEX", "USA", "other"]))
        elif name == "nonce":
            value = draw(st.integers(0, 3))
        elif name == "payload":
            value = draw(st.sampled_from([b"", b"a", b"ab", b"forged"]))
        else:  # signature or id: another transaction's, or made up
            other = _genuine(chain, draw(st.sampled_from(sorted(IDS))), draw(st.integers(0, 3)),
                             b"a")
            value = draw(st.sampled_from([getattr(other, name), bytes(64 if name ==
                                                                       "signature" else 32)]))
        tx = dataclasses.replace(tx, **{name: value})
    return chain, tx


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(transactions(), st.sampled_from(sorted(IDS))), min_size=1,
                max_size=12))
def test_the_shared_cache_gives_each_transaction_its_own_verdict(checks):
    cache = VerifyCache()
    for _ in range(2):  # a second pass hits the memo for every one
        for (chain, tx), key_of in checks:
            key = IDS[key_of].public_key
            plain = verify_signature(key, tx.signed_bytes(chain), tx.signature)
            assert cache.verify_tx(key, chain, tx) is plain


@settings(max_examples=300, deadline=None)
@given(transactions(), transactions())
def test_a_transactions_hash_is_consistent_with_its_equality(a, b):
    (_, x), (_, y) = a, b
    copy = Transaction(*(getattr(x, f) for f in FIELDS))
    assert copy == x and hash(copy) == hash(x)
    if x == y:
        assert hash(x) == hash(y)
    # Equality still covers every field: same id, any other field different, not equal.
    if x.tx_id == y.tx_id and any(getattr(x, f) != getattr(y, f) for f in FIELDS):
        assert x != y and len({x, y}) == 2


@settings(max_examples=300, deadline=None)
@given(transactions(), st.sampled_from(CHAINS), st.booleans())
def test_signed_bytes_and_seeding_of_a_transaction_made_here_match_the_plain_path(drawn, chain,
                                                                                   remade):
    """A transaction made by Transaction.create keeps its signed bytes until gossiped: what
    signed_bytes and TxMemo.seed give from them is what packing and decoding give."""
    _, tx = drawn
    if remade:  # the one made here, then the drawn (maybe forged) one beside it
        made = Transaction.create(chain, IDS[tx.signer] if tx.signer in IDS else IDS["CHN"],
                                  tx.kind, tx.nonce, tx.payload)
        checks = [made, tx]
    else:
        checks = [tx]
    for one in checks:
        plain = Transaction.sign_bytes(chain, one.kind, one.signer, one.nonce, one.payload)
        assert one.signed_bytes(chain) == plain
        memo = TxMemo()
        raw = one.to_wire()
        try:
            decodes = Transaction.from_wire(chain, raw) == one
        except TxError:
            decodes = False
        memo.seed(chain, (one,))
        assert (memo.get(raw) is one) is decodes
