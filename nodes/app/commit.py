"""Commitments for confidential custody records: Pedersen commitments to quantities and salted
hash commitments to whole records.

Owns: the group arithmetic of Pedersen commitments over Ed25519 (through PyNaCl's
`nacl.bindings`, no other cryptographic dependency), the second generator `H`, the opening of a
difference of commitments (the conservation check), and the salted sha256 commitment to a
record's canonical bytes. May not know: events, lanes, scenarios, or where blinding factors
come from (a caller passes random bytes: the seeded streams in simulation, the OS live).

Pedersen: `commit(q, r) = q*H + r*G`, with `G` the Ed25519 base point and `H` a point nobody
knows the discrete logarithm of to base `G` (hash a fixed domain string, map it to the curve
with `crypto_core_ed25519_from_uniform`, which lands in the prime-order subgroup). Commitments
add: `commit(a, r) + commit(b, s) = commit(a + b, r + s)`. So the difference of a shipped
commitment and the sum of the received and declared-loss commitments is a commitment to the
discrepancy `d` with blinding `r_out - sum(r_in)`; whoever knows every blinding can open that
difference alone, revealing `d` and nothing of the quantities (`open_difference`), and anyone
can check the opening (`verify_difference`).

What this does not prove: that a committed quantity is non-negative or below any bound (a range
proof, e.g. Bulletproofs, would). A party can commit to a negative loss (`q` taken modulo the
group order `L`) and so make a larger receipt balance; only a party that opens that one
commitment sees it (docs/privacy.md, "What is proved").
"""

from __future__ import annotations

import hashlib

from nacl import bindings as _b

L = 2**252 + 27742317777372353535851937790883648493  # the order of the prime subgroup
POINT_BYTES = 32
SCALAR_BYTES = 32
SALT_BYTES = 32
HASH_COMMITMENT_BYTES = 32
H_DOMAIN = b"chemtrace/pedersen/H/v1"
IDENTITY = bytes([1]) + bytes(31)  # the neutral element, encoded


class OpeningError(ValueError):
    """An opening that is malformed (wrong sizes, not a point, not a scalar): never a crash."""


def _scalar(n: int) -> bytes:
    return (n % L).to_bytes(SCALAR_BYTES, "little")


def _mul_base(r: int) -> bytes:
    r %= L
    return IDENTITY if r == 0 else _b.crypto_scalarmult_ed25519_base_noclamp(_scalar(r))


def _mul(q: int, point: bytes) -> bytes:
    q %= L
    return IDENTITY if q == 0 else _b.crypto_scalarmult_ed25519_noclamp(_scalar(q), point)


def _second_generator() -> bytes:
    # from_uniform takes 32 uniform bytes; the first half of a SHA-512 of the domain string.
    return _b.crypto_core_ed25519_from_uniform(hashlib.sha512(H_DOMAIN).digest()[:32])


G = _mul_base(1)
H = _second_generator()


def blinding(random_bytes: bytes) -> int:
    """A blinding factor from 64 random bytes (reduced modulo L: no bias worth naming)."""
    if len(random_bytes) != 64:
        raise OpeningError("a blinding factor is made from 64 random bytes")
    return int.from_bytes(_b.crypto_core_ed25519_scalar_reduce(random_bytes), "little")


def commit(quantity: int, r: int) -> bytes:
    """`quantity*H + r*G`, 32 bytes. `quantity` is taken modulo L, so a negative one commits."""
    return add(_mul(quantity, H), _mul_base(r))


def add(p: bytes, q: bytes) -> bytes:
    return _b.crypto_core_ed25519_add(p, q)


def sub(p: bytes, q: bytes) -> bytes:
    return _b.crypto_core_ed25519_sub(p, q)


def scalar_sum(rs: list[int]) -> int:
    out = bytes(SCALAR_BYTES)
    for r in rs:
        out = _b.crypto_core_ed25519_scalar_add(out, _scalar(r))
    return int.from_bytes(out, "little")


def scalar_sub(a: int, b: int) -> int:
    return int.from_bytes(_b.crypto_core_ed25519_scalar_sub(_scalar(a), _scalar(b)), "little")


def difference(out: bytes, ins: list[bytes]) -> bytes:
    """`out - sum(ins)`: a commitment to out's quantity less the others', blinding likewise."""
    acc = out
    for c in ins:
        acc = sub(acc, c)
    return acc


def open_difference(q_out: int, r_out: int, parts: list[tuple[int, int]]) -> tuple[int, int]:
    """The opening `(d, r)` of `difference(commit(q_out, r_out), [commit(q, s) ...])`: made by a
    party that knows every quantity and blinding (a member of the lane)."""
    return q_out - sum(q for q, _ in parts), scalar_sub(r_out, scalar_sum([s for _, s in parts]))


def signed(d: int) -> int:
    """A quantity modulo L read back as the integer of least absolute value."""
    d %= L
    return d - L if d > L // 2 else d


def verify_difference(out: bytes, ins: list[bytes], d: int, r: int) -> bool:
    """Whether `(d, r)` opens `out - sum(ins)`. Raises OpeningError on malformed input."""
    check_point(out)
    for c in ins:
        check_point(c)
    if not isinstance(d, int) or not isinstance(r, int) or not 0 <= r < L or abs(d) >= L // 2:
        raise OpeningError("an opening is an integer discrepancy and a scalar below L")
    return difference(out, ins) == commit(d, r)


def check_point(p: object) -> bytes:
    if not isinstance(p, bytes) or len(p) != POINT_BYTES:
        raise OpeningError(f"a commitment is {POINT_BYTES} bytes")
    if p != IDENTITY and not _b.crypto_core_ed25519_is_valid_point(p):
        raise OpeningError("a commitment is not a point of the prime-order subgroup")
    return p


def conservation(out: bytes, ins: list[bytes], d: int, r: int, tolerance: int
                 ) -> tuple[bool, int]:
    """The check every nation can run: `(within_tolerance, d)` once the opening verifies;
    OpeningError when it does not (a wrong opening is the opener's fault, never a pass)."""
    if not verify_difference(out, ins, d, r):
        raise OpeningError("the opening does not match the commitments")
    return abs(d) <= tolerance, d


def hash_commitment(record: bytes, salt: bytes) -> bytes:
    """sha256(salt || record): hides a record (a 32-byte salt defeats guessing its values) and
    binds its owner to it."""
    if len(salt) != SALT_BYTES:
        raise OpeningError(f"a salt is {SALT_BYTES} bytes")
    return hashlib.sha256(salt + record).digest()
