"""chemtrace's consensus core: Tendermint (arXiv 1807.04938) as a pure, sans-I/O state machine.

This package imports the standard library alone and uses no clock, no randomness and no I/O.
"""

from .io import (
    Broadcast,
    Decide,
    Effect,
    Event,
    Evidence,
    Persist,
    ProposeValue,
    Receive,
    RequestValue,
    Resume,
    SetTimeout,
    SkipToHeight,
    Start,
    Timeout,
    WalRecord,
)
from .messages import NIL, Message, Proposal, Step, Vote
from .rules import Rules
from .replica import (
    COVERAGE_EVENTS,
    FUTURE_HEIGHTS_MAX,
    FUTURE_MESSAGES_MAX,
    ROUNDS_AHEAD_MAX,
    Replica,
    ReplicaError,
    TimeoutConfig,
)
from .tally import VoteTally
from .validators import POWER_TOTAL_MAX, VALIDATORS_MAX, ValidatorSet, ValidatorSetError

__all__ = [
    "Broadcast", "Decide", "Effect", "Event", "Evidence", "Persist", "ProposeValue", "Receive",
    "RequestValue", "Resume", "SetTimeout", "SkipToHeight", "Start", "Timeout", "WalRecord",
    "NIL", "Message", "Proposal", "Step", "Vote",
    "COVERAGE_EVENTS", "FUTURE_HEIGHTS_MAX", "FUTURE_MESSAGES_MAX", "ROUNDS_AHEAD_MAX",
    "Replica", "ReplicaError",
    "Rules", "TimeoutConfig", "VoteTally", "POWER_TOTAL_MAX", "VALIDATORS_MAX", "ValidatorSet",
    "ValidatorSetError",
]
