"""`chemtrace fuzz`: run generated scenarios until a time budget is spent; shrink what fails.

Theory of operation
-------------------

Hypothesis owns the schedule. `fuzz` runs `@given(scenarios(...))` programmatically, in chunks:
each chunk is one hypothesis run of CHUNK examples whose seed is derived from the fuzz seed and
the chunk's index, so one `--seed` gives one sequence of scenarios, and the budget only decides
where it stops. Every drawn scenario runs on the simulated world and is counted; none is
sampled. (An exact repeat of an earlier draw, which hypothesis produces now and then as it
favours small values, is neither run nor counted.) When the budget is spent, the test function raises a BaseException that hypothesis does not
treat as a failure, which ends the run at once.

A failure is a run whose `[expect]` does not hold: an unexpected safety violation (Byzantine
power below 1/3), or, for scenarios in which every fault ends, no progress within the liveness
bound after the last one (GST). Hypothesis then shrinks: it runs smaller and simpler variants
(fewer nations, fewer faults, shorter windows, no loss) and keeps the smallest that still fails.
The last failing call is that smallest scenario: `fuzz` captures it, runs it once more with a
trace to tell the story of the failure (which rule broke, who committed what, who voted what at
that height), and returns it. Shrinking has its own time budget (`shrink_budget_s`): when it is
spent, the next candidate ends hypothesis at once (as the search budget does), and the smallest
failure found so far is the result; so a shrink overruns its budget by one run at most.

The hypothesis database is off (`database=None`): a fuzz run is a function of its seed and
budget, and nothing is written under `.hypothesis/`. So is hypothesis's habit of drawing literals
found in the loaded modules' source (`_no_local_constants`), which would make the sequence
depend on what else the process had imported.

The worlds of one search share their signature verdicts (`nodes.chain.identity.sharing_verdicts`):
drawn from a few seeds, they sign the same votes with the same keys, and each distinct
signature is checked by pynacl once per search rather than once per world.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
from hypothesis import seed as hypothesis_seed

from consensus import Proposal, Vote
from nodes import Node, NodeHooks
from nodes.chain.identity import sharing_verdicts
from nodes.wire.messages import MessageKind, WireError, decode

from scenarios.spec.loader import Scenario
from scenarios.search.strategies import DEFAULT_HEIGHTS, scenarios
from scenarios.assemble import build_world
from scenarios.sim.world import World
from scenarios.sim.summary import RunSummary

# Profiles: `ci` runs in `make test` (tests/scenarios/test_fuzz.py), `nightly` in `make fuzz`.
PROFILES: dict[str, dict] = {
    "ci": {"budget_s": 10.0, "nations": (4, 7), "byzantine": "below", "max_heights": 5},
    "nightly": {"budget_s": 600.0, "nations": (4, 10), "byzantine": "below", "max_heights": 8},
}
SHRINK_BUDGET_S = 120.0
CHUNK = 200  # examples per hypothesis run; the sequence of scenarios depends on it
# The protocol events `--steer` asks hypothesis to reach more of: the rare ones, those a bug in
# lock release, valid-value tracking or restarts hides behind (consensus.COVERAGE_EVENTS).
STEERED_EVENTS = ("relock", "unlock", "valid_update", "reproposal", "restart_locked")
STORY_ROUNDS_MAX = 4
STORY_LINES_MAX = 60


class FuzzFailure(AssertionError):
    """Raised inside the hypothesis test when a scenario's expectation does not hold."""


class _BudgetSpent(BaseException):
    """Raised inside the hypothesis test when the budget is spent. Hypothesis treats only
    Exception (and a few others) as a test failure to shrink; a BaseException such as this one,
    like KeyboardInterrupt, ends the run at once."""


@dataclass
class FuzzResult:
    scenarios_run: int  # scenarios run while searching (shrink runs are in shrink_runs)
    scenarios_per_s: float
    heights_committed: int  # total over the scenarios run while searching
    distinct_schedules: int  # distinct trace_sha256 among them
    failed: bool
    counterexample: Scenario | None
    story: str
    seconds: float
    seed: int = 0
    parameters: dict = field(default_factory=dict)
    liveness_checked: int = 0  # scenarios that expected liveness (every fault ends)
    expected_violations: int = 0  # scenarios with violations at >= 1/3 Byzantine power
    found_after: int | None = None  # scenarios run when the first failure came
    seconds_to_failure: float | None = None
    shrink_runs: int = 0
    shrink_seconds: float = 0.0
    failures: int = 0  # failing scenarios seen while searching (1 when stopping on failure)
    unexpected_safety: int = 0  # of them, with a safety violation below 1/3
    cpu_seconds: float = 0.0  # CPU time of this process while searching (one core)
    failure: str = ""  # one line: the first violation of the counterexample
    summary: RunSummary | None = None  # the counterexample's run summary
    # Protocol events over the scenarios searched: event -> {"total": count, "scenarios":
    # how many reached it} (consensus.COVERAGE_EVENTS, state syncs, evidence).
    coverage: dict = field(default_factory=dict)
    trace_sha256: str | None = None  # of the counterexample's run
    # Messages delivered over the scenarios searched: with cpu_seconds, the cost of one
    # delivery, which is what a scenario's cost is made of (docs/performance.md).
    messages_delivered: int = 0

    def to_json(self) -> dict:
        out = {
            "scenarios_run": self.scenarios_run,
            "scenarios_per_s": round(self.scenarios_per_s, 2),
            "heights_committed": self.heights_committed,
            "messages_delivered": self.messages_delivered,
            "distinct_schedules": self.distinct_schedules,
            "liveness_checked": self.liveness_checked,
            "expected_violations": self.expected_violations,
            "seconds": round(self.seconds, 3),
            "scenarios_per_cpu_s": round(self.scenarios_run / self.cpu_seconds, 2)
            if self.cpu_seconds > 0 else 0.0,
            "seed": self.seed,
            "parameters": self.parameters,
            "failed": self.failed,
            "failures": self.failures,
            "coverage": self.coverage,
            "unexpected_safety_violations": self.unexpected_safety,
        }
        if self.failed:
            out.update({"failure": self.failure, "found_after": self.found_after,
                        "seconds_to_failure": round(self.seconds_to_failure or 0.0, 3),
                        "shrink_runs": self.shrink_runs,
                        "shrink_seconds": round(self.shrink_seconds, 3),
                        "trace_sha256": self.trace_sha256,
                        "counterexample_size": scenario_size(self.counterexample)})
        return out


def fuzz(budget_s: float, seed: int = 0, nations: tuple[int, int] = (4, 7),
         byzantine: str = "below", honest_hooks: type[NodeHooks] | None = None,
         max_heights: int | None = None, progress: Callable[[dict], None] | None = None, *,
         max_scenarios: int | None = None, shrink_budget_s: float = SHRINK_BUDGET_S,
         trace_path: Path | None = None, stop_on_failure: bool = True,
         judge: Callable[[Scenario, RunSummary], RunSummary] | None = None,
         workers: int = 1, dask_address: str | None = None, steer: bool = False,
         prompt: bool = False, signatures: str = "ed25519") -> FuzzResult:
    """Run generated scenarios for `budget_s` seconds (or `max_scenarios`, whichever comes
    first); on a failure, shrink it and return the smallest failing scenario with its story.

    `honest_hooks` (a `nodes.hooks.NodeHooks` class; None for the honest node) runs every
    nation that has no Byzantine behaviour (the mutant benchmark passes a broken variant).
    `judge(scenario, summary)`, if given, returns the summary a run is judged by, during the
    search and the shrinking alike (the mutant benchmark passes over scenarios the honest
    protocol fails too: scenarios/search/mutants.py). `progress` is called after every run with a dict: phase
    ("search" or "shrink"), elapsed_s, budget_s, scenarios_run, shrink_runs. `trace_path`
    receives the counterexample's trace (else a temporary file is used and removed).
    With `stop_on_failure=False` (the benchmark) failures are counted in `failures` and the
    search goes on to the end of the budget, without shrinking.

    `workers` > 1 runs the chunks in that many processes, `dask_address` on a Dask cluster
    (`_search_in_parallel`); the failure reported is the first in chunk order, whichever
    worker found it first, and it is shrunk here.

    `steer` turns on hypothesis's targeting phase: each run reports its count of every rare
    protocol event (STEERED_EVENTS) with `hypothesis.target`, and hypothesis mutates the
    scenarios that reached the most of one towards more. It changes the sequence a seed draws,
    so it is off by default.

    `prompt` asks every scenario for the first-correct-proposer oracle (`[expect]
    prompt_decisions`, scenarios/sim/oracles.py `judge_prompt_decisions`).

    `signatures = "modelled"` runs every scenario with modelled signatures
    (nodes/chain/modelled.py): the same scenarios as with "ed25519", at less cost."""
    heights = max_heights or DEFAULT_HEIGHTS
    if honest_hooks is not None:
        register_node_class(honest_hooks)
    strategy = scenarios(nations=nations, byzantine=byzantine, heights=heights, prompt=prompt,
                         signatures=signatures)
    state = _Search(budget_s, max_scenarios, shrink_budget_s, honest_hooks, progress,
                    stop_on_failure, judge)
    state.steer = steer
    if workers > 1 or dask_address:
        first = _search_in_parallel(state, _ChunkTask(
            seed=seed, chunk=0, nations=nations, byzantine=byzantine, heights=heights,
            honest_hooks=honest_hooks, judge=judge, stop_on_failure=stop_on_failure,
            deadline_epoch=time.time() + budget_s, limit=CHUNK, steer=steer, prompt=prompt,
            signatures=signatures), workers,
            dask_address)
        chunks: Iterable[int] = () if first is None else (first,)
        state.replay()  # the workers counted; only the first failing chunk runs here, to shrink
    else:
        chunks = itertools.count()
    with sharing_verdicts():  # each distinct signature checked once in the search, not per world
        for chunk in chunks:
            if state.done() or state.failure is not None:
                break
            try:
                _run_chunk(strategy, state.check, _chunk_seed(seed, chunk), CHUNK, steer)
            except _BudgetSpent:
                break
            except FuzzFailure:
                pass
            except Exception:
                if state.failure is None:
                    raise
                # A failure was found; hypothesis may wrap it (flaky or multiple errors) but
                # the smallest failing scenario is already captured.
    seconds = state.search_seconds()
    cpu_seconds = (state.found_cpu if state.failure is not None
                   else time.process_time()) - state.cpu_started
    result = FuzzResult(
        scenarios_run=state.runs, scenarios_per_s=state.runs / seconds if seconds > 0 else 0.0,
        heights_committed=state.heights, distinct_schedules=len(state.hashes),
        failed=state.failure is not None, counterexample=state.failure, story="",
        seconds=time.perf_counter() - state.started, seed=seed,
        parameters={"budget_s": None if math.isinf(budget_s) else budget_s,
                    "nations": list(nations), "byzantine": byzantine,
                    "max_heights": heights, "max_scenarios": max_scenarios,
                    "honest_node_class": class_path(honest_hooks or Node),
                    "workers": workers, "dask": dask_address, "signatures": signatures},
        liveness_checked=state.liveness_checked, expected_violations=state.expected,
        failures=state.failures, unexpected_safety=state.unexpected_safety,
        cpu_seconds=cpu_seconds, coverage=state.coverage_report(),
        messages_delivered=state.delivered)
    if state.failure is not None:
        result.found_after = state.found_after
        result.seconds_to_failure = (state.found_search_at or state.found_at) - state.started
        result.shrink_runs = state.shrink_runs
        result.shrink_seconds = time.perf_counter() - state.found_at
        summary, story = explain(state.failure, honest_hooks, trace_path)
        result.summary = summary
        result.trace_sha256 = summary.trace_sha256
        result.failure = failure_line(summary)
        result.story = (f"found after {state.found_after} scenarios "
                        f"({result.seconds_to_failure:.1f} s), shrunk in {state.shrink_runs} "
                        f"runs ({result.shrink_seconds:.1f} s) to: "
                        f"{state.failure.description}\n{story}")
    return result


class _Search:
    """The state of one fuzz run, shared with the hypothesis test function."""

    def __init__(self, budget_s: float, max_scenarios: int | None, shrink_budget_s: float,
                 honest_hooks: type[NodeHooks] | None, progress, stop_on_failure: bool = True,
                 judge: Callable[[Scenario, RunSummary], RunSummary] | None = None) -> None:
        self.stop_on_failure = stop_on_failure
        self.failures = 0
        self.unexpected_safety = 0
        self.seen: set[bytes] = set()
        self.duplicates = 0
        self.started = time.perf_counter()
        self.cpu_started = time.process_time()
        self.found_cpu = 0.0
        self.deadline = self.started + budget_s
        self.budget_s = budget_s
        self.max_scenarios = max_scenarios
        self.shrink_budget_s = shrink_budget_s
        self.honest_hooks = honest_hooks
        self.judge = judge
        self.progress = progress
        self.runs = 0
        self.heights = 0
        self.delivered = 0
        self.hashes: set[str] = set()
        self.liveness_checked = 0
        self.expected = 0
        self.run_seconds = 0.0
        self.search_ended: float | None = None
        self.failure: Scenario | None = None
        self.found_at = 0.0
        self.found_after = 0
        self.shrink_runs = 0
        self.replaying = False
        self.found_search_at: float | None = None  # when the parallel search found its failure
        self.shrink = True  # False in a worker: stop at the first failure, unshrunk
        self.first: tuple[int, Scenario] | None = None  # a worker's (position, scenario)
        self.worker_cpu = 0.0
        self.steer = False
        self.coverage_total: dict[str, int] = {}
        self.coverage_scenarios: dict[str, int] = {}

    def done(self) -> bool:
        if self.replaying:
            return False
        if self.max_scenarios is not None and self.runs >= self.max_scenarios:
            return True
        return time.perf_counter() >= self.deadline

    def replay(self) -> None:
        """From now on, run (to shrink it) a chunk whose counts a worker already returned:
        count nothing, stop at no budget, dedupe as that worker did (afresh per chunk)."""
        self.replaying = True
        self.seen = set()
        self.search_ended = time.perf_counter()

    def absorb(self, part: "_ChunkResult") -> None:
        """Add a worker's counts for one chunk."""
        self.runs += part.runs
        self.heights += part.heights
        self.delivered += part.delivered
        self.hashes.update(part.hashes)
        self.liveness_checked += part.liveness_checked
        self.expected += part.expected
        self.failures += part.failures
        self.unexpected_safety += part.unexpected_safety
        self.run_seconds += part.run_seconds
        self.worker_cpu += part.cpu_seconds
        if self.judge is not None and hasattr(self.judge, "reference_failures"):
            self.judge.reference_failures += part.reference_failures
        for event, count in part.coverage_total.items():
            self.coverage_total[event] = self.coverage_total.get(event, 0) + count
        for event, count in part.coverage_scenarios.items():
            self.coverage_scenarios[event] = self.coverage_scenarios.get(event, 0) + count

    def count_coverage(self, coverage: dict[str, int]) -> None:
        for event, count in coverage.items():
            self.coverage_total[event] = self.coverage_total.get(event, 0) + count
            self.coverage_scenarios[event] = self.coverage_scenarios.get(event, 0) + (count > 0)

    def coverage_report(self) -> dict[str, dict[str, int]]:
        return {event: {"total": self.coverage_total[event],
                        "scenarios": self.coverage_scenarios.get(event, 0)}
                for event in self.coverage_total}

    def search_seconds(self) -> float:
        end = self.found_search_at or (self.found_at if self.failure is not None else (
            self.search_ended or time.perf_counter()))
        return end - self.started

    def check(self, scenario: Scenario) -> None:
        now = time.perf_counter()
        if self.failure is None:
            if self.done():
                self.search_ended = now
                raise _BudgetSpent  # ends the hypothesis run at once, without shrinking
            key = hashlib.sha256(repr(scenario).encode()).digest()
            if key in self.seen:
                self.duplicates += 1
                return  # drawn before (hypothesis favours small values): it passed then
            self.seen.add(key)
        elif now - self.found_at > self.shrink_budget_s:
            raise _BudgetSpent  # shrink budget spent: stop at the smallest failure so far
        summary = run_scenario(scenario, self.honest_hooks)
        if self.judge is not None and summary.exception is None:
            summary = self.judge(scenario, summary)
        if self.steer:
            for event in STEERED_EVENTS:
                target(float(summary.coverage.get(event, 0)), label=event)
        ran = time.perf_counter() - now
        failed = not summary.expect_ok
        if self.failure is None and self.replaying:
            if failed:
                self.found_at = time.perf_counter()  # the shrink budget starts now
        elif self.failure is None:
            self.runs += 1
            self.count_coverage(summary.coverage)
            prompt = summary.prompt_decisions
            if prompt is not None:  # --prompt-decisions: the heights its oracle judged
                self.count_coverage({"prompt_heights": prompt["heights_judged"]})
            self.run_seconds += ran
            self.heights += summary.heights_committed
            self.delivered += summary.messages_delivered
            if summary.trace_sha256 is not None:
                self.hashes.add(summary.trace_sha256)
            self.liveness_checked += scenario.expect["liveness"] is True
            self.expected += any(v["expected"] for v in summary.violations)
            self.failures += failed
            self.unexpected_safety += bool(summary.unexpected_violations)
            if failed and self.stop_on_failure:
                self.found_at, self.found_after = time.perf_counter(), self.runs
                self.found_cpu = time.process_time()
                if not self.shrink:
                    self.first = (self.runs, scenario)
                    raise _BudgetSpent  # a worker reports its first failure unshrunk
        else:
            self.shrink_runs += 1
        shrinking = self.failure is not None or (failed and self.stop_on_failure)
        if self.progress is not None:
            self.progress({"phase": "shrink" if shrinking else "search",
                           "elapsed_s": time.perf_counter() - self.started,
                           "budget_s": self.budget_s, "scenarios_run": self.runs,
                           "shrink_runs": self.shrink_runs})
        if failed and shrinking:
            self.failure = scenario  # the last failing call is the smallest so far
            raise FuzzFailure(failure_line(summary))


@dataclass(frozen=True)
class _ChunkTask:
    """One chunk of a search, for a worker process or a Dask worker (everything in it pickles:
    hooks classes are module attributes)."""

    seed: int
    chunk: int
    nations: tuple[int, int]
    byzantine: str
    heights: int
    honest_hooks: type[NodeHooks] | None
    judge: object | None
    stop_on_failure: bool
    deadline_epoch: float  # wall-clock (time.time) end of the search budget
    limit: int  # scenarios this chunk may run
    steer: bool = False
    prompt: bool = False
    signatures: str = "ed25519"


@dataclass
class _ChunkResult:
    chunk: int
    runs: int = 0
    heights: int = 0
    delivered: int = 0
    hashes: set[str] = field(default_factory=set)
    liveness_checked: int = 0
    expected: int = 0
    failures: int = 0
    unexpected_safety: int = 0
    run_seconds: float = 0.0
    cpu_seconds: float = 0.0
    reference_failures: int = 0
    coverage_total: dict = field(default_factory=dict)
    coverage_scenarios: dict = field(default_factory=dict)
    first: tuple[int, Scenario] | None = None  # (position in the chunk, the failing scenario)
    budget_spent: bool = False


def _search_chunk(task: _ChunkTask) -> _ChunkResult:
    """A worker: run one chunk of the search (the same draws as the serial search makes for
    it), stop at its first failure unshrunk, and return the counts."""
    remaining = task.deadline_epoch - time.time()
    out = _ChunkResult(task.chunk)
    if remaining <= 0:
        out.budget_spent = True
        return out
    strategy = scenarios(nations=task.nations, byzantine=task.byzantine, heights=task.heights,
                         prompt=task.prompt, signatures=task.signatures)
    state = _Search(remaining, task.limit, 0.0, task.honest_hooks, None, task.stop_on_failure,
                    task.judge)
    state.shrink = False
    state.steer = task.steer
    with sharing_verdicts():
        try:
            _run_chunk(strategy, state.check, _chunk_seed(task.seed, task.chunk), CHUNK,
                       task.steer)
        except _BudgetSpent:
            pass
    out.runs, out.heights, out.hashes = state.runs, state.heights, state.hashes
    out.delivered = state.delivered
    out.liveness_checked, out.expected = state.liveness_checked, state.expected
    out.failures, out.unexpected_safety = state.failures, state.unexpected_safety
    out.run_seconds = state.run_seconds
    out.cpu_seconds = time.process_time() - state.cpu_started
    out.reference_failures = getattr(task.judge, "reference_failures", 0)
    out.coverage_total, out.coverage_scenarios = state.coverage_total, state.coverage_scenarios
    out.first = state.first
    # Spent only when time ran out: a chunk whose draws repeated runs fewer than its limit.
    out.budget_spent = state.first is None and time.perf_counter() >= state.deadline
    return out


def _search_in_parallel(state: "_Search", template: _ChunkTask, workers: int,
                        dask_address: str | None) -> int | None:
    """Run the search's chunks in `workers` processes (or on the Dask cluster at
    `dask_address`), adding their counts to `state`, and return the index of the chunk that
    holds the first failure in chunk order (or None).

    The seed space is split by chunk: chunk k draws what the serial search draws for it
    (`_chunk_seed(seed, k)`), whichever worker runs it. Chunks go out in order, as many at
    once as there are workers. When one fails, no later chunk is started, and the earlier ones
    still running are waited for: the failure kept is the one with the lowest (chunk, position),
    so the result does not depend on which worker was faster. With `max_scenarios` the chunks
    are fixed in advance (CHUNK scenarios each, the last one cut), so the same seed runs the
    same scenarios on any number of workers. One difference from the serial search: a draw
    that repeats one of another chunk is run again (each worker dedupes within its chunk)."""
    limit = state.max_scenarios
    n_chunks = None if limit is None else -(-limit // CHUNK)
    pool = _Pool(workers, dask_address)
    pending: dict = {}
    next_chunk = 0
    best: tuple[int, int, Scenario] | None = None
    results: dict[int, _ChunkResult] = {}
    try:
        while True:
            while (len(pending) < pool.slots and (n_chunks is None or next_chunk < n_chunks)
                   and (best is None or next_chunk < best[0])
                   and not any(r.budget_spent for r in results.values())):
                size = CHUNK if limit is None else min(CHUNK, limit - next_chunk * CHUNK)
                task = dataclasses.replace(template, chunk=next_chunk, limit=size)
                pending[pool.submit(_search_chunk, task)] = next_chunk
                next_chunk += 1
            if not pending:
                break
            for future in pool.wait_first(list(pending)):
                if future not in pending:
                    continue  # done, but after the failure: dropped below
                chunk = pending.pop(future)
                part = future.result()
                results[chunk] = part
                if part.first is not None and (best is None or (chunk, part.first[0])
                                               < best[:2]):
                    best = (chunk, part.first[0], part.first[1])
                if best is not None:  # chunks after the failure are not counted
                    for later in [f for f, c in pending.items() if c > best[0]]:
                        pool.cancel(later)
                        pending.pop(later)
            if state.progress is not None:
                done = [r for c, r in results.items() if best is None or c <= best[0]]
                state.progress({"phase": "search",
                                "elapsed_s": time.perf_counter() - state.started,
                                "budget_s": state.budget_s,
                                "scenarios_run": sum(r.runs for r in done),
                                "shrink_runs": 0})
    finally:
        pool.close()
    for chunk in sorted(results):
        if best is None or chunk < best[0]:
            state.absorb(results[chunk])
        elif chunk == best[0]:
            part = results[chunk]
            part.runs, part.failures = best[1], 1  # up to and including the failure
            state.absorb(part)
    state.cpu_started -= state.worker_cpu  # the workers' CPU, not this process's
    if best is None:
        state.search_ended = time.perf_counter()
        return None
    state.found_at = state.found_search_at = time.perf_counter()
    state.found_after = state.runs
    state.found_cpu = time.process_time()
    return best[0]


class _Pool:
    """Worker processes, or a Dask cluster: submit a function, wait for the first futures done."""

    def __init__(self, workers: int, dask_address: str | None) -> None:
        self.dask = None
        if dask_address:
            try:
                from distributed import Client
            except ImportError as exc:  # pragma: no cover - distributed is a dependency
                raise FuzzSetupError(f"--dask needs the distributed package: {exc}") from None
            try:
                self.dask = Client(dask_address, timeout="10s")
            except OSError as exc:
                raise FuzzSetupError(f"cannot reach the Dask scheduler at {dask_address}: "
                                     f"{exc}; start one with `dask scheduler` or pass a "
                                     "working address") from None
            self.slots = max(1, sum(self.dask.nthreads().values()))
        else:
            self.executor = ProcessPoolExecutor(max_workers=workers)
            self.slots = workers

    def submit(self, fn, task):
        if self.dask is not None:
            return self.dask.submit(fn, task, pure=False)
        return self.executor.submit(fn, task)

    def wait_first(self, futures: list) -> list:
        if self.dask is not None:
            from distributed import wait
            return list(wait(futures, return_when="FIRST_COMPLETED").done)
        return list(concurrent.futures.wait(
            futures, return_when=concurrent.futures.FIRST_COMPLETED).done)

    def cancel(self, future) -> None:
        future.cancel()

    def close(self) -> None:
        if self.dask is not None:
            self.dask.close()
            return
        # A chunk after the first failure may still be running: its result is not wanted, so
        # its process is stopped rather than waited for (up to CHUNK scenarios). Python 3.11
        # has no public way to do that; `_processes` is where the executor keeps them.
        processes = list(getattr(self.executor, "_processes", {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()


class FuzzSetupError(RuntimeError):
    """The search could not start: a Dask scheduler that cannot be reached."""


@contextlib.contextmanager
def _no_local_constants():
    """Hypothesis (6.13x and later) sometimes draws a literal found in the source of the local
    modules loaded so far (`providers._get_local_constants`), so which modules a process
    happened to import would change the scenarios a seed draws: `chemtrace fuzz` and the tests
    would fuzz different sequences. While fuzzing, that pool is empty. This reaches into a
    private module; if it is not there, nothing is patched."""
    try:
        from hypothesis.internal.conjecture import providers
        empty = type(providers._local_constants)()
        original = providers._get_local_constants
    except (ImportError, AttributeError, TypeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def _run_chunk(strategy, check, chunk_seed: int, examples: int, steer: bool = False) -> None:
    phases = (Phase.generate, Phase.target, Phase.shrink) if steer else (Phase.generate,
                                                                        Phase.shrink)

    @settings(database=None, derandomize=False, max_examples=examples, deadline=None,
              phases=phases, suppress_health_check=list(HealthCheck),
              verbosity=Verbosity.quiet, report_multiple_bugs=False, print_blob=False)
    @given(strategy)
    def test(scenario):
        check(scenario)

    with _no_local_constants():
        hypothesis_seed(chunk_seed)(test)()


def _chunk_seed(seed: int, chunk: int) -> int:
    digest = hashlib.sha256(f"chemtrace/fuzz/{seed}/{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


# Hooks classes fuzz() ran the honest nations with in this process, by class_path: what a
# counterexample's `node_class:` line may name besides the honest node and the mutants.
_NODE_CLASSES: dict[str, type[NodeHooks]] = {}


def register_node_class(cls: type[NodeHooks]) -> None:
    _NODE_CLASSES[class_path(cls)] = cls


def registered_node_classes() -> dict[str, type[NodeHooks] | None]:
    """`module:QualName` -> class, for the honest node (None) and the registered classes."""
    return {class_path(Node): None, **_NODE_CLASSES}


def scenario_size(scenario: Scenario | None) -> dict | None:
    """How big a (shrunk) scenario is: nations, Byzantine nations, behaviours, partitions."""
    if scenario is None:
        return None
    from scenarios.spec.schema import BYZANTINE_KINDS
    byzantine = {n for b in scenario.behaviours if b.kind in BYZANTINE_KINDS for n in b.nations}
    return {"nations": len(scenario.nations), "byzantine_nations": len(byzantine),
            "behaviours": len(scenario.behaviours), "partitions": len(scenario.partitions),
            "ticks_max": scenario.ticks_max}


def run_scenario(scenario: Scenario, honest_hooks: type[NodeHooks] | None = None) -> RunSummary:
    """Run one scenario and return its summary. A run that raises (a broken node can trip one
    of the replica's own checks) is a failure too: its summary has one violation of kind
    "exception", and no trace hash. It writes no report, so it keeps no space-time diagram."""
    try:
        return build_world(scenario, honest_hooks, spacetime=False).run()
    except Exception as exc:  # the run itself broke: report it as the failure it is
        return _exception_summary(scenario, exc)


def _exception_summary(scenario: Scenario, exc: Exception) -> RunSummary:
    return RunSummary.of_exception(scenario, exc)


# ---------------------------------------------------------------------- the story of a failure


def failure_line(summary: RunSummary) -> str:
    """One line: the first violation that made the run fail."""
    for v in summary.violations:
        if v["kind"] == "exception":
            return f"exception: {v['reason']}"
        if v["kind"] == "liveness":
            if summary.expect["liveness"] is True:
                return f"liveness: {v['reason']}"
            continue
        if not v["expected"]:
            where = f" at height {v['height']}" if "height" in v else ""
            return f"{v['kind']}{where} (tick {v.get('tick', '?')})"
    if summary.liveness_verdict == "not judged" and summary.expect["liveness"] != "any":
        return f"liveness not judged: {summary.liveness}"
    return "expectation failed: " + json.dumps(summary.expect, sort_keys=True)


_CONSENSUS_KINDS = (MessageKind.PROPOSAL, MessageKind.PREVOTE, MessageKind.PRECOMMIT)


class _Heard:
    """Every consensus message the world delivers (sender, kind, round, value) by height, for
    the story: the world's `on_deliver` watcher. The trace itself is unchanged: it is the
    run's fingerprint."""

    def __init__(self) -> None:
        self.chain_id = ""  # set once the world has made its genesis
        self.by_height: dict[int, dict[tuple, set[str]]] = {}

    def __call__(self, src: str, dst: str, data: bytes, kind: str, height: int,
                 round_: int) -> None:
        if kind in _CONSENSUS_KINDS and len(self.by_height) < 10_000:
            try:
                message = decode(self.chain_id, data)
            except WireError:
                message = None
            if isinstance(message, (Proposal, Vote)):
                value = message.value_id.hex()[:8] if message.value_id is not None else "nil"
                # By signer, not by sender: a stalled node relays others' signed messages, and
                # keyed by sender a relay read as the relaying nation's own vote.
                signer = message.proposer if isinstance(message, Proposal) else message.voter
                key = (message.round, kind, signer, value)
                self.by_height.setdefault(message.height, {}).setdefault(key, set()).add(dst)


def explain(scenario: Scenario, honest_hooks: type[NodeHooks] | None = None,
            trace_path: Path | None = None) -> tuple[RunSummary, str]:
    """Run `scenario` with a trace and tell what went wrong: (summary, story)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = trace_path or Path(tmp) / "trace.jsonl"
        heard = _Heard()
        world = build_world(scenario, honest_hooks, trace_path=path, on_deliver=heard)
        heard.chain_id = world.genesis.chain_id
        try:
            summary = world.run()
        except Exception as exc:
            import traceback
            summary = _exception_summary(scenario, exc)
            where = "".join(traceback.format_exception(exc)[-4:]).rstrip()
            return summary, (f"rule broken: the run raised {summary.exception} at tick "
                             f"{world.now} (no trace hash: the run did not finish)\n{where}")
        story = _story(world, heard, summary, path)
    return summary, story


def _story(world: World, heard: _Heard, summary: RunSummary, trace_path: Path) -> str:
    lines = []
    violation = next((v for v in summary.violations
                      if v["kind"] != "liveness" and not v["expected"]), None)
    if violation is None:
        violation = next((v for v in summary.violations if v["kind"] == "liveness"), None)
    if violation is None:
        return "the run's expectation failed, with no violation recorded"
    power = summary.byzantine_power_fraction
    byz = ", ".join(summary.byzantine_nations) or "none"
    kind = violation["kind"]
    if kind == "liveness":
        height = summary.heights_committed + 1
        lines.append(f"rule broken: liveness. {violation['reason']} (bound "
                     f"{summary.expect['liveness_ticks_max']} ticks). Every fault had ended "
                     f"by GST, and the Byzantine power {power:.3f} ({byz}) is below 1/3, so the "
                     f"protocol promises progress.")
    else:
        height = violation.get("height", summary.heights_committed)
        rule = {"agreement": "agreement: two honest nations committed different blocks at one "
                             "height",
                "validity": "validity: a committed block or transaction was not properly "
                            "certified or signed",
                "integrity": "integrity: a transaction was committed twice on one chain"
                }.get(kind, kind)
        detail = {k: v for k, v in violation.items()
                  if k not in ("kind", "expected", "height", "tick")}
        lines.append(f"rule broken: {rule}, at height {height}, tick {violation.get('tick')}; "
                     f"the Byzantine power {power:.3f} ({byz}) is below 1/3, so the protocol "
                     f"promises this cannot happen. {json.dumps(detail, sort_keys=True)}")
    decides, timeouts = [], []
    with open(trace_path, encoding="utf-8") as f:
        for line in f:
            if '"ev":"decide"' in line or '"ev":"timeout"' in line:
                record = json.loads(line)
                if record.get("h") == height:
                    (decides if record["ev"] == "decide" else timeouts).append(record)
    if decides:
        lines.append(f"commits at height {height} (trace.jsonl):")
        for d in decides[:12]:
            lines.append(f"  tick {d['t']}: {d['node']} committed block {d['block'][:8]} "
                         f"via {d['via']}")
    else:
        lines.append(f"no nation committed height {height} (trace.jsonl)")
    seen = heard.by_height.get(height, {})
    rounds = sorted({key[0] for key in seen})
    if kind == "liveness":
        # The rounds in which a nation still stuck at this height locked (the cause of many a
        # stall), then the last rounds.
        locks = {n.replica.locked_round for n in world.nodes.values()
                 if n is not None and n.replica.height == height and n.replica.locked_round >= 0}
        rounds = sorted((locks & set(rounds)) | set(rounds[-2:]))[-STORY_ROUNDS_MAX:]
    else:
        rounds = rounds[:STORY_ROUNDS_MAX]
    if rounds:
        lines.append(f"messages of height {height} as delivered (value = first 8 hex digits "
                     f"of the block id; who received it):")
    everyone = set(world.instances)
    for round_ in rounds:
        for kind_ in _CONSENSUS_KINDS:
            entries = sorted((src, value, sorted(dsts)) for (r, k, src, value), dsts
                             in seen.items() if r == round_ and k == kind_)
            if not entries:
                continue
            parts = []
            for src, value, dsts in entries:
                to = "all" if set(dsts) | {src} >= everyone else ",".join(dsts)
                parts.append(f"{src} {value} (to {to})")
            lines.append(f"  round {round_} {kind_}: " + "; ".join(parts))
    if kind == "liveness":
        if timeouts:
            last = timeouts[-1]
            lines.append(f"last timeout at height {height}: round {last['r']} ({last['step']}) "
                         f"at tick {last['t']}, by {last['node']}")
        lines.append("state at the end of the run (height, round, step, lock):")
        for name in world.instances:
            node = world.nodes[name]
            if node is None:
                lines.append(f"  {name}: down")
                continue
            r = node.replica
            lock = (f"locked on {r.locked_value_id.hex()[:8]} since round {r.locked_round}"
                    if r.locked_value_id is not None else "not locked")
            lines.append(f"  {name}: height {r.height}, round {r.round}, "
                         f"{r.step.name.lower()}, {lock}")
    if len(lines) > STORY_LINES_MAX:
        lines = lines[:STORY_LINES_MAX] + [f"  ... ({len(lines) - STORY_LINES_MAX} more lines)"]
    return "\n".join(lines)


# ---------------------------------------------------------------------- JUnit XML


def junit_xml(result: FuzzResult, command: str, counterexample: Path | None = None) -> str:
    """One JUnit test suite with one test case for this fuzz run: any CI server shows it, and a
    failure carries the story and the commands that reproduce it."""
    import xml.etree.ElementTree as ET
    p = result.parameters
    suite = ET.Element("testsuite", name="chemtrace fuzz", tests="1",
                       failures=str(int(result.failed)), errors="0", skipped="0",
                       time=f"{result.seconds:.3f}")
    props = ET.SubElement(suite, "properties")
    for key, value in (("seed", result.seed), ("command", command),
                       ("scenarios_run", result.scenarios_run),
                       ("scenarios_per_s", f"{result.scenarios_per_s:.2f}"),
                       ("heights_committed", result.heights_committed),
                       ("distinct_schedules", result.distinct_schedules),
                       ("liveness_checked", result.liveness_checked),
                       ("expected_violations", result.expected_violations)):
        ET.SubElement(props, "property", name=key, value=str(value))
    nations = p.get("nations", ["?", "?"])
    case = ET.SubElement(suite, "testcase", classname="chemtrace.fuzz",
                         name=f"fuzz seed={result.seed} nations={nations[0]}..{nations[1]} "
                              f"byzantine={p.get('byzantine')}",
                         time=f"{result.seconds:.3f}")
    if result.failed:
        replay = (f"chemtrace replay {counterexample}" if counterexample is not None
                  else "(no counterexample file was written)")
        failure = ET.SubElement(case, "failure", message=result.failure,
                                type="UnexpectedViolation")
        failure.text = (f"{result.failure}\n{result.story}\n\nreproduce:\n  {replay}\n"
                        f"  chemtrace run {counterexample}\nfound by:\n  {command}\n"
                        f"trace_sha256: {result.trace_sha256}\n")
    out = ET.SubElement(case, "system-out")
    out.text = json.dumps(result.to_json(), sort_keys=True)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
