"""Issue 19's performance targets, read off one `make bench` run, side by side.

    chemtrace bench-global-day [--json-file runs/global-day.json]   # the global day, measured
    chemtrace bench-targets [--runs runs] [--out runs/targets.md]    # the table

What this module owns: the list of targets (`TARGETS`: what is measured, where its figure is in
the bench's JSON files, the target and which way is better), the global day's measurement
(`global_day`: `chemtrace run scenarios/library/global-day.toml` in a child process, its wall
time and peak resident set from the kernel's own accounting of that child), and the table.
What it may not know: how any figure is measured; it reads the files the benchmarks write
(`chemtrace bench`, `chemtrace bench-live`, `scripts/peer_bench.py`, the global day), and a
file that is missing or lacks a figure gives a row that says so, never a guess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from scenarios.bench.sim import LIBRARY, machine

GLOBAL_DAY = LIBRARY / "global-day.toml"
GLOBAL_DAY_TIMEOUT_S = 3600
# The files of one `make bench` run, by the name the targets use for them.
FILES = {"bench": "bench.json", "live": "bench-live.json", "peer": "peer-bench.json",
         "global_day": "global-day.json"}
HOW_TO_GET = {
    "bench": "chemtrace bench --json-file runs/bench.json",
    "live": "chemtrace bench-live --json-file runs/bench-live.json",
    "peer": "python scripts/peer_bench.py --peer PATH --json runs/peer-bench.json",
    "global_day": "chemtrace bench-global-day --json-file runs/global-day.json",
}
LIVE_RESTART_TXS = 1_000_000


@dataclass(frozen=True)
class Target:
    measure: str
    source: str  # a key of FILES
    read: Callable[[object], float | None]  # the figure in that file's JSON, or None
    target: float
    at_most: bool = False  # lower is better (times, memory)
    unit: str = ""


def _row(rows: list, key: str, value):
    return next((r for r in rows if r.get(key) == value), None)


def _consensus(bench: dict, n: int, mode: str) -> float | None:
    run = _row(bench["sections"]["consensus"]["runs"], "nations", n)
    return None if run is None else run[mode]["heights_per_wall_s"]


def _ratio(bench: dict, n: int) -> float | None:
    run = _row(bench["sections"]["sim"]["runs"], "nations", n)
    return None if run is None else run["ratio_to_floor"]


def _peer(rows: list, n: int) -> float | None:
    row = _row(rows, "n", n)
    return None if row is None else row.get("ratio_to_pbft_modelled")


def _restart(live: dict) -> float | None:
    sizes = [r for r in live.get("restart", {}).get("sizes", []) if r["txs"] >= LIVE_RESTART_TXS]
    return min(sizes, key=lambda r: r["txs"])["snapshot_ready_s"] if sizes else None


def _live(live: dict, nations: str) -> float | None:
    run = live.get("throughput", {}).get(nations)
    return None if run is None else run["txs_per_s"]


TARGETS: tuple[Target, ...] = (
    Target("heights per wall s, n = 4, empty workload, Ed25519", "bench",
           lambda b: _consensus(b, 4, "ed25519"), 1000.0),
    *(Target(f"modelled signatures ÷ the peer's PBFT, n = {n}", "peer",
             lambda p, n=n: _peer(p, n), 1.0, unit="×") for n in (4, 16, 64, 128)),
    Target("fuzz scenarios per core s (n = 4), Ed25519", "bench",
           lambda b: b["fuzz_scenarios_per_s"], 80.0),
    Target("fuzz scenarios per core s (n = 4), modelled signatures", "bench",
           lambda b: b["fuzz_modelled_scenarios_per_s"], 250.0),
    Target("ratio to the floor, n = 64 (full bench)", "bench", lambda b: _ratio(b, 64), 0.6),
    Target("ratio to the floor, n = 193 (full bench)", "bench", lambda b: _ratio(b, 193), 0.45),
    Target("global day (1M transactions, 193 nations): wall", "global_day",
           lambda g: g["wall_s"], 120.0, at_most=True, unit="s"),
    Target("global day: peak RSS", "global_day", lambda g: g["peak_rss_mib"] / 1024, 1.5,
           at_most=True, unit="GiB"),
    Target("live committed tx/s, 4 nations", "live", lambda v: _live(v, "4"), 4000.0),
    Target("live committed tx/s, 7 nations", "live", lambda v: _live(v, "7"), 2500.0),
    Target("live restart after SIGKILL, 1M transactions on disk (snapshot)", "live", _restart,
           2.0, at_most=True, unit="s"),
)


def global_day(path: Path = GLOBAL_DAY, *, python: str = sys.executable,
               timeout_s: float = GLOBAL_DAY_TIMEOUT_S) -> dict:
    """Run `chemtrace run PATH --quiet` in a child process and return its figures: the run's
    own summary (committed, trace hash, the event loop's wall time) with the whole command's
    wall time (set-up, report and trace file included) and the child's peak resident set
    (wait4's ru_maxrss, KiB on Linux): what `/usr/bin/time -v` reports, from inside the
    bench."""
    with tempfile.TemporaryDirectory(prefix="chemtrace-global-day-") as tmp:
        out = Path(tmp)
        cmd = [python, "-m", "chemtrace", "run", str(path), "--quiet", "--out", str(out / "run")]
        with open(out / "stderr.txt", "wb") as err:
            started = time.perf_counter()
            child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                     cwd=LIBRARY.parents[1])
            timer = threading.Timer(timeout_s, child.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
            finally:
                timer.cancel()
            wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        summary_path = out / "run" / "summary.json"
        # exit 1 is a run whose expectation failed: its figures are still the measurement
        if child.returncode not in (0, 1) or not summary_path.is_file():
            detail = (out / "stderr.txt").read_text(errors="replace").strip()[-800:]
            raise RuntimeError(f"chemtrace run {path} failed (exit {child.returncode}"
                               f"{', killed after the timeout' if wall >= timeout_s else ''}): "
                               f"{detail}")
        summary = json.loads(summary_path.read_text())
    return {"scenario": path.name, "wall_s": round(wall, 1),
            "loop_wall_s": round(summary["wall_s"], 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "txs_committed": summary["txs_committed"],
            "txs_submitted": summary["txs_submitted"],
            "heights_committed": summary["heights_committed"],
            "messages_delivered": summary["messages_delivered"],
            "safety_ok": summary["safety_ok"], "liveness_ok": summary["liveness_ok"],
            "expect_ok": child.returncode == 0,
            "trace_sha256": summary["trace_sha256"], "machine": machine()}


def load(runs: Path) -> dict[str, object]:
    """The bench files found in `runs` (missing ones are left out)."""
    out: dict[str, object] = {}
    for source, name in FILES.items():
        path = runs / name
        if path.is_file():
            out[source] = json.loads(path.read_text())
    return out


def evaluate(files: dict[str, object]) -> list[dict]:
    """One row per target: the figure, the target, met or not, or why there is no figure."""
    rows = []
    for t in TARGETS:
        row = {"measure": t.measure, "target": t.target, "at_most": t.at_most, "unit": t.unit,
               "source": FILES[t.source]}
        data = files.get(t.source)
        value = None
        if data is not None:
            try:
                value = t.read(data)
            except (KeyError, TypeError, IndexError):
                value = None
        if value is None:
            row.update(value=None, met=None,
                       missing=(f"no {FILES[t.source]}: {HOW_TO_GET[t.source]}" if data is None
                                else f"{FILES[t.source]} has no such figure"))
        else:
            row.update(value=value, met=value <= t.target if t.at_most else value >= t.target)
        rows.append(row)
    return rows


def table(rows: list[dict], files: dict[str, object]) -> str:
    commits = sorted({f["machine"]["commit"] for f in files.values()
                      if isinstance(f, dict) and isinstance(f.get("machine"), dict)})
    unmeasured = sum(r["met"] is None for r in rows)
    lines = [f"Issue 19's targets (commit {', '.join(commits) or 'unknown'}): "
             f"{sum(r['met'] is True for r in rows)} of {len(rows)} met"
             + (f", {unmeasured} not measured" if unmeasured else ""), "",
             "| measure | measured | target | met | from |", "|---|---|---|---|---|"]
    for r in rows:
        sign = "≤" if r["at_most"] else "≥"
        unit = "" if not r["unit"] else r["unit"] if r["unit"] == "×" else f" {r['unit']}"
        target = f"{sign} {_fmt(r['target'])}{unit}"
        if r["value"] is None:
            lines.append(f"| {r['measure']} | – | {target} | not measured | {r['missing']} |")
        else:
            lines.append(f"| {r['measure']} | {_fmt(r['value'])}{unit} | {target} | "
                         f"{'yes' if r['met'] else 'no'} | {r['source']} |")
    return "\n".join(lines)


def _fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def file_times(runs: Path) -> dict[str, str]:
    """When each file was written (the live and peer files carry no commit of their own)."""
    return {name: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(runs / name)))
            for name in FILES.values() if (runs / name).is_file()}
