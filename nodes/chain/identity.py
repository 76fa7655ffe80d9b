"""Ed25519 identities (pynacl), the Ed25519 signature scheme, and the process-wide signature
verification cache."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from typing import Callable, Iterator

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from nodes.chain.bounded import DIGEST_ENTRY_BYTES, BoundedMemo, SeenDigests

SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
VERIFY_CACHE_ENTRIES_MAX = 1_000_000
# The memoised verdicts (verify_keyed) keep their key alive, and a transaction's key holds its
# payload: they are bounded in bytes too, each counted as VERDICT_ENTRY_BYTES plus the payload.
# The verdicts by digest (verify) have keys of 32 bytes: their count bounds their bytes.
VERIFY_CACHE_BYTES_MAX = 256 * 1024 * 1024
VERDICT_ENTRY_BYTES = 256
# Signatures an identity remembers: a node stuck at a height resends its own messages of the
# height (at most nodes.node.RESEND_MESSAGES_MAX) every period, the same bytes each time.
SIGNATURES_REMEMBERED_MAX = 256
# Derived identities kept by (class, name, seed, purpose): a fuzzer builds thousands of worlds
# from a few seeds, a dozen keys each.
DERIVED_IDENTITIES_MAX = 4096
# Verdicts of checks already made by any world of the process, while `sharing_verdicts` is on
# (the fuzzer: world after world from a few seeds, whose nodes check the same messages).
KNOWN_VERDICTS_ENTRIES_MAX = 65_536


class Identity:
    """A signing key with the name it signs as (a nation code, later also an operator id).

    Ed25519 signing is deterministic (RFC 8032: the nonce is a hash of the key and the message),
    so `sign` remembers its last SIGNATURES_REMEMBERED_MAX signatures by message: a resend of
    the same bytes gets the same signature without computing it again. A signature made here is
    never taken as checked: every one is verified by pynacl once, like a stranger's."""

    __slots__ = ("name", "_key", "public_key", "_signatures")

    def __init__(self, name: str, seed32: bytes) -> None:
        if len(seed32) != 32:
            raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed32)}")
        self.name = name
        self._key = SigningKey(seed32)
        self.public_key = bytes(self._key.verify_key)
        self._signatures: dict[bytes, bytes] = {}

    @classmethod
    def derive(cls, name: str, seed: int, purpose: str = "nation") -> "Identity":
        """Deterministic key for simulations: the same (seed, name) always gives the same key,
        and recently the same object (an identity only ever changes its signature memo)."""
        return _derive(cls, name, seed, purpose)

    @classmethod
    def generate(cls, name: str) -> "Identity":
        return cls(name, bytes(SigningKey.generate()))

    def seed_bytes(self) -> bytes:
        return bytes(self._key)

    def sign(self, message: bytes) -> bytes:
        signatures = self._signatures
        signature = signatures.get(message)
        if signature is None:
            signature = self._key.sign(message).signature
            if len(signatures) >= SIGNATURES_REMEMBERED_MAX:
                del signatures[next(iter(signatures))]  # the oldest
            signatures[message] = signature
        return signature


@functools.lru_cache(maxsize=DERIVED_IDENTITIES_MAX, typed=True)
def _derive(cls: type[Identity], name: str, seed: int, purpose: str) -> Identity:
    return cls(name, hashlib.sha256(f"chemtrace/{purpose}/{seed}/{name}".encode()).digest())


class Ed25519Signatures:
    """The signature scheme of the chain: Ed25519 (pynacl). A scheme makes identities
    (`derive`) and checks signatures (`verify`); `VerifyCache` checks through one. The
    simulated world may run the cheaper `nodes.chain.modelled.ModelledSignatures` instead
    (a scenario's `[consensus] signatures`); live nodes always run this one."""

    name = "ed25519"
    # The fuzzer's worlds may share verdicts (`sharing_verdicts`): an Ed25519 check is a pure
    # function of (key, bytes, signature), whichever world asks.
    shares_verdicts = True

    def derive(self, name: str, seed: int, purpose: str = "nation") -> Identity:
        return Identity.derive(name, seed, purpose)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return verify_signature(public_key, message, signature)


ED25519 = Ed25519Signatures()


class VerifyCache:
    """Verdicts of Ed25519 checks, keyed by sha256(public key, bytes, signature).

    One instance is shared by every node of a process, so each distinct signature is checked once
    however many simulated nations receive it. Bounded: the oldest verdicts are evicted first.

    `verify_tx` (and `verify_keyed` for votes and proposals) is the hot path for transactions, which every node checks on gossip and again in
    each proposed block: it keys the verdict by (chain id, public key, the transaction object)
    instead, so a hit costs one dict lookup (the decoded transaction is the same object at every
    node, and bytes and str cache their hashes) rather than re-encoding the signed bytes and
    hashing them. The key holds every field the verdict depends on (a frozen dataclass compares
    all its fields), so two transactions that differ anywhere never share a verdict.
    `entries_max = 0` turns caching off (every call verifies): tests compare runs with and
    without it.

    Inside `sharing_verdicts()` (the fuzzer), a verdict this cache does not hold is first looked
    up among the verdicts any cache of the process computed in that block, and only then
    checked with pynacl. It still counts as a miss: `misses` is the number of distinct
    signatures this cache was asked about, whatever other caches did. `known_verdicts=False`
    skips that look-up (a benchmark of cold checks).
    """

    __slots__ = ("_verdicts", "_tx_verdicts", "entries_max", "hits", "misses", "_known",
                 "scheme", "_check")

    def __init__(self, entries_max: int = VERIFY_CACHE_ENTRIES_MAX,
                 known_verdicts: bool = True, bytes_max: int = VERIFY_CACHE_BYTES_MAX,
                 scheme=ED25519) -> None:
        """`scheme`: what checks a signature the cache does not hold a verdict for
        (`Ed25519Signatures`, the default, or `nodes.chain.modelled.ModelledSignatures`)."""
        self.scheme = scheme
        self._check = scheme.verify
        self._known = known_verdicts and entries_max > 0 and scheme.shares_verdicts
        # verdict_key -> verdict, oldest first out past entries_max (keys all one size: the
        # count bounds the bytes); a dict and a deque, half an OrderedDict's memory
        self._verdicts = SeenDigests(entries_max, entries_max * DIGEST_ENTRY_BYTES)
        # memo key -> (verdict, the bytes it is counted as)
        self._tx_verdicts: BoundedMemo[bool] = BoundedMemo(entries_max, bytes_max)
        self.entries_max = entries_max
        self.hits = 0
        self.misses = 0

    def verify_tx(self, public_key: bytes, chain_id: str, tx) -> bool:
        """`verify(public_key, tx.signed_bytes(chain_id), tx.signature)`, memoised by the tx.

        `verify_keyed` inlined: a hit (nearly every call) makes no closure and no second call."""
        memo_key = (chain_id, public_key, tx)
        verdict = self._tx_verdicts.get(memo_key)
        if verdict is not None:
            self.hits += 1
            return verdict
        verdict = self.verify(public_key, tx.signed_bytes(chain_id), tx.signature)
        self._tx_verdicts.put(memo_key, verdict, VERDICT_ENTRY_BYTES + len(tx.payload))
        return verdict

    def verify_keyed(self, memo_key: tuple, public_key: bytes,
                     signed_bytes: Callable[[], bytes], signature: bytes,
                     size: int = VERDICT_ENTRY_BYTES) -> bool:
        """`verify(public_key, signed_bytes(), signature)`, memoised under `memo_key`, which the
        caller builds from every value the signed bytes are made of, plus the key and the
        signature (so equal keys mean equal checks). `size`: what the key keeps alive."""
        verdict = self._tx_verdicts.get(memo_key)
        if verdict is not None:
            self.hits += 1
            return verdict
        verdict = self.verify(public_key, signed_bytes(), signature)
        self._tx_verdicts.put(memo_key, verdict, size)
        return verdict

    @property
    def tx_verdict_bytes(self) -> int:
        """What the memoised verdicts of verify_keyed are counted as (VERIFY_CACHE_BYTES_MAX)."""
        return self._tx_verdicts.bytes

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
            return False
        key = verdict_key(public_key, message, signature)
        verdict = self._verdicts.get(key)
        if verdict is not None:
            self.hits += 1
            return verdict
        self.misses += 1
        if self.entries_max <= 0:
            return self._check(public_key, message, signature)
        known = _known_verdicts if self._known else None
        verdict = known.get(key) if known is not None else None
        if verdict is None:
            verdict = self._check(public_key, message, signature)
            if known is not None:
                known[key] = verdict
                if len(known) > KNOWN_VERDICTS_ENTRIES_MAX:
                    del known[next(iter(known))]  # the oldest
        self._verdicts.add(key, verdict)
        return verdict


def verdict_key(public_key: bytes, message: bytes, signature: bytes) -> bytes:
    """sha256(public key, message length, message, signature): a verdict's key."""
    h = hashlib.sha256()
    h.update(public_key)
    h.update(len(message).to_bytes(8, "big"))
    h.update(message)
    h.update(signature)
    return h.digest()


# verdict_key -> the verdict of that Ed25519 check, oldest first (KNOWN_VERDICTS_ENTRIES_MAX);
# None outside `sharing_verdicts`.
_known_verdicts: dict[bytes, bool] | None = None


@contextlib.contextmanager
def sharing_verdicts() -> Iterator[None]:
    """While inside, every caching VerifyCache of the process shares the verdicts of the checks
    it makes (each distinct signature is checked by pynacl once in the block, not once per
    world). A verdict is a pure function of (key, bytes, signature), so this changes no run.
    The fuzzer uses it across its worlds; a benchmark of one world's cost must not, or a
    repeated run would skip the checks its first run paid for."""
    global _known_verdicts
    outer = _known_verdicts
    _known_verdicts = {} if outer is None else outer
    try:
        yield
    finally:
        _known_verdicts = outer


def known_verdict(public_key: bytes, message: bytes, signature: bytes) -> bool | None:
    """The verdict of this check if a cache computed it inside the current `sharing_verdicts`
    block, else None."""
    if _known_verdicts is None:
        return None
    return _known_verdicts.get(verdict_key(public_key, message, signature))


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """An uncached Ed25519 check; never raises on bad input."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
