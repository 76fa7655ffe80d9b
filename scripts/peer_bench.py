"""chemtrace beside a peer BFT simulator on consensus alone: decisions per wall second.

    python scripts/peer_bench.py [--peer PATH] [--sizes 4,16,64,128] [--runs 3] [--json FILE]

The peer is csienslab/BFT-Simulator (the NTU simulator of DSN'22; JavaScript, it signs
nothing). It is not part of chemtrace and is never copied into it: fetch it yourself, install its
packages, and pass its folder:

    git clone https://github.com/csienslab/BFT-Simulator /path/to/BFT-Simulator
    (cd /path/to/BFT-Simulator && npm install)
    python scripts/peer_bench.py --peer /path/to/BFT-Simulator

The common workload: fault-free, a fixed 20 ms delay on every message, no transactions, n = 4,
16, 64 and 128, the peer's PBFT and HotStuff-NS. For each n, `--runs` rounds alternate the
four (peer PBFT, peer HotStuff-NS, chemtrace with Ed25519, chemtrace with modelled
signatures), and the table shows medians:

- the peer: decisions per wall second of its simulation loop. A small driver (written to a
  temporary folder, run with the peer's folder as its module root and a temporary folder as its
  working directory, so the checkout is not changed) sets the peer's config (nodeNum = n, no
  Byzantine nodes, networkDelay mean 0.02 s and std 0, logs off) and repeats the simulator's
  own `runOnce()` until `--peer-seconds` have passed. A PBFT run ends with one decision; a
  HotStuff-NS run with 100 (its nodes stop after 100 decided blocks; the peer's main.js divides
  by 100 the same way).
- chemtrace: committed heights per wall second of `World.run` (trace and oracles on, as
  `chemtrace run`), an empty workload, latency 20 ticks of 1 ms and no jitter; once with
  Ed25519 signatures (the default everywhere) and once with modelled signatures (`[consensus]
  signatures = "modelled"`, docs/performance.md), the mode issue 19's target row compares with
  the peer, which signs nothing.

Without `--peer` it measures chemtrace alone and says how to get the peer. It reports; it never
fails a build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = (4, 16, 64, 128)
RUNS = 3
PEER_SECONDS = 3.0
PEER_PROTOCOLS = {"pbft": ("pbft", 1), "hotstuff-NS": ("hotstuff-NS", 100)}
DELAY_MS = 20
# Ticks of the chemtrace run per n: a few seconds of wall time each on a 2-core machine.
CHEMTRACE_TICKS = {4: 20_000, 16: 6_000, 64: 1_500, 128: 800}
PEER_URL = "https://github.com/csienslab/BFT-Simulator"
HOW_TO_GET_PEER = f"""no --peer given: chemtrace alone. To compare with the peer simulator:
    git clone {PEER_URL} /path/to/BFT-Simulator
    (cd /path/to/BFT-Simulator && npm install)
    python scripts/peer_bench.py --peer /path/to/BFT-Simulator"""

# Runs inside Node with the peer's folder first on the module path. argv: peer folder,
# protocol, n, seconds. Prints one JSON line: runs, decisions, wall seconds.
DRIVER_JS = r"""
'use strict';
const path = require('path');
const [peer, protocol, n, seconds, perRun] = process.argv.slice(2);
const config = require(path.join(peer, 'config.js'));
Object.assign(config, {
    nodeNum: Number(n), byzantineNodeNum: 0, protocol: protocol,
    networkDelay: { mean: 0.001 * DELAY_MS, std: 0 }, logToFile: false,
    attacker: 'fail-stop', repeatTime: 1,
});
const Simulator = require(path.join(peer, 'simulator.js'));
const s = new Simulator(config);
const budget = Number(seconds) * 1000;
const started = process.hrtime.bigint();
let wall = 0;
let runs = 0;
while (wall < budget) {
    s.runOnce();
    s.reset();
    runs += 1;
    wall = Number(process.hrtime.bigint() - started) / 1e6;
}
console.log(JSON.stringify({ runs: runs, decided: s.simulationResults.length,
                             decisions: s.simulationResults.length * Number(perRun),
                             wall_s: wall / 1000 }));
""".replace("DELAY_MS", str(DELAY_MS))


def peer_rate(peer: Path, protocol: str, n: int, seconds: float, node: str,
              scratch: Path) -> float:
    """Decisions per wall second of the peer's loop (see the module docstring)."""
    name, per_run = PEER_PROTOCOLS[protocol]
    driver = scratch / "peer_driver.js"
    if not driver.exists():
        driver.write_text(DRIVER_JS)
    work = scratch / "cwd"  # the peer's logger empties ./log in its working directory
    work.mkdir(exist_ok=True)
    done = subprocess.run([node, str(driver), str(peer.resolve()), name, str(n), str(seconds),
                           str(per_run)], cwd=work, capture_output=True, text=True,
                          timeout=600 + 20 * seconds)
    if done.returncode != 0:
        raise RuntimeError(f"the peer's {protocol} at n = {n} failed (exit {done.returncode}):"
                           f" {done.stderr.strip()[-800:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["decided"] != result["runs"]:
        raise RuntimeError(f"the peer's {protocol} at n = {n}: {result['runs']} runs, "
                           f"{result['decided']} decided")
    return result["decisions"] / result["wall_s"]


SIGNATURE_MODES = {"chemtrace": "ed25519", "chemtrace_modelled": "modelled"}


def chemtrace_scenario(n: int, signatures: str = "ed25519"):
    from scenarios.bench.sim import bench_nations
    from scenarios.spec.loader import parse_scenario

    lines = ["[scenario]", f'name = "peer-n{n}"', "seed = 1",
             f"ticks_max = {CHEMTRACE_TICKS.get(n, 800)}", ""]
    for code in bench_nations(n):
        lines += ["[[nation]]", f'id = "{code}"', ""]
    lines += ["[consensus]", f'signatures = "{signatures}"', "",
              "[network]", f"latency_ticks = {DELAY_MS}", "jitter_ticks = 0", "",
              "[workload]", "txs_per_tick = 0", "shipments = 0", "",
              "[expect]", f"liveness_ticks_max = {CHEMTRACE_TICKS.get(n, 800)}"]
    return parse_scenario("\n".join(lines) + "\n", source=f"<peer bench n={n}>")


def chemtrace_rate(n: int, signatures: str = "ed25519") -> float:
    """Committed heights per wall second of one simulated run at n nations."""
    from scenarios.assemble import build_world

    world = build_world(chemtrace_scenario(n, signatures))
    assert world.signatures.name == signatures, (world.signatures.name, signatures)
    summary = world.run()
    if not (summary.safety_ok and summary.liveness_ok) or summary.heights_committed < 2:
        raise RuntimeError(f"chemtrace at n = {n}: {summary.heights_committed} heights, "
                           f"safety {summary.safety_ok}, liveness {summary.liveness_ok}")
    return summary.heights_committed / world.wall_s


def measure(sizes: tuple[int, ...], runs: int, peer: Path | None, peer_seconds: float,
            node: str, say=print) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="chemtrace-peer-") as tmp:
        scratch = Path(tmp)
        for n in sizes:
            samples: dict[str, list[float]] = {what: [] for what in SIGNATURE_MODES}
            if peer is not None:
                samples.update({p: [] for p in PEER_PROTOCOLS})
            for run in range(runs):  # alternating: load that comes and goes touches each
                for what in samples:
                    rate = (chemtrace_rate(n, SIGNATURE_MODES[what]) if what in SIGNATURE_MODES
                            else peer_rate(peer, what, n, peer_seconds, node, scratch))
                    samples[what].append(rate)
                    say(f"n = {n}, run {run + 1}/{runs}: {what} {rate:,.3g} decisions/s")
            row = {"n": n, **{f"{k}_per_s": statistics.median(v) for k, v in samples.items()},
                   "samples": samples}
            if peer is not None:
                for what, mode in SIGNATURE_MODES.items():
                    suffix = "" if mode == "ed25519" else f"_{mode}"
                    row[f"ratio_to_pbft{suffix}"] = row[f"{what}_per_s"] / row["pbft_per_s"]
                    row[f"ratio_to_hotstuff_ns{suffix}"] = (row[f"{what}_per_s"]
                                                           / row["hotstuff-NS_per_s"])
            rows.append(row)
    return rows


def table(rows: list[dict], with_peer: bool) -> str:
    if with_peer:
        head = ("| n | peer PBFT | peer HotStuff-NS | chemtrace, Ed25519 | chemtrace, modelled | "
                "Ed25519 ÷ PBFT | modelled ÷ PBFT | modelled ÷ HotStuff-NS |\n"
                "|---|---|---|---|---|---|---|---|")
        lines = [f"| {r['n']} | {_fmt(r['pbft_per_s'])} | {_fmt(r['hotstuff-NS_per_s'])} | "
                 f"{_fmt(r['chemtrace_per_s'])} | {_fmt(r['chemtrace_modelled_per_s'])} | "
                 f"{r['ratio_to_pbft']:.3g} | {r['ratio_to_pbft_modelled']:.3g} | "
                 f"{r['ratio_to_hotstuff_ns_modelled']:.3g} |" for r in rows]
    else:
        head = ("| n | chemtrace heights, Ed25519 | chemtrace heights, modelled |\n"
                "|---|---|---|")
        lines = [f"| {r['n']} | {_fmt(r['chemtrace_per_s'])} | "
                 f"{_fmt(r['chemtrace_modelled_per_s'])} |" for r in rows]
    return "\n".join([head, *lines])


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list of n") from None
    if not sizes or any(not 4 <= n <= 193 for n in sizes):
        raise argparse.ArgumentTypeError("each n is 4 to 193")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/peer_bench.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--peer", type=Path, help="a checkout of csienslab/BFT-Simulator with "
                        "its packages installed (npm install)")
    parser.add_argument("--sizes", type=_sizes, default=SIZES, help="n to run (default "
                        "4,16,64,128)")
    parser.add_argument("--runs", type=int, default=RUNS, help="alternating rounds; the "
                        "table shows medians (default 3)")
    parser.add_argument("--peer-seconds", type=float, default=PEER_SECONDS,
                        help="wall seconds of each peer measurement (default 3)")
    parser.add_argument("--node", default=shutil.which("node") or "node",
                        help="the Node.js executable (default: node on PATH)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows here")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.peer_seconds <= 0:
        parser.error("--runs at least 1, --peer-seconds above 0")
    peer = args.peer
    if peer is None:
        print(HOW_TO_GET_PEER)
    elif not (peer / "simulator.js").is_file() or not (peer / "node_modules").is_dir():
        parser.error(f"{peer}: not a BFT-Simulator checkout with its packages installed (no "
                     f"simulator.js or node_modules); run npm install in it")
    started = time.perf_counter()
    rows = measure(args.sizes, args.runs, peer, args.peer_seconds, args.node)
    print()
    print(f"decisions per wall second (chemtrace: committed heights, empty workload), medians "
          f"of {args.runs} alternating runs "
          f"({time.perf_counter() - started:.0f} s in all):")
    print(table(rows, peer is not None))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
