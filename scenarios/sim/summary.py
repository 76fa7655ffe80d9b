"""The typed run summary: what `World.run()` returns and what `summary.json` holds.

`RunSummary` has one field per key of `summary.json`, in the order the world has always written
them; `to_json()` gives that dict (the CLI dumps it with sorted keys, so the file is the same byte
for byte). Readers use fields (`summary.expect_ok`); the parts that are free-form evidence stay
plain JSON-ready dicts and lists, read by key. The README's table of `summary.json` fields
describes the same figures.

- `sections`: what the workload adds, by name; the trade adds `domain` (read it as
  `summary.domain`): the trade oracle's figures (shipments, flags_by_kind, ...)
- `scenario`, `source`, `seed`: the scenario's name, the file it came from and its seed
- `nations`: how many nations run a node; `nations_opted_out`: sorted names of those that opted out
- `byzantine_nations`: nations with a Byzantine behaviour; `byzantine_power_fraction`: their power
- `unexpected_violations`: a safety violation that the Byzantine power below 1/3 does not excuse
- `ticks`: the scenario's `ticks_max`; `ticks_run`: where the run ended (earlier on liveness_heights)
- `heights_committed`, `txs_committed`: blocks decided after genesis and the transactions in them
- `txs_submitted`: transactions the clients and the trade workload submitted
- `safety_ok`: no agreement, validity or integrity violation was seen
- `liveness_verdict`: `ok`, `stalled` or `not judged` (the run ended before the liveness window
  after the last fault closed); `liveness_ok`: True, False or None (not judged); `liveness`: why
- `expect`: the scenario's `[expect]` table; `expect_ok`: whether the run met it
- `violations`: dicts with a `kind`, `expected` and their evidence
- `evidence`: equivocation evidence, one dict per offence
- `wall_s`, `txs_per_wall_s`: how fast the simulator ran; `txs_per_sim_tick`: throughput in ticks
- `messages_sent`, `messages_delivered`, `messages_dropped`, `dropped_by_reason`, `bytes_sent`: the network
- `latency_ticks_p50`, `latency_ticks_p99`: submission to first commit, None when nothing committed
  (tables show the figure as absent and say why: `latency_text`)
- `signatures_verified`, `signature_cache_hits`: the signature verifier's misses and hits
- `signatures`: how nations signed: `ed25519`, or `modelled` (`[consensus] signatures`)
- `events`: the trade events the run recorded
- `trace_sha256`, `trace_lines`: the trace's hash and length, set by `run()` (None before, and
  then absent from `to_json()`); a live run has no deterministic trace: hash None, 0 lines
- `reproduce`: the command that reproduces the run (set by the CLI)
- `live`: a live cluster's per-node section (`scenarios/cluster/driver.py`)
- `exception`: why a run that raised broke (the fuzzer's summary of a broken run)
- `reference_failed`: a mutant benchmark's mark for a scenario the reference node fails too

The last four are absent from `to_json()` unless set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

_OPTIONAL = ("prompt_decisions", "reproduce", "live", "exception", "reference_failed")


@dataclass(frozen=True)
class RunSummary:
    # The sections a workload adds (scenarios/sim/workload.py `Workload.summary`), by name: the
    # trade adds `domain`. They lead `to_json()`, as `domain` always has; none without a workload.
    sections: dict = field(default_factory=dict, kw_only=True)
    scenario: str
    source: str
    seed: int
    nations: int
    nations_opted_out: list
    byzantine_nations: list
    byzantine_power_fraction: float
    unexpected_violations: bool
    ticks: int
    ticks_run: int
    heights_committed: int
    txs_committed: int
    txs_submitted: int
    safety_ok: bool
    liveness_ok: bool | None
    liveness: str
    expect: dict
    expect_ok: bool
    violations: list
    evidence: list
    wall_s: float
    txs_per_wall_s: float
    txs_per_sim_tick: float
    messages_sent: int
    messages_delivered: int
    messages_dropped: int
    dropped_by_reason: dict
    bytes_sent: int
    latency_ticks_p50: int | None
    latency_ticks_p99: int | None
    signatures_verified: int
    signature_cache_hits: int
    events: list
    liveness_verdict: str = "not judged"
    signatures: str = "ed25519"
    # Protocol events of the honest nations (consensus.COVERAGE_EVENTS, state syncs, evidence).
    coverage: dict = dataclasses.field(default_factory=dict)
    # The first-correct-proposer oracle, when [expect] prompt_decisions asked for it: applied,
    # why, heights_judged, late (scenarios/sim/oracles.py judge_prompt_decisions).
    prompt_decisions: dict | None = None
    trace_sha256: str | None = None
    trace_lines: int | None = None
    reproduce: str | None = None
    live: dict | None = None
    exception: str | None = None
    reference_failed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """Today's `summary.json` dict: every figure, the trace keys once `run()` set them, and
        the optional keys that are set."""
        out = dict(self.sections)
        out.update((f.name, getattr(self, f.name)) for f in dataclasses.fields(self)
                   if f.name != "sections")
        if self.trace_lines is None:
            del out["trace_sha256"], out["trace_lines"]
        for key in _OPTIONAL:
            if out[key] is None:
                del out[key]
        return out

    @property
    def domain(self) -> dict | None:
        """The trade's section (scenarios/trade/runner.py): shipments, flags, leaks...; None
        for a world that ran no trade workload."""
        return self.sections.get("domain")

    def latency_text(self) -> str:
        """`p50 / p99` in ticks for a table, or why the figure is absent (never None or a
        negative number)."""
        p50, p99 = self.latency_ticks_p50, self.latency_ticks_p99
        if p50 is None or p99 is None:
            if self.txs_committed:  # custody records only: they carry no submission tick
                return "absent: no synthetic load committed (custody records are not timed)"
            return "absent: no transaction submitted in this run was committed"
        if p50 < 0 or p99 < 0:
            return "absent: a commit came before its submission (state left by another run)"
        return f"{p50:,} / {p99:,}"

    def replace(self, **changes) -> RunSummary:
        """A copy with `changes` (the summary is frozen): `dataclasses.replace`."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def of_exception(cls, scenario, exc: Exception) -> RunSummary:
        """The summary of a run that raised: a failure with one violation of kind "exception",
        nothing committed and no trace hash."""
        reason = f"{type(exc).__name__}: {exc}"
        return cls(
            sections={"domain": {}}, scenario=scenario.name, source=scenario.source, seed=scenario.seed,
            nations=len(scenario.nations), nations_opted_out=[], byzantine_nations=[],
            byzantine_power_fraction=0.0, unexpected_violations=True, ticks=scenario.ticks_max,
            ticks_run=0, heights_committed=0, txs_committed=0, txs_submitted=0, safety_ok=False,
            liveness_ok=None, liveness=f"not judged: the run broke ({reason})", expect=dict(scenario.expect), expect_ok=False,
            violations=[{"kind": "exception", "expected": False, "reason": reason}],
            evidence=[], wall_s=0.0, txs_per_wall_s=0.0, txs_per_sim_tick=0.0, messages_sent=0,
            messages_delivered=0, messages_dropped=0, dropped_by_reason={}, bytes_sent=0,
            latency_ticks_p50=None, latency_ticks_p99=None, signatures_verified=0,
            signature_cache_hits=0, events=[], trace_sha256=None, trace_lines=0,
            signatures=scenario.consensus.get("signatures", "ed25519"), exception=reason)
