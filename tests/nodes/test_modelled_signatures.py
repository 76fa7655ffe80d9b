"""Modelled signatures (nodes/chain/modelled.py): a nation signs only as itself, and a forged or
altered signature fails, as with Ed25519; the two schemes never accept each other's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes import Identity, VerifyCache
from nodes.chain.identity import ED25519, SIGNATURE_BYTES
from nodes.chain.modelled import ModelledIdentity, ModelledSignatures, signature_scheme

SCHEME = ModelledSignatures()
SIGNERS = {code: SCHEME.derive(code, 3) for code in ("USA", "MEX", "CAN")}
MESSAGES = st.binary(max_size=400)
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(message=MESSAGES, signer=st.sampled_from(sorted(SIGNERS)))
def test_a_signature_holds_under_its_signers_key_only(message, signer):
    signature = SIGNERS[signer].sign(message)
    assert len(signature) == SIGNATURE_BYTES
    assert SCHEME.verify(SIGNERS[signer].public_key, message, signature)
    for other in SIGNERS:
        if other != signer:
            assert not SCHEME.verify(SIGNERS[other].public_key, message, signature)


@FAST
@given(message=MESSAGES.filter(bool), data=st.data())
def test_any_altered_byte_of_the_signature_or_the_message_fails(message, data):
    signer = SIGNERS["MEX"]
    signature = signer.sign(message)
    i = data.draw(st.integers(0, SIGNATURE_BYTES - 1))
    flip = data.draw(st.integers(1, 255))
    bad = signature[:i] + bytes([signature[i] ^ flip]) + signature[i + 1:]
    assert not SCHEME.verify(signer.public_key, message, bad)
    j = data.draw(st.integers(0, len(message) - 1))
    altered = message[:j] + bytes([message[j] ^ flip]) + message[j + 1:]
    assert not SCHEME.verify(signer.public_key, altered, signature)
    assert not SCHEME.verify(signer.public_key, message + b"\0", signature)
    assert not SCHEME.verify(signer.public_key, message, signature[:-1])


@FAST
@given(key=st.binary(min_size=32, max_size=32), message=MESSAGES,
       signature=st.binary(min_size=64, max_size=64))
def test_a_key_the_world_did_not_derive_accepts_nothing(key, message, signature):
    assert not SCHEME.verify(key, message, signature)


@pytest.mark.parametrize("key, message, signature", [
    (None, b"m", bytes(64)), ("USA", b"m", bytes(64)), (SIGNERS["USA"].public_key, b"m", None),
    (SIGNERS["USA"].public_key, b"m", "x" * 64), (SIGNERS["USA"].public_key, b"m", b""),
])
def test_bad_input_is_false_not_an_exception(key, message, signature):
    assert SCHEME.verify(key, message, signature) is False


def test_another_worlds_scheme_knows_none_of_these_keys_until_it_derives_them():
    other = ModelledSignatures()
    signer = SIGNERS["CAN"]
    assert not other.verify(signer.public_key, b"m", signer.sign(b"m"))
    again = other.derive("CAN", 3)  # the same name and seed: the same key, as Identity.derive
    assert again.public_key == signer.public_key and again.sign(b"m") == signer.sign(b"m")
    assert other.verify(signer.public_key, b"m", signer.sign(b"m"))
    assert other.derive("CAN", 4).public_key != signer.public_key
    assert other.derive("CAN", 3, "operator").public_key != signer.public_key


def test_the_schemes_never_accept_each_others_signatures():
    ed = Identity.derive("USA", 3)
    modelled = SIGNERS["USA"]
    assert ed.public_key != modelled.public_key
    assert not SCHEME.verify(ed.public_key, b"m", ed.sign(b"m"))
    assert not ED25519.verify(modelled.public_key, b"m", modelled.sign(b"m"))
    # the Ed25519 cache (the default, and the live nodes') refuses a modelled signature
    assert not VerifyCache().verify(modelled.public_key, b"m", modelled.sign(b"m"))
    assert VerifyCache(scheme=SCHEME).verify(modelled.public_key, b"m", modelled.sign(b"m"))


def test_a_verify_cache_checks_a_modelled_signature_once_and_caches_bad_verdicts():
    cache = VerifyCache(scheme=SCHEME)
    signer = SIGNERS["USA"]
    assert cache.verify(signer.public_key, b"a", signer.sign(b"a"))
    assert cache.verify(signer.public_key, b"a", signer.sign(b"a"))
    assert not cache.verify(signer.public_key, b"b", signer.sign(b"a"))
    assert not cache.verify(signer.public_key, b"b", signer.sign(b"a"))
    assert (cache.misses, cache.hits) == (2, 2)


def test_scheme_names():
    assert signature_scheme("ed25519") is ED25519
    assert isinstance(signature_scheme("modelled"), ModelledSignatures)
    assert signature_scheme("modelled") is not signature_scheme("modelled")  # one per world
    with pytest.raises(ValueError, match="ed25519, modelled"):
        signature_scheme("rsa")
    with pytest.raises(ValueError, match="32 bytes"):
        ModelledIdentity("USA", b"short")
