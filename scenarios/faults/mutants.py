"""Mutants: deliberately broken variants of the protocol, to prove that the fuzzer finds real bugs.

Theory of operation
-------------------

Each mutant is a `nodes.Node` subclass with a `name` and a one-line `description`, kept here,
apart from the honest core: `consensus/` stays the one honest implementation and never learns
that these exist. The world runs a mutant in place of every honest nation
(`World(scenario, honest_node_class=Mutant)`); Byzantine nations keep their own classes.

A mutant changes one rule, the way real BFT bugs do:

- replica rules: `_RulesReplica` is a copy of the paper's rules from `consensus.Replica`
  (StartRound, lines 22/28/36/44/47 and line 49) cut into small hooks, and a mutant overrides one
  hook. With no hook overridden it behaves exactly as the honest replica: a test checks that
  it gives the same trace, byte for byte, so a kill always comes from the mutation and never
  from a copying slip;
- quorum arithmetic: a `ValidatorSet` subclass;
- node glue: an overridden `Node` method (signature checks, state sync).

Each class's docstring names the adversary (a behaviour kind of `schema.BEHAVIOURS`, or a
network condition the fuzzer's strategies draw) that exposes it. `MUTANTS` lists them by name.

The benchmark (`run_benchmark`, behind `chemtrace mutants`) runs the fuzzer (scenarios/search/fuzz.py)
against each mutant with the same budget and seed, then against the honest node as a control.
A mutant is killed by a scenario it fails and the honest protocol passes: scenarios that both
fail show a bug of the honest protocol (see tests/regressions/), so they are passed over,
during the search and during shrinking alike.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Callable

from consensus import (
    Broadcast,
    Decide,
    Receive,
    Replica,
    RequestValue,
    Step,
    TimeoutConfig,
    ValidatorSet,
)
from consensus.messages import Proposal
from nodes import CommittedBlock, Node
from nodes.node import Delivered
from nodes.wire.messages import SyncResponse

from scenarios.search import fuzz as fuzz_module
from scenarios.spec.dump import scenario_to_toml
from scenarios.spec.loader import Scenario, ScenarioError


class Mutant(Node):
    """A node whose replica (or glue) breaks one rule. Subclasses set `name`, `description`
    and one of the hooks below."""

    name = "honest-copy"
    description = "no mutation: the hooks of _RulesReplica as the paper gives them"
    replica_class: type[Replica] = None  # type: ignore[assignment]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Node.__init__ built an honest replica; building one has no side effects, so replace it
        # with the mutant's, built from the same arguments.
        cls = self.replica_class or _RulesReplica
        self.replica = cls(self.me, self.mutant_validators(self.validators), self._valid,
                           self.mutant_timeouts(self.config.timeouts),
                           height=self.ledger.height + 1, wal=self.storage.wal)

    def mutant_validators(self, validators: ValidatorSet) -> ValidatorSet:
        return validators

    def mutant_timeouts(self, timeouts: TimeoutConfig) -> TimeoutConfig:
        return timeouts


class _RulesReplica(Replica):
    """`consensus.Replica` with its rules cut into hooks. The bodies below are the honest ones,
    copied; only a mutant's override changes them."""

    # ------------------------------------------------------------ StartRound (lines 11-21)

    def _start_round(self, round_: int, effects) -> None:
        self.round = round_
        self.step = Step.PROPOSE
        if self.validators.proposer(self.height, round_) == self.me:
            own = self._own_proposal(round_)
            if own is not None:
                effects.append(Broadcast(own))
            else:
                reproposal = self._reproposal()
                if reproposal is not None:  # line 15
                    value, value_id, valid_round = reproposal
                    self._broadcast_proposal(value, value_id, valid_round, effects)
                else:  # line 18: getValue()
                    effects.append(RequestValue(self.height, round_))
        else:
            self._schedule(Step.PROPOSE, round_, effects)  # line 21
        self._evaluate(effects, round_)

    def _reproposal(self):
        """Line 15: (value, value_id, valid_round) to propose again, or None for a fresh one."""
        if self.valid_value is not None:
            return self.valid_value, self.valid_value_id, self.valid_round
        return None

    # ------------------------------------------------------------ lines 22 and 28

    def _line22_ok(self, proposal: Proposal, valid: bool) -> bool:
        return valid and (self.locked_round == -1 or self.locked_value_id == proposal.value_id)

    def _line28_applies(self, proposal: Proposal, r: int) -> bool:
        vr = proposal.valid_round
        vr_prevotes = self._prevotes.get(vr)
        return (0 <= vr < r and vr_prevotes is not None
                and vr_prevotes.has_quorum_for(proposal.value_id))

    def _line28_ok(self, proposal: Proposal, valid: bool) -> bool:
        return valid and (self.locked_round <= proposal.valid_round
                          or self.locked_value_id == proposal.value_id)

    def _judged_valid_round(self, proposal: Proposal) -> int:
        """The valid round the rules read off a proposal."""
        return proposal.valid_round

    def _fire_round_rules(self, effects) -> bool:
        r = self.round
        proposal = self._proposals.get(r)
        prevotes = self._prevotes.get(r)
        precommits = self._precommits.get(r)

        if self.step is Step.PROPOSE and proposal is not None:
            valid = self._proposal_valid[r]
            if self._judged_valid_round(proposal) == -1:
                ok = self._line22_ok(proposal, valid)  # line 22
                self._vote(Step.PREVOTE, proposal.value_id if ok else None, effects)
                self.step = Step.PREVOTE
                return True
            if self._line28_applies(proposal, r):
                ok = self._line28_ok(proposal, valid)  # line 28
                self._vote(Step.PREVOTE, proposal.value_id if ok else None, effects)
                self.step = Step.PREVOTE
                return True

        if (self.step is Step.PREVOTE and prevotes is not None and prevotes.has_quorum_any()
                and (34, r) not in self._fired):
            self._fired.add((34, r))  # line 34
            self._schedule(Step.PREVOTE, r, effects)
            return True

        if (self.step >= Step.PREVOTE and proposal is not None and self._proposal_valid[r]
                and prevotes is not None and prevotes.has_quorum_for(proposal.value_id)
                and (36, r) not in self._fired):
            self._fired.add((36, r))  # line 36
            self.valid_value, self.valid_value_id = proposal.value, proposal.value_id
            self.valid_round = r
            if self.step is Step.PREVOTE:
                self.locked_value, self.locked_value_id = proposal.value, proposal.value_id
                self.locked_round = r
                self._vote(Step.PRECOMMIT, proposal.value_id, effects)
                self.step = Step.PRECOMMIT
            return True

        if self.step is Step.PREVOTE and prevotes is not None and prevotes.has_quorum_for(None):
            self._vote(Step.PRECOMMIT, None, effects)  # line 44
            self.step = Step.PRECOMMIT
            return True

        if precommits is not None and precommits.has_quorum_any() and (47, r) not in self._fired:
            self._fired.add((47, r))  # line 47
            self._schedule(Step.PRECOMMIT, r, effects)
            return True
        return False

    # ------------------------------------------------------------ line 49

    def _try_decide(self, round_: int, effects) -> bool:
        proposal = self._proposals.get(round_)
        if proposal is None or not self._proposal_valid[round_]:
            return False
        for tally in self._decision_tallies(round_):
            if tally is not None and tally.has_quorum_for(proposal.value_id):
                break
        else:
            return False
        effects.append(Decide(self.height, round_, proposal.value, proposal.value_id,
                              tally.certificate(proposal.value_id)))
        self.decided_heights += 1
        self._reset_height(self.height + 1)
        self._start_round(0, effects)
        self._replay_future(effects)
        return True

    def _decision_tallies(self, round_: int):
        """The tallies line 49 decides on: the precommits of `round_`."""
        return (self._precommits.get(round_),)


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

    def mutant_validators(self, validators: ValidatorSet) -> ValidatorSet:
        return _TwoFValidators(validators.powers)


class _NoLockingReplica(_RulesReplica):
    def _line22_ok(self, proposal, valid):
        return valid

    def _line28_ok(self, proposal, valid):
        return valid


class NoLocking(Mutant):
    """Lines 22 and 28 ignore locked_round. Exposed by the `fork` adversary (lock_quorum): a
    quorum locks on a value one nation decides, and a fresh proposal later wins the rest."""

    name = "no_locking"
    description = "prevotes any valid proposal, whatever it is locked on (lines 22/28)"
    replica_class = _NoLockingReplica


class _UnlockOnHigherRoundReplica(_RulesReplica):
    def _line28_applies(self, proposal, r):
        # The bug: the proposer's valid_round is believed without the 2f+1 prevotes behind it.
        return 0 <= proposal.valid_round < r


class UnlockOnHigherRound(Mutant):
    """Line 28 without its polka: a proposal that claims a valid_round at or above the lock
    unlocks, though nobody saw 2f+1 prevotes there (Tendermint issue 1047). Exposed by the
    `fork` adversary (lock_quorum with a Byzantine proposer claiming a made-up valid_round)."""

    name = "unlock_on_higher_round"
    description = "unlocks on a proposal claiming a higher valid_round, without its polka (#1047)"
    replica_class = _UnlockOnHigherRoundReplica


class _IgnoreValidRoundReplica(_RulesReplica):
    def _reproposal(self):
        if self.valid_value is not None:  # the value is proposed again, its round forgotten
            return self.valid_value, self.valid_value_id, -1
        return None

    def _judged_valid_round(self, proposal):
        return -1  # line 28 never applies: every proposal is judged by line 22


class IgnoreValidRound(Mutant):
    """valid_round is dropped: the proposer re-proposes its valid value with valid_round -1,
    and every proposal is judged by line 22. Nations locked in different rounds never unlock
    (line 28 is what frees them), so the height stalls for good. Exposed by the `fork`
    adversary (lock_one)."""

    name = "ignore_valid_round"
    description = "drops valid_round: re-proposes with vr = -1 and judges every proposal by line 22"
    replica_class = _IgnoreValidRoundReplica


class _CommitOnPrevotesReplica(_RulesReplica):
    def _decision_tallies(self, round_):
        return (self._prevotes.get(round_), self._precommits.get(round_))


class CommitOnPrevotes(Mutant):
    """Line 49 on prevotes: 2f+1 prevotes for a proposal decide it, in any round. A polka seen
    by one nation only lets the others decide another value later. Exposed by the `fork`
    adversary (prevote_victim), and by loss that hides a polka from all but one."""

    name = "commit_on_prevotes"
    description = "decides on 2f+1 prevotes (line 49 counting prevotes as well as precommits)"
    replica_class = _CommitOnPrevotesReplica


class _ProposerIgnoresLockReplica(_RulesReplica):
    def _reproposal(self):
        if self.locked_round != -1:
            return None  # the bug: locked, yet a fresh value
        return super()._reproposal()


class ProposerIgnoresLock(Mutant):
    """As proposer, a locked nation proposes a fresh value instead of its valid value. The
    others locked on that value prevote nil, and no round can win them back: a liveness bug.
    Exposed by the `fork` adversary (lock_one)."""

    name = "proposer_ignores_lock"
    description = "as proposer, proposes a fresh value even when locked (line 15 skipped)"
    replica_class = _ProposerIgnoresLockReplica


class TimeoutsNeverGrow(Mutant):
    """timeout_X(r) = X_base for every round. Once latency exceeds the base timeouts, no round
    ever lasts long enough to decide: the liveness argument after GST needs timeouts that grow.
    Exposed when no proposal can arrive within the propose timeout: a propose base below the
    shortest message delay (latency - jitter), which the strategies draw on purpose
    (strategies.SHORT_PROPOSE_ODDS). A base only below latency + jitter lets some rounds through,
    and one commit after GST passes the liveness oracle."""

    name = "timeouts_never_grow"
    description = "timeout deltas are 0: every round's timeouts stay at their round-0 length"

    def mutant_timeouts(self, timeouts: TimeoutConfig) -> TimeoutConfig:
        return TimeoutConfig(timeouts.propose_base_ticks, 0, timeouts.prevote_base_ticks, 0,
                             timeouts.precommit_base_ticks, 0)


class NoSignatureCheck(Mutant):
    """Consensus messages reach the replica without their signature checked. Exposed by the
    `forge_votes` adversary: precommits in every validator's name for a block of its own."""

    name = "no_signature_check"
    description = "accepts proposals and votes without checking their signatures"

    def _on_consensus(self, message, kind, out) -> None:
        sender = message.proposer if isinstance(message, Proposal) else message.voter
        if self._keys.get(sender) is None:
            self._drop("unknown_sender", kind, out)
            return
        if sender == self.me:
            self._drop("own_message", kind, out)
            return
        # (the honest node verifies the signature here)
        out.append(Delivered(kind, sender, message.height, message.round))
        self._note_height(sender, message.height)
        self._run(Receive(message), out)


class SyncWithoutCertificate(Mutant):
    """State sync applies any block that extends the chain and passes valid(), without its
    commit certificate. Exposed by the `forge_sync` adversary: fabricated blocks with forged or
    empty certificates."""

    name = "sync_without_certificate"
    description = "state sync applies blocks without checking their commit certificate"

    def _on_sync_response(self, response: SyncResponse, out) -> None:
        if response.responder not in self._keys or response.responder == self.me:
            self._drop("unknown_sender", "sync_response", out)
            return
        out.append(Delivered("sync_response", response.responder, self.ledger.height + 1, 0))
        applied = 0
        for block, certificate in response.blocks:
            if block.height <= self.ledger.height:
                continue
            if block.height != self.ledger.height + 1 or block.prev_hash != self.ledger.tip_hash:
                self._drop("sync_gap", "sync_response", out)
                break
            # (the honest node checks certificate_error here)
            if not self._valid(block.height, block):
                self._drop("invalid_block", "sync_response", out)
                break
            self._commit(CommittedBlock(block, certificate), "sync", out)
            applied += 1
        self._synced(response.responder, applied, out)


MUTANTS: dict[str, type[Mutant]] = {m.name: m for m in (
    Quorum2f, NoLocking, UnlockOnHigherRound, IgnoreValidRound, NoSignatureCheck,
    CommitOnPrevotes, ProposerIgnoresLock, TimeoutsNeverGrow, SyncWithoutCertificate)}


# ---------------------------------------------------------------- the benchmark

HONEST = "honest"
NATIONS_DEFAULT = (4, 7)


@dataclass
class MutantRow:
    """One line of the benchmark table."""

    mutant: str
    description: str
    killed: bool
    seconds_to_kill: float | None
    scenarios_run: int
    seconds: float
    violation: str = ""  # the kind of the first violation: agreement, validity, liveness...
    failure: str = ""  # the fuzzer's one-line account of it
    honest_also_failed: int = 0  # scenarios passed over: the honest protocol fails them too
    shrunk: dict = field(default_factory=dict)
    counterexample: str = ""  # the shrunk scenario, as a TOML file `chemtrace run` replays

    def as_dict(self) -> dict:
        return asdict(self)


def scenario_size(scenario: Scenario) -> dict:
    """How big a (shrunk) scenario is: nations, faults, and the lines of its TOML file."""
    try:
        toml = scenario_to_toml(scenario)
    except ScenarioError:
        toml = ""
    return {"nations": len(scenario.nations), "behaviours": len(scenario.behaviours),
            "partitions": len(scenario.partitions),
            "faults": len(scenario.behaviours) + len(scenario.partitions),
            "toml_lines": len(toml.splitlines())}


def run_benchmark(budget_s: float, seed: int = 0, nations: tuple[int, int] = NATIONS_DEFAULT,
                  names: list[str] | None = None, honest: bool = True,
                  progress: Callable[[str, MutantRow], None] | None = None,
                  shrink_budget_s: float | None = None, differential: bool = True) -> dict:
    """Fuzz every mutant (and, as a control, the honest node) with the same budget and seed.

    A mutant is killed when the fuzzer finds a scenario it fails, which the fuzzer then shrinks
    for at most `shrink_budget_s` (default: the search budget). With `differential` (the
    default, and the textbook meaning of killing a mutant) a scenario counts only when the
    honest protocol passes it: a scenario that both fail shows a bug of the honest protocol,
    not of the mutant, and the search goes on (`honest_also_failed` counts those). The honest
    row is the control and must not be killed: a failure there is a bug in the honest
    protocol or a false alarm of the fuzzer."""
    if budget_s <= 0:
        raise ValueError("budget_s must be positive")
    unknown = sorted(set(names or ()) - set(MUTANTS))
    if unknown:
        raise ValueError(f"unknown mutant(s) {', '.join(unknown)}; known: "
                         f"{', '.join(MUTANTS)}")
    shrink = budget_s if shrink_budget_s is None else shrink_budget_s
    targets: list[tuple[str, str, type[Node]]] = [
        (m.name, m.description, m) for name, m in MUTANTS.items()
        if not names or name in names]
    if honest:
        targets.append((HONEST, "the honest protocol (control: must not be killed)", Node))
    rows = []
    for name, description, cls in targets:
        with _judged_against(Node if differential and cls is not Node else None) as judge:
            result = fuzz_module.fuzz(budget_s, seed, nations=nations, byzantine="below",
                          honest_node_class=cls, shrink_budget_s=shrink)
        row = _row(name, description, result)
        row.honest_also_failed = judge.reference_failures
        rows.append(row)
        if progress is not None:
            progress(name, row)
    mutant_rows = [r for r in rows if r.mutant != HONEST]
    honest_rows = [r for r in rows if r.mutant == HONEST]
    return {
        "fuzzer": "scenarios.search.fuzz",
        "differential": differential,
        "budget_s": budget_s,
        "shrink_budget_s": shrink,
        "seed": seed,
        "nations": list(nations),
        "mutants": [r.as_dict() for r in mutant_rows],
        "honest": honest_rows[0].as_dict() if honest_rows else None,
        "killed": sum(r.killed for r in mutant_rows),
        "total": len(mutant_rows),
        "all_killed": all(r.killed for r in mutant_rows),
        "honest_survived": not any(r.killed for r in honest_rows),
    }


class _Judge:
    reference_failures = 0


@contextlib.contextmanager
def _judged_against(reference: type[Node] | None):
    """While open, the fuzzer's worlds fail a scenario only when `reference` passes it too.

    The fuzzer (scenarios/search/fuzz.py) judges a run by its world's summary; this swaps the world
    class it builds for one whose failing runs are re-run with the reference node, so that
    both the search and the shrinking keep to scenarios that tell the mutant from the honest
    protocol. Nothing is swapped when `reference` is None."""
    judge = _Judge()
    if reference is None:
        yield judge
        return
    module = fuzz_module
    original = module.World

    class DifferentialWorld(original):
        def run(self, *args, **kwargs):
            summary = super().run(*args, **kwargs)
            if summary.expect_ok:
                return summary
            if original(self.scenario, honest_node_class=reference).run().expect_ok:
                return summary
            judge.reference_failures += 1
            return summary.replace(expect_ok=True, reference_failed=True)

    module.World = DifferentialWorld
    try:
        yield judge
    finally:
        module.World = original


def _row(name: str, description: str, result) -> MutantRow:
    failed = bool(getattr(result, "failed", False))
    example = getattr(result, "counterexample", None)
    seconds = float(getattr(result, "seconds", 0.0))
    to_kill = getattr(result, "seconds_to_failure", None)
    if to_kill is None and failed:
        to_kill = seconds
    row = MutantRow(name, description, failed, round(to_kill, 2) if failed else None,
                    int(getattr(result, "scenarios_run", 0)), round(seconds, 2))
    if failed and example is not None:
        row.shrunk = scenario_size(example)
        try:
            row.counterexample = scenario_to_toml(example)
        except ScenarioError:
            row.counterexample = ""
        summary = getattr(result, "summary", None)
        kinds = [v.get("kind", "?") for v in (summary.violations if summary else [])
                 if not v.get("expected") or v.get("kind") == "liveness"]
        row.failure = str(getattr(result, "failure", "") or "")
        row.violation = kinds[0] if kinds else row.failure.split(":")[0].split(" ")[0]
    return row
