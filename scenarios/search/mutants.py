"""The mutant benchmark (`chemtrace mutants`): does the fuzzer kill every mutant?

The benchmark (`run_benchmark`) runs the fuzzer (scenarios/search/fuzz.py) against each mutant
of scenarios/faults/mutants.py with the same budget and seed, then against the honest node as a
control. A mutant is killed by a scenario it fails and the honest protocol passes: scenarios
that both fail show a bug of the honest protocol (see tests/regressions/), so they are passed
over, during the search and during shrinking alike (`DifferentialJudge`, the fuzzer's `judge`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

from nodes import NodeHooks

from scenarios.assemble import build_world
from scenarios.faults.mutants import MUTANTS
from scenarios.sim.summary import RunSummary
from scenarios.search.fuzz import fuzz
from scenarios.spec.dump import scenario_to_toml
from scenarios.spec.loader import Scenario, ScenarioError

HONEST = "honest"
NATIONS_DEFAULT = (4, 7)
SHRINK_S_DEFAULT = 30.0  # per killed mutant, when the search has no shorter time budget


@dataclass
class MutantRow:
    """One line of the benchmark table."""

    mutant: str
    description: str
    killed: bool
    seconds_to_kill: float | None
    scenarios_run: int
    seconds: float  # all of it: search, shrinking and the story of the failure
    violation: str = ""  # the kind of the first violation: agreement, validity, liveness...
    failure: str = ""  # the fuzzer's one-line account of it
    honest_also_failed: int = 0  # scenarios passed over: the honest protocol fails them too
    shrunk: dict = field(default_factory=dict)
    counterexample: str = ""  # the shrunk scenario, as a TOML file `chemtrace run` replays
    shrink_seconds: float | None = None  # shrinking the kill, within the shrink budget

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
                  shrink_budget_s: float | None = None, differential: bool = True, *,
                  max_scenarios: int | None = None, workers: int = 1,
                  prompt: bool = False) -> dict:
    """Fuzz every mutant (and, as a control, the honest node) with the same budget and seed.

    The budget is `max_scenarios` scenarios per mutant when given (the table is then the same
    on any machine for one seed, however loaded), and `budget_s` seconds (math.inf: none),
    whichever ends first; `workers` processes search each (fuzz's --workers); `prompt` adds the
    first-correct-proposer oracle to every scenario (fuzz's --prompt-decisions).

    A mutant is killed when the fuzzer finds a scenario it fails, which the fuzzer then shrinks
    for at most `shrink_budget_s` (default: the search budget). With `differential` (the
    default, and the textbook meaning of killing a mutant) a scenario counts only when the
    honest protocol passes it: a scenario that both fail shows a bug of the honest protocol,
    not of the mutant, and the search goes on (`honest_also_failed` counts those). The honest
    row is the control and must not be killed: a failure there is a bug in the honest
    protocol or a false alarm of the fuzzer."""
    if budget_s <= 0:
        raise ValueError("budget_s must be positive")
    if math.isinf(budget_s) and max_scenarios is None:
        raise ValueError("give a budget: max_scenarios, or a finite budget_s")
    unknown = sorted(set(names or ()) - set(MUTANTS))
    if unknown:
        raise ValueError(f"unknown mutant(s) {', '.join(unknown)}; known: "
                         f"{', '.join(MUTANTS)}")
    shrink = (min(budget_s, SHRINK_S_DEFAULT) if shrink_budget_s is None
              else shrink_budget_s)
    targets: list[tuple[str, str, type[NodeHooks] | None]] = [
        (m.name, m.description, m) for name, m in MUTANTS.items()
        if not names or name in names]
    if honest:
        targets.append((HONEST, "the honest protocol (control: must not be killed)", None))
    rows = []
    for name, description, hooks in targets:
        judge = DifferentialJudge(None) if differential and hooks is not None else None
        result = fuzz(budget_s, seed, nations=nations, byzantine="below", honest_hooks=hooks,
                      shrink_budget_s=shrink, judge=judge, max_scenarios=max_scenarios,
                      workers=workers, prompt=prompt)
        row = _row(name, description, result)
        row.honest_also_failed = judge.reference_failures if judge is not None else 0
        rows.append(row)
        if progress is not None:
            progress(name, row)
    mutant_rows = [r for r in rows if r.mutant != HONEST]
    honest_rows = [r for r in rows if r.mutant == HONEST]
    return {
        "fuzzer": "scenarios.search.fuzz",
        "differential": differential,
        "budget_s": None if math.isinf(budget_s) else budget_s,
        "max_scenarios": max_scenarios,
        "workers": workers,
        "prompt_decisions": prompt,
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


class DifferentialJudge:
    """The fuzzer's judge (`fuzz(..., judge=...)`): a failing run counts only when the
    reference (`reference` hooks; None, the honest node) passes the same scenario.

    A run that failed is run again with the reference on every honest nation; if the reference
    fails too, the scenario shows a bug of the reference, not of the mutant: its summary is
    returned with `expect_ok` true and `reference_failed`, and `reference_failures` counts it.
    So both the search and the shrinking keep to scenarios that tell the mutant from the
    honest protocol."""

    def __init__(self, reference: type[NodeHooks] | None = None) -> None:
        self.reference = reference
        self.reference_failures = 0

    def __call__(self, scenario: Scenario, summary: RunSummary) -> RunSummary:
        if summary.expect_ok:
            return summary
        if build_world(scenario, self.reference).run().expect_ok:
            return summary
        self.reference_failures += 1
        return summary.replace(expect_ok=True, reference_failed=True)


def _row(name: str, description: str, result) -> MutantRow:
    failed = bool(getattr(result, "failed", False))
    example = getattr(result, "counterexample", None)
    seconds = float(getattr(result, "seconds", 0.0))
    to_kill = getattr(result, "seconds_to_failure", None)
    if to_kill is None and failed:
        to_kill = seconds
    row = MutantRow(name, description, failed, round(to_kill, 2) if failed else None,
                    int(getattr(result, "scenarios_run", 0)), round(seconds, 2))
    if failed:
        row.shrink_seconds = round(float(getattr(result, "shrink_seconds", 0.0)), 2)
    if failed and example is not None:
        row.shrunk = scenario_size(example)
        try:
            row.counterexample = scenario_to_toml(example)
        except ScenarioError:
            row.counterexample = ""
        summary = getattr(result, "summary", None)
        violations = summary.violations if summary is not None else []
        kinds = [v.get("kind", "?") for v in violations
                 if not v.get("expected") or v.get("kind") == "liveness"]
        row.failure = str(getattr(result, "failure", "") or "")
        row.violation = kinds[0] if kinds else row.failure.split(":")[0].split(" ")[0]
    return row
