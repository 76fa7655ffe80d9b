"""The validator set: voting power, quorum arithmetic and proposer rotation.

Quorums follow the paper's power formulation. With total power `P`:

- a *quorum* ("2f+1" in the paper) is power strictly greater than 2P/3;
- a *skip threshold* ("f+1") is power strictly greater than P/3.

With `n` equal votes and `n = 3f + 1` these are exactly `2f + 1` and `f + 1`. For other `n` the
power rule is the safe one: two quorums always overlap in more than P/3, so in at least one honest
voter while the Byzantine power stays at or below P/3 - 1 vote's worth. (For n = 5, 2f+1 = 3 would
let two quorums of 3 meet in a single, possibly Byzantine, voter; the power rule asks for 4.)

The proposer for (height, round) is chosen by smooth weighted round robin, the algorithm behind
CometBFT's proposer priority without its re-centring: every step each validator gains its power in
priority, the highest (ties broken by id) proposes and loses the total power. Over `P` steps each
validator proposes exactly `power` times and the priorities return to zero, so the sequence is
periodic with period `P` and we index it by `(height + round) mod P`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VALIDATORS_MAX = 1024
POWER_TOTAL_MAX = 10_000


class ValidatorSetError(ValueError):
    """A validator set that cannot be used: the caller's configuration is wrong."""


@dataclass(frozen=True)
class ValidatorSet:
    """An ordered, immutable set of voters with positive integer power."""

    powers: tuple[tuple[str, int], ...]
    _power_of: dict[str, int] = field(init=False, repr=False, compare=False)
    _sequence: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # The total power, and twice it: the quorum test runs for every vote counted, so they are
    # kept, not derived.
    _total: int = field(init=False, repr=False, compare=False)
    _twice_total: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.powers:
            raise ValidatorSetError("a validator set needs at least one voter")
        if len(self.powers) > VALIDATORS_MAX:
            raise ValidatorSetError(f"at most {VALIDATORS_MAX} validators, got {len(self.powers)}")
        power_of: dict[str, int] = {}
        for voter, power in self.powers:
            if voter in power_of:
                raise ValidatorSetError(f"validator {voter!r} is listed twice")
            if not isinstance(power, int) or power < 1:
                raise ValidatorSetError(f"validator {voter!r} needs a power >= 1, got {power!r}")
            power_of[voter] = power
        total = sum(power_of.values())
        if total > POWER_TOTAL_MAX:
            raise ValidatorSetError(f"total power must be at most {POWER_TOTAL_MAX}, got {total}")
        object.__setattr__(self, "_power_of", power_of)
        object.__setattr__(self, "_sequence", _proposer_sequence(self.powers))
        object.__setattr__(self, "_total", total)
        object.__setattr__(self, "_twice_total", 2 * total)

    @classmethod
    def equal(cls, voters: list[str] | tuple[str, ...]) -> "ValidatorSet":
        return cls(tuple((v, 1) for v in voters))

    @property
    def voters(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.powers)

    @property
    def total_power(self) -> int:
        return self._total

    def power(self, voter: str) -> int:
        """The voter's power, or 0 for a stranger."""
        return self._power_of.get(voter, 0)

    def __contains__(self, voter: object) -> bool:
        return voter in self._power_of

    @property
    def quorum_power(self) -> int:
        """Smallest power strictly greater than 2/3 of the total ("2f+1")."""
        return (2 * self.total_power) // 3 + 1

    @property
    def skip_power(self) -> int:
        """Smallest power strictly greater than 1/3 of the total ("f+1")."""
        return self.total_power // 3 + 1

    def has_quorum(self, power: int) -> bool:
        return 3 * power > self._twice_total

    def has_skip(self, power: int) -> bool:
        return 3 * power > self._total

    def proposer(self, height: int, round_: int) -> str:
        """Deterministic proposer for (height, round): weighted round robin by power."""
        return self._sequence[(height + round_) % len(self._sequence)]


def _proposer_sequence(powers: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    total = sum(p for _, p in powers)
    priority = {v: 0 for v, _ in powers}
    order: list[str] = []
    for _ in range(total):
        for voter, power in powers:
            priority[voter] += power
        # Highest priority wins; ties go to the smaller id so every node picks the same one.
        chosen = min(priority, key=lambda v: (-priority[v], v))
        priority[chosen] -= total
        order.append(chosen)
    return tuple(order)
