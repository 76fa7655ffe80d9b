"""Trace hashes of library scenarios at several seeds, recorded once and compared after each change.

    python scripts/trace_hashes.py --record runs/trace-hashes.json   # before a change
    python scripts/trace_hashes.py --check runs/trace-hashes.json    # after it: exit 1 on a mismatch

A speed-up of the simulated world must not change what it simulates: the same scenario and seed
give a byte-identical trace. `tests/scenarios/test_regressions.py` holds the recorded hashes of
the regression files; this script covers the library's scenarios too (a few seconds each, so it
is a tool for the engineer, not a test), plus the bench's empty n = 4 case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scenarios.assemble import build_world  # noqa: E402
from scenarios.spec.loader import load_scenario  # noqa: E402

SCENARIOS = ("baseline", "amnesia", "censor", "crash-restart", "crash-wipe", "delay",
             "equivocate-f", "equivocate-f-plus-1", "invalid-signature", "mutate",
             "partition-heals", "twins", "withhold-objection")
SEEDS = (1, 7)


def cases() -> list[tuple[str, object]]:
    from scenarios.bench.sim import empty_scenario
    out: list[tuple[str, object]] = []
    for name in SCENARIOS:
        base = load_scenario(ROOT / "scenarios" / "library" / f"{name}.toml")
        out += [(f"{name} seed {s}", base.with_overrides(seed=s, ticks_max=None))
                for s in SEEDS]
    out += [(f"empty n=4 seed {s}", empty_scenario(4, heights=60, seed=s)) for s in SEEDS]
    return out


def hashes(progress=print) -> dict[str, str]:
    out: dict[str, str] = {}
    for label, scenario in cases():
        started = time.perf_counter()
        out[label] = build_world(scenario).run().trace_sha256
        progress(f"{label:32} {out[label]}  {time.perf_counter() - started:5.1f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, help="write the hashes to this JSON file")
    mode.add_argument("--check", type=Path, help="compare with the hashes in this JSON file")
    args = p.parse_args(argv)
    got = hashes()
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(got, indent=1) + "\n")
        print(f"recorded {len(got)} hashes in {args.record}")
        return 0
    want = json.loads(args.check.read_text())
    bad = [k for k in want if got.get(k) != want[k]]
    missing = sorted(set(got) - set(want))
    for k in bad:
        print(f"MISMATCH {k}: was {want[k]}, now {got.get(k)}")
    print(f"{len(want) - len(bad)} of {len(want)} hashes unchanged"
          + (f"; not recorded before: {missing}" if missing else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
