"""The simulator's first promise: the same scenario and seed give a byte-identical trace."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from helpers import LIBRARY, ROOT


def _run(tmp_path, name: str, seed: int, hashseed: str, ticks: int = 5000) -> dict:
    out = tmp_path / f"{name}-{seed}-{hashseed}"
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    proc = subprocess.run(
        [sys.executable, "-m", "scenarios.cli.main", "run", str(LIBRARY / f"{name}.toml"),
         "--seed", str(seed), "--ticks-max", str(ticks), "--out", str(out), "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    trace = (out / "trace.jsonl").read_bytes()
    assert hashlib.sha256(trace).hexdigest() == summary["trace_sha256"]
    return summary


def test_same_seed_same_trace_across_processes_and_hash_seeds(tmp_path):
    a = _run(tmp_path, "crash-restart", 21, "0", ticks=10000)
    b = _run(tmp_path, "crash-restart", 21, "12345", ticks=10000)
    assert a["trace_sha256"] == b["trace_sha256"]
    assert a["heights_committed"] == b["heights_committed"] > 0


def test_different_seed_changes_the_trace(tmp_path):
    a = _run(tmp_path, "baseline", 1, "0")
    b = _run(tmp_path, "baseline", 2, "0")
    assert a["trace_sha256"] != b["trace_sha256"]


def test_trace_records_deliveries_timeouts_decisions_and_drops(tmp_path):
    _run(tmp_path, "crash-restart", 21, "0", ticks=10000)
    lines = (tmp_path / "crash-restart-21-0" / "trace.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["ev"] for line in lines}
    assert {"deliver", "timeout", "decide", "drop", "crash", "restart", "submit", "end"} <= kinds
    ticks = [json.loads(line)["t"] for line in lines]
    assert ticks == sorted(ticks), "the trace is written in time order"
