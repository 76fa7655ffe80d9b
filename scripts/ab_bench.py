"""Two commits side by side on consensus alone and the fuzzer, in one sitting, taking turns.

    python scripts/ab_bench.py BEFORE AFTER [--rounds 3]     # e.g. main HEAD

Each commit is exported (`git archive`) to a temporary folder and measured there in a fresh
process, BEFORE then AFTER, `--rounds` times, so load that comes and goes on a shared machine
falls on both; the table gives the median of the rounds and AFTER / BEFORE. Rates are per
second of the measuring process's CPU time (one core's rate however busy the machine), the
wall-clock heights per second beside them. The measurements: the empty n = 4 world of `chemtrace
bench` (no workload, 20-tick delay) for `HEIGHTS[4]` heights and n = 16 for `HEIGHTS[16]`, and
`fuzz` on n = 4 scenarios of 5 heights for `FUZZ_BUDGET_S` seconds, seed 0; with Ed25519, and
with modelled signatures too on a commit that has them. The Ed25519 trace hashes of the two
commits are compared: a speed-up must not change a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEIGHTS = {4: 300, 16: 100}
FUZZ_BUDGET_S = 6.0

# Runs inside the exported tree; it builds the scenario from TOML text so that it works on
# commits older than `empty_scenario`.
MEASURE = r'''
import json, sys, time
from scenarios.spec.loader import parse_scenario
from scenarios.assemble import build_world
from scenarios.bench.sim import bench_nations
from scenarios.search.fuzz import fuzz
from scenarios.spec.schema import SCHEMA

heights, budget = json.loads(sys.argv[1]), float(sys.argv[2])
modes = ["ed25519"] + (["modelled"] if "signatures" in SCHEMA["consensus"].keys else [])

def empty(n, h, mode):
    lines = ["[scenario]", f'name = "empty-n{n}"', "seed = 1", f"ticks_max = {h * 60}", ""]
    for code in bench_nations(n):
        lines += ["[[nation]]", f'id = "{code}"', ""]
    lines += ["[network]", "latency_ticks = 20", "jitter_ticks = 0", "", "[workload]",
              "txs_per_tick = 0", "shipments = 0", ""]
    if mode != "ed25519":
        lines += ["[consensus]", f'signatures = "{mode}"', ""]
    lines += ["[expect]", f"liveness_ticks_max = {h * 60}"]
    return parse_scenario("\n".join(lines) + "\n", "<ab>")

out = {}
for mode in modes:
    for n, h in heights.items():
        world = build_world(empty(int(n), h, mode))
        cpu = time.process_time()
        summary = world.run()
        cpu = time.process_time() - cpu
        out[f"n{n} {mode} heights/cpu s"] = summary.heights_committed / cpu
        out[f"n{n} {mode} heights/wall s"] = summary.heights_committed / world.wall_s
        out[f"n{n} {mode} trace"] = summary.trace_sha256
    kw = {} if mode == "ed25519" else {"signatures": mode}
    r = fuzz(budget_s=budget, seed=0, nations=(4, 4), max_heights=5, stop_on_failure=False, **kw)
    out[f"fuzz {mode} scenarios/cpu s"] = r.scenarios_run / r.cpu_seconds
print(json.dumps(out))
'''


def export(rev: str, into: Path) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def measure(tree: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(HEIGHTS),
                           str(FUZZ_BUDGET_S)], cwd=tree, env={"PYTHONPATH": str(tree),
                                                               "PATH": "/usr/bin:/bin"},
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sides = {}
        for name, rev in (("before", args.before), ("after", args.after)):
            sides[name] = (export(rev, Path(tmp) / name), Path(tmp) / name)
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for i in range(args.rounds):
            for name in ("before", "after"):
                runs[name].append(measure(sides[name][1]))
                print(f"round {i + 1}: {name} measured", file=sys.stderr)
    keys = [k for k in runs["after"][0] if not k.endswith("trace")]
    print(f"{'measure':34} {'before ' + sides['before'][0]:>16} {'after ' + sides['after'][0]:>16}"
          f" {'after/before':>12}")
    for key in keys:
        after = statistics.median(r[key] for r in runs["after"])
        before = (statistics.median(r[key] for r in runs["before"])
                  if key in runs["before"][0] else None)
        ratio = f"{after / before:.2f}" if before else ""
        print(f"{key:34} {before if before is None else round(before, 1)!s:>16} "
              f"{round(after, 1)!s:>16} {ratio:>12}")
    same = all(runs["before"][0][k] == runs["after"][0][k]
               for k in runs["before"][0] if k.endswith("trace"))
    print("Ed25519 trace hashes of the two commits: " + ("equal" if same else "DIFFERENT"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
