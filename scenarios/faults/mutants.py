"""Mutants: deliberately broken variants of the protocol, to prove that the fuzzer finds real bugs.

Theory of operation
-------------------

Each mutant is a `nodes.hooks.NodeHooks` with a `name` and a one-line `description`, kept here,
apart from the honest core: `consensus/` stays the one honest implementation and never learns
that these exist. The world runs a mutant in place of every honest nation
(`build_world(scenario, honest_hooks=Mutant)`: each honest node gets its own `Mutant()`);
Byzantine nations keep their own hooks.

A mutant changes one rule, the way real BFT bugs do, through one declared hook point:

- replica rules (`replica_rules`): a `consensus.rules.Rules` subclass that overrides one of the
  paper's judgements (line 15, 22, 28, the valid round read off a proposal, line 49). The
  replica itself is the honest one; with `Rules()` unchanged it behaves exactly as with no
  rules: a test checks that it gives the same trace, byte for byte, so a kill always comes
  from the mutation and never from a copying slip;
- quorum arithmetic (`replica_validators`): a `ValidatorSet` subclass;
- timeouts (`replica_timeouts`);
- what a restart reads back from the write-ahead record (`restored_record`);
- node glue: a check the node skips (`check_signatures`, `check_certificates`, or one named
  check of valid() or of a synced block's certificate, `skipped_checks`).

Each class's docstring names the adversary (a behaviour kind of `schema.BEHAVIOURS`, or a
network condition the fuzzer's strategies draw) that exposes it. `MUTANTS` lists them by name.

The benchmark that fuzzes each of them is `scenarios/search/mutants.py` (`chemtrace mutants`).
"""

from __future__ import annotations

import dataclasses

from consensus import Rules, Step, TimeoutConfig, ValidatorSet
from nodes import NodeHooks


class Mutant(NodeHooks):
    """A node whose replica (or glue) breaks one rule. Subclasses set `name`, `description`
    and override one hook point; `rules_class` is the replica's rules (None: the paper's)."""

    name = "honest-copy"
    description = "no mutation: the paper's rules, through consensus.rules.Rules"
    rules_class: type[Rules] | None = Rules
    shares_application = True  # valid() and the application stay honest

    def replica_rules(self, node) -> Rules | None:
        return self.rules_class() if self.rules_class is not None else None


# ---------------------------------------------------------------- the mutants


class _TwoFValidators(ValidatorSet):
    """A quorum of 2f votes, f = (P - 1) // 3, in place of more than 2/3 of the power."""

    def has_quorum(self, power: int) -> bool:
        return power >= max(1, 2 * ((self.total_power - 1) // 3))


class Quorum2f(Mutant):
    """Two quorums of 2f can meet in no honest node (for n = 4, {A, B} and {C, D}): any
    partition, loss or equivocator splits the nations. The certificate it stores is short of
    2/3 too, which the validity oracle checks on every commit."""

    name = "quorum_2f"
    description = "a quorum is 2f votes (f = (n-1)//3) instead of more than 2/3 of the power"

    def replica_validators(self, node, validators: ValidatorSet) -> ValidatorSet:
        return _TwoFValidators(validators.powers)


class _NoLockingRules(Rules):
    def line22_ok(self, replica, proposal, valid):
        return valid

    def line28_ok(self, replica, proposal, valid):
        return valid


class NoLocking(Mutant):
    """Lines 22 and 28 ignore locked_round. Exposed by the `fork` adversary (lock_quorum): a
    quorum locks on a value one nation decides, and a fresh proposal later wins the rest."""

    name = "no_locking"
    description = "prevotes any valid proposal, whatever it is locked on (lines 22/28)"
    rules_class = _NoLockingRules


class _UnlockOnHigherRoundRules(Rules):
    def line28_applies(self, replica, proposal, round_):
        # The bug: the proposer's valid_round is believed without the 2f+1 prevotes behind it.
        return 0 <= proposal.valid_round < round_


class UnlockOnHigherRound(Mutant):
    """Line 28 without its polka: a proposal that claims a valid_round at or above the lock
    unlocks, though nobody saw 2f+1 prevotes there (Tendermint issue 1047). Exposed by the
    `fork` adversary (lock_quorum with a Byzantine proposer claiming a made-up valid_round)."""

    name = "unlock_on_higher_round"
    description = "unlocks on a proposal claiming a higher valid_round, without its polka (#1047)"
    rules_class = _UnlockOnHigherRoundRules


class _IgnoreValidRoundRules(Rules):
    def reproposal(self, replica):
        if replica.valid_value is not None:  # the value is proposed again, its round forgotten
            return replica.valid_value, replica.valid_value_id, -1
        return None

    def valid_round(self, replica, proposal):
        return -1  # line 28 never applies: every proposal is judged by line 22


class IgnoreValidRound(Mutant):
    """valid_round is dropped: the proposer re-proposes its valid value with valid_round -1,
    and every proposal is judged by line 22. Nations locked in different rounds never unlock
    (line 28 is what frees them), so the height stalls for good. Exposed by the `fork`
    adversary (lock_one)."""

    name = "ignore_valid_round"
    description = "drops valid_round: re-proposes with vr = -1 and judges every proposal by line 22"
    rules_class = _IgnoreValidRoundRules


class _CommitOnPrevotesRules(Rules):
    def decision_tallies(self, replica, round_):
        return (replica.prevotes(round_), replica.precommits(round_))


class CommitOnPrevotes(Mutant):
    """Line 49 on prevotes: 2f+1 prevotes for a proposal decide it, in any round. A polka seen
    by one nation only lets the others decide another value later. Exposed by the `fork`
    adversary (prevote_victim), and by loss that hides a polka from all but one."""

    name = "commit_on_prevotes"
    description = "decides on 2f+1 prevotes (line 49 counting prevotes as well as precommits)"
    rules_class = _CommitOnPrevotesRules


class _ProposerIgnoresLockRules(Rules):
    def reproposal(self, replica):
        if replica.locked_round != -1:
            return None  # the bug: locked, yet a fresh value
        return super().reproposal(replica)


class ProposerIgnoresLock(Mutant):
    """As proposer, a locked nation proposes a fresh value instead of its valid value. The
    others locked on that value prevote nil, and no round can win them back: a liveness bug.
    Exposed by the `fork` adversary (lock_one)."""

    name = "proposer_ignores_lock"
    description = "as proposer, proposes a fresh value even when locked (line 15 skipped)"
    rules_class = _ProposerIgnoresLockRules


class _ValidOnlyWhilePrevotingRules(Rules):
    def line36_tracks_valid(self, replica):
        return replica.step is Step.PREVOTE


class ValidValueOnlyWhilePrevoting(Mutant):
    """Line 36 updates the valid value only in the prevote step, where it also locks: a polka
    seen after precommitting nil (its prevote timeout expired first) is forgotten. As the next
    proposer the nation proposes a fresh value, which the nations locked on the polka's value
    refuse, so a round whose proposer is correct is lost: a bug that only delays decisions.
    Exposed by a polka that reaches the next proposer late, while more than 1/3 of the power
    locked on it (the strategies' late-polka schedules build that split), and judged by the
    first-correct-proposer oracle (`--prompt-decisions`) or, where the delay repeats, the
    liveness bound."""

    name = "valid_value_only_while_prevoting"
    description = "line 36 sets the valid value only in the prevote step, not after precommitting"
    rules_class = _ValidOnlyWhilePrevotingRules


class RestartForgetsStep(Mutant):
    """A restart resumes its round at the propose step, without its votes of that round: the
    write-ahead record's step and latest votes are not read back (as if the node wrote its
    record after sending, and crashed in between). Back in the round it votes again, and may
    vote otherwise: a prevote for the proposal after a nil one, or nil after a prevote for it.
    Exposed by a crash just after a vote (the strategies' crash points) and judged by the
    accountability oracle: evidence of equivocation against a nation that is honest and never
    lost its disk."""

    name = "restart_forgets_step"
    description = "a restart resumes its round at the propose step, its votes of the round lost"

    def restored_record(self, node, record):
        if record is None:
            return None
        kept = tuple(v for v in record.own_votes if v.round < record.round)
        return dataclasses.replace(record, step=Step.PROPOSE, own_votes=kept)


class TimeoutsNeverGrow(Mutant):
    """timeout_X(r) = X_base for every round. Once latency exceeds the base timeouts, no round
    ever lasts long enough to decide: the liveness argument after GST needs timeouts that grow.
    Exposed when no proposal can arrive within the propose timeout: a propose base below the
    shortest message delay (latency - jitter), which the strategies draw on purpose
    (strategies.SHORT_PROPOSE_ODDS). A base only below latency + jitter lets some rounds through,
    and one commit after GST passes the liveness oracle."""

    name = "timeouts_never_grow"
    description = "timeout deltas are 0: every round's timeouts stay at their round-0 length"

    def replica_timeouts(self, node, timeouts: TimeoutConfig) -> TimeoutConfig:
        return TimeoutConfig(timeouts.propose_base_ticks, 0, timeouts.prevote_base_ticks, 0,
                             timeouts.precommit_base_ticks, 0)


class NoSignatureCheck(Mutant):
    """Consensus messages reach the replica without their signature checked. Exposed by the
    `forge_votes` adversary: precommits in every validator's name for a block of its own."""

    name = "no_signature_check"
    description = "accepts proposals and votes without checking their signatures"
    check_signatures = False


class SyncWithoutCertificate(Mutant):
    """State sync applies any block that extends the chain and passes valid(), without its
    commit certificate. Exposed by the `forge_sync` adversary: fabricated blocks with forged or
    empty certificates."""

    name = "sync_without_certificate"
    description = "state sync applies blocks without checking their commit certificate"
    check_certificates = False


class _HeadCountValidators(ValidatorSet):
    """Every voter counts 1, whatever its power: quorums of more than 2/3 of the nations."""

    def power(self, voter: str) -> int:
        return 1 if voter in self else 0

    def has_quorum(self, power: int) -> bool:
        return 3 * power > 2 * len(self.powers)

    def has_skip(self, power: int) -> bool:
        return 3 * power > len(self.powers)


class QuorumCountsNations(Mutant):
    """Vote tallying by head count: 2f+1 nations make a quorum, whatever power they hold. With
    unequal powers the light nations decide alone (USA 3, MEX 1, CAN 1, CHN 1: three light
    votes are 3 of 6). The certificate they store is short of 2/3 of the power, which the
    validity oracle checks on every commit; any scenario with unequal powers exposes it."""

    name = "quorum_counts_nations"
    description = "tallies votes by head count: more than 2/3 of the nations, not of the power"

    def replica_validators(self, node, validators: ValidatorSet) -> ValidatorSet:
        return _HeadCountValidators(validators.powers)


class _StuckProposerValidators(ValidatorSet):
    def proposer(self, height: int, round_: int) -> str:
        return super().proposer(height, 0)


class ProposerIgnoresRound(Mutant):
    """Proposer selection forgets the round: round r of height h has round 0's proposer. While
    that nation is down (a crash, a mute or a partitioned nation) no round of the height gets
    a proposal, so the height is never decided: exposed by a crash of the proposer of the next
    height, which the strategies draw."""

    name = "proposer_ignores_round"
    description = "every round of a height has round 0's proposer (rotation ignores the round)"

    def replica_validators(self, node, validators: ValidatorSet) -> ValidatorSet:
        return _StuckProposerValidators(validators.powers)


NEVER_TICKS = 10**12


class NoPrecommitTimeout(Mutant):
    """Line 47's timeout never fires: after 2f+1 precommits of mixed values (some nil, some for
    the proposal) a nation waits in the round for good. Exposed by loss or a partition that
    splits a round's precommits, so that no value has 2f+1 and nobody decides."""

    name = "no_precommit_timeout"
    description = "timeout_precommit never fires: a round with split precommits is never left"

    def replica_timeouts(self, node, timeouts: TimeoutConfig) -> TimeoutConfig:
        return TimeoutConfig(timeouts.propose_base_ticks, timeouts.propose_delta_ticks,
                             timeouts.prevote_base_ticks, timeouts.prevote_delta_ticks,
                             NEVER_TICKS, 0)


def _skipping(base: type[Mutant], check: str, description: str) -> type[Mutant]:
    """A mutant class that removes `check`, named no_<check>_check."""
    return type(f"{base.__name__}_{check}", (base,), {"__module__": __name__,
        "name": f"no_{check}_check", "check": check, "description": description,
        "skipped_checks": frozenset({check}), "__doc__": base.__doc__})


class SkipsCertificateCheck(Mutant):
    """State sync checks a synced block's certificate without one of its checks (a name of
    nodes.chain.ledger.CERTIFICATE_CHECKS). Exposed by the `forge_sync` adversary with the
    certificate mode that fails only that check (`forged`: precommits from every validator with
    invalid signatures; `own`: the forger's own genuine precommit alone): the mutant's nations
    apply the fabricated block, and the validity oracle flags its certificate. The node computes its
    application alone: its chain may leave the honest one."""

    shares_application = False
    check = ""


CERTIFICATE_MUTANTS = tuple(
    _skipping(SkipsCertificateCheck, check, f"state sync does not check {what}")
    for check, what in (
        ("cert_signature", "the signatures of a certificate's precommits"),
        ("cert_power", "that a certificate's voters hold more than 2/3 of the power"),
    ))


class SkipsValidityCheck(Mutant):
    """valid() without one of its checks (a name of nodes.node.VALIDITY_CHECKS). Exposed by
    the `invalid_block` adversary with that check: its block fails only that check, so the
    mutant's nations decide it, and the validity or integrity oracle flags the committed block
    (a block on the wrong previous hash is refused by the ledger itself, which stops the
    run). valid() is no longer honest, so the node computes it alone."""

    shares_application = False
    check = ""


VALIDITY_MUTANTS = tuple(_skipping(SkipsValidityCheck, check, f"valid() does not check {what}")
                         for check, what in (
    ("prev_hash", "that the block extends its tip"),
    ("proposer", "that the block's proposer is a genesis nation"),
    ("app_hash", "the block's application hash against its own state"),
    ("time", "that the block's time is not before the block below"),
    ("duplicate_tx", "for a transaction twice in one block"),
    ("committed_tx", "for a transaction already committed"),
    ("tx_signature", "transaction signatures"),
))

# Module attributes, so that a mutant pickles by name (fuzzing with --workers sends the class).
globals().update({m.__name__: m for m in VALIDITY_MUTANTS + CERTIFICATE_MUTANTS})

MUTANTS: dict[str, type[Mutant]] = {m.name: m for m in (
    Quorum2f, NoLocking, UnlockOnHigherRound, IgnoreValidRound, NoSignatureCheck,
    CommitOnPrevotes, ProposerIgnoresLock, TimeoutsNeverGrow, SyncWithoutCertificate,
    ValidValueOnlyWhilePrevoting, RestartForgetsStep, QuorumCountsNations, ProposerIgnoresRound, NoPrecommitTimeout, *CERTIFICATE_MUTANTS,
    *VALIDITY_MUTANTS)}
