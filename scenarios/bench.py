"""`chemtrace bench`: what the simulator costs, as ratios measured in one run.

Absolute times on shared machines are noisy, so every figure comes with the signature floor
measured in the same process: one Ed25519 sign plus one verify per transaction (pynacl). The
benchmark never gates CI; it reports.

- `floor_tx_per_s`: sign + verify of a 200-byte message, repeated;
- `chaincode_us_per_event`: the cost of validating one custody event through the chaincode,
  including the operator co-signature check (`cold`: a fresh verification cache; `warm`: every
  signature already checked once in this process, as on the second and later nodes);
- `baseline`: the baseline scenario's committed transactions per wall second, and its ratio to
  the floor;
- `fuzz_scenarios_per_s`: generated n = 4 scenarios of about 5 heights run per second of one
  core by `chemtrace fuzz` (details under `parameters.fuzz`).
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from nodes import Chaincode, Identity, VerifyCache, verify_signature

from .loader import load_scenario
from .world import World

LIBRARY = Path(__file__).resolve().parent / "library"
REPETITIONS = 3
FUZZ_BUDGET_S = 20.0  # --quick: a tenth of it


def floor_tx_per_s(count: int = 3000) -> float:
    ident = Identity.derive("USA", 1)
    messages = [i.to_bytes(8, "big") * 25 for i in range(count)]
    started = time.perf_counter()
    for m in messages:
        verify_signature(ident.public_key, m, ident.sign(m))
    return count / (time.perf_counter() - started)


def chaincode_cost(world: World) -> dict:
    """Re-apply the run's committed blocks through fresh chaincodes and time the custody events."""
    blocks = [c.block for c in world.storage[world.nations[0]].blocks]
    events = sum(1 for b in blocks for tx in b.txs if tx.kind != "payload")
    keys = {n.code: n.public_key for n in world.genesis.nations}
    out = {"events": events}
    shared = VerifyCache()
    for label, verifier in (("cold", shared), ("warm", shared)):
        chaincode = Chaincode(world.genesis.chain_id, world.registry, world.domain_config, keys,
                              verifier)
        started = time.perf_counter()
        for block in blocks:
            chaincode.begin_block(block.time_ticks)
            for tx in block.txs:
                if tx.kind != "payload":
                    chaincode.apply_tx(tx, block.time_ticks)
        elapsed = time.perf_counter() - started
        out[f"{label}_us_per_event"] = round(1e6 * elapsed / max(1, events), 1)
    return out


def run_bench(quick: bool = False) -> dict:
    floors = [floor_tx_per_s(1000 if quick else 3000) for _ in range(REPETITIONS)]
    floor = statistics.median(floors)
    scenario = load_scenario(LIBRARY / "baseline.toml")
    if quick:
        scenario = scenario.with_overrides(ticks_max=5000)
    runs = []
    for _ in range(1 if quick else REPETITIONS):
        world = World(scenario)
        summary = world.run()
        runs.append((summary["txs_per_wall_s"], world, summary))
    runs.sort(key=lambda r: r[0])
    tx_per_s, world, summary = runs[len(runs) // 2]
    fuzzed = fuzz_rate(FUZZ_BUDGET_S / (10 if quick else 1))
    return {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "processor": platform.machine(), "commit": _commit()},
        "parameters": {"quick": quick, "repetitions": REPETITIONS,
                       "scenario": "scenarios/library/baseline.toml",
                       "ticks_max": scenario.ticks_max,
                       "fuzz": fuzzed},
        "floor_tx_per_s": round(floor),
        "baseline": {"txs_per_wall_s": tx_per_s, "txs_committed": summary["txs_committed"],
                     "heights_committed": summary["heights_committed"],
                     "wall_s": summary["wall_s"],
                     "ratio_to_floor": round(tx_per_s / floor, 3)},
        "chaincode": chaincode_cost(world),
        "fuzz_scenarios_per_s": fuzzed["scenarios_per_cpu_s"],
    }


def fuzz_rate(budget_s: float) -> dict:
    """`chemtrace fuzz`'s speed on n = 4 scenarios of about 5 heights (each drawn with its
    faults, then run until 5 heights after the last fault ends), honest protocol, seed 0:
    every scenario counted, none skipped. The rate is per second of this process's CPU time,
    so it is one core's rate even on a busy machine; the wall-clock rate is given too.
    Failures do not stop it (the search goes on, without shrinking)."""
    from .fuzz import fuzz
    result = fuzz(budget_s=budget_s, seed=0, nations=(4, 4), max_heights=5,
                  stop_on_failure=False)
    return {"budget_s": budget_s, "nations": 4, "max_heights": 5,
            "scenarios_run": result.scenarios_run,
            "scenarios_per_cpu_s": round(result.scenarios_run / result.cpu_seconds, 1)
            if result.cpu_seconds > 0 else 0.0,
            "scenarios_per_wall_s": round(result.scenarios_per_s, 1),
            "heights_per_scenario": round(result.heights_committed
                                          / max(1, result.scenarios_run), 2),
            "failures": result.failures}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, cwd=LIBRARY).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_json(result: dict, path: Path) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n")
