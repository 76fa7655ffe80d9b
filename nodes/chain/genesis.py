"""The genesis: chain id and the founding nations with their public keys and voting power."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from consensus import ValidatorSet

from nodes.chain.codec import pack
from nodes.chain.identity import ED25519, PUBLIC_KEY_BYTES, Identity

NATION_CODE = re.compile(r"^[A-Z]{3}$")
CHAIN_ID_BYTES_MAX = 64


class GenesisError(ValueError):
    """A genesis that cannot be used; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class GenesisNation:
    code: str
    public_key: bytes
    power: int = 1


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    nations: tuple[GenesisNation, ...]

    def __post_init__(self) -> None:
        if not self.chain_id or len(self.chain_id.encode()) > CHAIN_ID_BYTES_MAX:
            raise GenesisError(f"chain_id must be 1 to {CHAIN_ID_BYTES_MAX} bytes")
        seen: set[str] = set()
        for nation in self.nations:
            if not (isinstance(nation.code, str) and NATION_CODE.fullmatch(nation.code)):
                raise GenesisError(
                    f"nation {nation.code!r}: use an ISO 3166 alpha-3 code such as 'USA'")
            if nation.code in seen:
                raise GenesisError(f"nation {nation.code!r} is listed twice")
            if len(nation.public_key) != PUBLIC_KEY_BYTES:
                raise GenesisError(f"nation {nation.code!r}: public key must be 32 bytes")
            seen.add(nation.code)
        object.__setattr__(self, "_keys", {n.code: n.public_key for n in self.nations})
        object.__setattr__(self, "validators",
                           ValidatorSet(tuple((n.code, n.power) for n in self.nations)))
        # The hash every chain of this genesis starts from (the first block's prev_hash): it
        # covers the chain id and each nation's code, public key and power, in their order, so
        # two geneses that differ in any of them give chains that share no block.
        object.__setattr__(self, "_hash", hashlib.sha256(pack((
            "genesis", self.chain_id,
            tuple((n.code, n.public_key, n.power) for n in self.nations)))).digest())

    @property
    def hash(self) -> bytes:
        return self._hash  # type: ignore[attr-defined]

    def public_key(self, code: str) -> bytes | None:
        return self._keys.get(code)  # type: ignore[attr-defined]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(n.code for n in self.nations)

    @classmethod
    def simulated(cls, chain_id: str, powers: list[tuple[str, int]], seed: int,
                  scheme=ED25519) -> tuple["Genesis", dict[str, Identity]]:
        """A genesis whose keys derive from `seed` under signature `scheme` (Ed25519, or the
        simulated world's `ModelledSignatures`), and the matching identities."""
        identities = {code: scheme.derive(code, seed) for code, _ in powers}
        nations = tuple(GenesisNation(code, identities[code].public_key, power)
                        for code, power in powers)
        return cls(chain_id, nations), identities

    def to_json(self) -> str:
        return json.dumps({
            "chain_id": self.chain_id,
            "nations": [{"code": n.code, "public_key": n.public_key.hex(), "power": n.power}
                        for n in self.nations],
        }, indent=2)

    @classmethod
    def load(cls, path: str | Path) -> "Genesis":
        fix = ("a genesis file is the JSON that `chemtrace genesis --keys DIR --out FILE` writes: "
               "chain_id, and nations with code, public_key and power")
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            nations = tuple(GenesisNation(n["code"], bytes.fromhex(n["public_key"]),
                                          int(n.get("power", 1))) for n in raw["nations"])
            return cls(raw["chain_id"], nations)
        except OSError as exc:
            raise GenesisError(f"{path}: cannot read the genesis file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise GenesisError(f"{path}: not text in UTF-8; {fix}") from None
        except json.JSONDecodeError as exc:
            raise GenesisError(f"{path}:{exc.lineno}: not valid JSON (column {exc.colno}: "
                               f"{exc.msg}); {fix}") from None
        except KeyError as exc:
            raise GenesisError(f"{path}: no {exc.args[0]!r} key; {fix}") from None
        except (TypeError, ValueError) as exc:
            raise GenesisError(f"{path}: not a genesis ({exc}); {fix}") from None
