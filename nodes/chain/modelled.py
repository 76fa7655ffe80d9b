"""Modelled signatures: unforgeable by construction, for the simulated world at scale.

An Ed25519 signature costs about 20 µs to make and 60 µs to check; a height at n = 4 needs
about 9 of each, which caps a simulated world near 1,500 heights a wall second however cheap
the rest is. Research runs and the fuzzer need the protocol's behaviour under faults, not the
cryptography, so a scenario may set `[consensus] signatures = "modelled"`:

- Each identity holds a secret of 32 bytes derived, like an Ed25519 seed, from the scenario's
  seed and its name. Its public key is BLAKE2b-256 of the secret (under a label of its own), so
  the key names the secret and nothing computes one from the other.
- A signature is the keyed BLAKE2b-512 of the signed bytes under the signer's secret: 64 bytes,
  as an Ed25519 signature, so every message, block and certificate keeps its size and layout.
- `ModelledSignatures` is the world's registry of the secrets of the identities it derived
  (public key -> secret), and checks a signature by computing it again. Only the identity
  object and the world hold a secret; no node, hook or message does. A nation signs only as
  itself (its node's `sign` uses its own identity), and a Byzantine coalition signs for its
  members only if its hooks were given their identities, as under Ed25519.

What it still checks: a signature made with another key, or over other bytes, or altered in
any byte, or under a key the world did not derive, fails (the MAC is a keyed hash: without the
secret, a forgery is a 2^-512 guess). What it does not model: the cost of Ed25519 (a check is
about a microsecond), Ed25519's own rules (canonical encodings, small-order keys, the
malleability pynacl refuses), and an adversary who reads the world's memory. Keys are only
meaningful inside the world that derived them: a live node, a key file and `chemtrace chain`
always use Ed25519 (`nodes.chain.identity`).
"""

from __future__ import annotations

import hashlib
import hmac

from nodes.chain.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES

PUBLIC_KEY_LABEL = b"chemtrace/modelled/public"


class ModelledIdentity:
    """A modelled signing key with the name it signs as: `Identity`'s interface."""

    __slots__ = ("name", "_secret", "public_key")

    def __init__(self, name: str, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError(f"a modelled secret is 32 bytes, got {len(secret)}")
        self.name = name
        self._secret = secret
        self.public_key = public_key_of(secret)

    def sign(self, message: bytes) -> bytes:
        return _mac(self._secret, message)

    def seed_bytes(self) -> bytes:
        return self._secret


def public_key_of(secret: bytes) -> bytes:
    return hashlib.blake2b(secret, digest_size=PUBLIC_KEY_BYTES,
                           person=b"chemtrace-pub").digest()


def _mac(secret: bytes, message: bytes) -> bytes:
    return hashlib.blake2b(message, digest_size=SIGNATURE_BYTES, key=secret).digest()


class ModelledSignatures:
    """The scheme (see the module docstring): derives identities and checks their signatures.
    One per world; it holds the secrets of the identities it derived and of no others."""

    name = "modelled"
    # Verdicts stay in the world's own VerifyCache: a check costs less than the look-up.
    shares_verdicts = False

    def __init__(self) -> None:
        self._secrets: dict[bytes, bytes] = {}  # public key -> secret

    def derive(self, name: str, seed: int, purpose: str = "nation") -> ModelledIdentity:
        """The same (name, seed, purpose) always gives the same key, as Identity.derive does;
        the two schemes' keys for one name differ."""
        secret = hashlib.sha256(f"chemtrace/modelled/{purpose}/{seed}/{name}".encode()).digest()
        identity = ModelledIdentity(name, secret)
        self._secrets[identity.public_key] = secret
        return identity

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """Never raises on bad input: a key this world did not derive, or a signature of the
        wrong length or bytes, is False."""
        secret = self._secrets.get(public_key) if isinstance(public_key, bytes) else None
        if secret is None or not isinstance(signature, bytes):
            return False
        return hmac.compare_digest(_mac(secret, message), signature)


SCHEMES = ("ed25519", "modelled")


def signature_scheme(name: str):
    """A fresh scheme by its `[consensus] signatures` name."""
    from nodes.chain.identity import ED25519
    if name == "ed25519":
        return ED25519
    if name == "modelled":
        return ModelledSignatures()
    raise ValueError(f"signatures: {name!r} is not one of {', '.join(SCHEMES)}")
