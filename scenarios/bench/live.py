"""The live runtime's benchmark: committed transactions per second of 4- and 7-nation live
clusters over loopback, the recovery time after SIGKILL, and what TCP_NODELAY does to a QoS 1
round trip through Mosquitto.

`run_bench_live()` returns a dict (`chemtrace bench-live --json FILE` writes it). Every figure is
measured on this machine at the time of the run; nothing here fails a build.

Throughput. A cluster runs a payload-only scenario (no trade, no faults) whose offered load is
above the target, so the figure is what the cluster commits, not what it is offered. The window
starts after a warm-up (every node connected, the first blocks committed) and ends with the run:
the transactions in the blocks first committed inside the window, over the window's length.

Recovery. One nation of four is killed with SIGKILL and restarted; the recovery time runs from
the restart to the node's first commit at or above the highest height any other nation had
committed by the restart (`LiveCluster._live_section`). It includes the process start-up
(Python imports, the registry, reopening SQLite and replaying its blocks, connecting).

Restart with a big ledger (`restart_scaling`). A ledger of payload transactions (64 bytes, in
blocks of `RESTART_BLOCK_TXS`, every transaction and certificate really signed, every app hash
the chaincode's) is written to one nation's SQLite file as a node that was then killed would
have left it, at several sizes; at each size one copy holds a signed state snapshot
`RESTART_SNAPSHOT_LAG` blocks below the tip (the blocks a node writes between two snapshots),
and one holds none. The figure is the wall time from spawning `chemtrace node` on the copy to
its log line "starting at height" (the store opened and checked, the state rebuilt, the node
ready to connect), with the part spent opening the store and building the node from that
line; medians of alternating runs.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from nodes.live.runtime import SNAPSHOT_EVERY_TXS
from scenarios.cluster.driver import LiveCluster
from scenarios.spec.loader import load_scenario

BENCH_TICK_MS = 2.0
WARMUP_S = 3.0
# Offered loads above issue 19's targets (4,000 and 2,500 tx/s): the figure is what commits.
# (At the first round's 2,200 and 1,500 a quiet machine committed all it was offered, so the
# figure was the offered rate, not the cluster's capacity.)
RATE_4_PER_S = 5000.0
RATE_7_PER_S = 3000.0
PINGS = 200
NATIONS_7 = ("USA", "MEX", "CAN", "CHN", "IND", "PAN", "GTM")

SCENARIO = """
[scenario]
name = "{name}"
seed = 1
ticks_max = {ticks}
{nations}
[workload]
txs_per_tick = {rate}
payload_bytes = 64
{extra}
{consensus}
[expect]
safety = true
liveness = true
"""


# For the throughput runs only. No faults there: timeouts never need to fire, and a block of
# 2,000 transactions must not outlast them on a busy machine (a round lost to a timeout wastes
# its whole block's work). The recovery run keeps the defaults: a dead proposer is waited out.
NO_FAULT_CONSENSUS = """[consensus]
block_txs_max = 2000
timeout_propose_base_ticks = 1500
timeout_prevote_base_ticks = 500
timeout_precommit_base_ticks = 500
rebroadcast_ticks = 1500
"""


def _scenario(folder: Path, name: str, nations: tuple[str, ...], ticks: int, rate: float,
              extra: str = "", consensus: str = ""):
    path = folder / f"{name}.toml"
    path.write_text(SCENARIO.format(
        name=name, ticks=ticks, rate=rate, extra=extra, consensus=consensus,
        nations="".join(f'\n[[nation]]\nid = "{n}"\n' for n in nations)))
    return load_scenario(path)


def throughput(nations: tuple[str, ...], duration_s: float, rate_per_s: float,
               folder: Path, sync: str = "FULL") -> dict:
    ticks = int(duration_s * 1000 / BENCH_TICK_MS)
    scenario = _scenario(folder, f"bench-{len(nations)}", nations, ticks,
                         rate_per_s * BENCH_TICK_MS / 1000, consensus=NO_FAULT_CONSENSUS)
    cluster = LiveCluster(scenario, folder / f"run-{len(nations)}", "spawn",
                          tick_ms=BENCH_TICK_MS, sync=sync)
    summary = cluster.run()
    first = {}  # height -> tick of its first commit by any nation
    for ticks_of in cluster.commit_ticks.values():
        for height, (tick, _, _) in ticks_of.items():
            first[height] = min(first.get(height, tick), tick)
    window_from = int(WARMUP_S * 1000 / BENCH_TICK_MS)
    txs_of = dict(cluster.canonical_txs)
    in_window = [h for h, t in first.items() if window_from <= t <= ticks]
    txs = sum(txs_of.get(h, 0) for h in in_window)
    window_s = (ticks - window_from) * BENCH_TICK_MS / 1000
    return {
        "nations": len(nations),
        "sqlite_synchronous": sync,
        "offered_txs_per_s": rate_per_s,
        "window_s": window_s,
        "txs_per_s": round(txs / window_s, 1),
        # Every committed tx over the whole run (start-up included): a floor. The window figure
        # can exceed the offered rate when blocks in it carry a backlog from the warm-up.
        "txs_per_s_whole_run": round(summary.txs_committed / duration_s, 1),
        "heights": summary.heights_committed,
        "txs_committed": summary.txs_committed,
        "txs_submitted": summary.txs_submitted,
        "latency_ms_p50": _ms(summary.latency_ticks_p50),
        "latency_ms_p99": _ms(summary.latency_ticks_p99),
        "safety_ok": summary.safety_ok,
        "liveness_ok": summary.liveness_ok,
        "dropped_by_reason": summary.dropped_by_reason,
    }


def recovery(folder: Path, quick: bool) -> dict:
    kill, back, end = (1500, 2500, 4000) if quick else (2000, 3500, 6000)
    scenario = _scenario(folder, "bench-recovery", ("USA", "MEX", "CAN", "CHN"), end, 0.5, f"""
[[behaviour]]
nations = ["MEX"]
kind = "crash"
from_tick = {kill}
until_tick = {back}
""")
    cluster = LiveCluster(scenario, folder / "run-recovery", "spawn", tick_ms=BENCH_TICK_MS)
    summary = cluster.run()
    restart = summary.live["restarts"][0]
    return {"recovery_s": restart["recovery_s"], "down_s": (back - kill) * BENCH_TICK_MS / 1000,
            "height_at_kill": restart["height_at_kill"],
            "cluster_height_at_restart": restart["cluster_height_at_restart"],
            "evidence": len(summary.evidence), "safety_ok": summary.safety_ok}


def nodelay_ping(folder: Path, pings: int = PINGS) -> dict:
    """Median QoS 1 round trip (publish, the broker forwards, the peer answers, the broker
    forwards back) between two clients, with and without TCP_NODELAY on the clients. The
    broker has `set_tcp_nodelay true` (the generated configuration)."""
    import aiomqtt

    from nodes import Genesis
    from nodes.live.brokerconf import free_port, spawn_broker, write_broker_config
    from nodes.live.transport import NODELAY_OPTION

    genesis, _ = Genesis.simulated("bench-ping", [("USA", 1), ("MEX", 1)], 1)
    config = write_broker_config(genesis, folder / "ping-broker", port=free_port())

    async def measure(nodelay: bool) -> float:
        options = (NODELAY_OPTION,) if nodelay else ()
        root = "chemtrace/bench-ping/v1"
        c = config.credentials
        async with aiomqtt.Client(config.host, config.port, username="USA", password=c["USA"],
                                  socket_options=options) as a, \
                aiomqtt.Client(config.host, config.port, username="MEX", password=c["MEX"],
                               socket_options=options) as b:
            await a.subscribe(f"{root}/MEX/msg", qos=1)
            await b.subscribe(f"{root}/USA/msg", qos=1)

            async def echo() -> None:
                async for message in b.messages:
                    await b.publish(f"{root}/MEX/msg", message.payload, qos=1)
            echoer = asyncio.create_task(echo())
            times = []
            try:
                for i in range(pings):
                    started = time.perf_counter()
                    await a.publish(f"{root}/USA/msg", i.to_bytes(4, "big"), qos=1)
                    async for _ in a.messages:
                        break
                    times.append(time.perf_counter() - started)
            finally:
                echoer.cancel()
        # The echo task ends once its client has disconnected (aiomqtt's message iterator
        # finishes a cancellation only then); collect it so nothing is left unretrieved.
        await asyncio.gather(echoer, return_exceptions=True)
        return statistics.median(times) * 1000

    with spawn_broker(config):
        on = asyncio.run(measure(True))
        off = asyncio.run(measure(False))
    return {"median_ms_nodelay": round(on, 3), "median_ms_without": round(off, 3),
            "pings": pings}


RESTART_BLOCK_TXS = 2000
# The most blocks a node replays after its snapshot with the default interval (a snapshot every
# SNAPSHOT_EVERY_TXS committed transactions): the worst case of a restart.
RESTART_SNAPSHOT_LAG = SNAPSHOT_EVERY_TXS // RESTART_BLOCK_TXS
RESTART_SIZES = (100_000, 300_000, 1_000_000)
RESTART_SIZES_QUICK = (40_000, 120_000)
RESTART_SNAPSHOT_LAG_QUICK = 5
RESTART_RUNS = 3
RESTART_NATIONS = NATIONS_7[:4]


def build_restart_ledgers(folder: Path, sizes: tuple[int, ...],
                          block_txs: int = RESTART_BLOCK_TXS,
                          snapshot_lag: int = RESTART_SNAPSHOT_LAG) -> dict:
    """Write the ledgers of `sizes` transactions (see the module docstring): returns the
    genesis and key paths and, per size, the data folders with and without a snapshot."""
    import shutil

    from nodes.app.chaincode import precursor_chaincode
    from nodes.app.snapshot import encode_state
    from nodes.chain.block import Block, CommittedBlock, vote_sign_bytes
    from nodes.chain.genesis import Genesis
    from nodes.chain.identity import VerifyCache
    from nodes.chain.tx import Transaction
    from nodes.live.keyfile import key_path, make_key_dir, write_key
    from nodes.live.sqlite_storage import SQLiteStorage
    from consensus import Step, Vote

    folder.mkdir(parents=True, exist_ok=True)
    genesis, identities = Genesis.simulated("bench-restart", [(n, 1) for n in RESTART_NATIONS], 1)
    me = RESTART_NATIONS[0]
    (folder / "genesis.json").write_text(genesis.to_json() + "\n")
    key = key_path(make_key_dir(folder / "keys"), me)
    write_key(key, me, identities[me], overwrite=True)
    chaincode = precursor_chaincode(genesis, VerifyCache())
    work = folder / "building"
    work.mkdir()
    path = work / "node.sqlite"

    def open_store() -> SQLiteStorage:
        return SQLiteStorage(path, genesis.chain_id, synchronous="NORMAL", nation=me,
                             genesis_hash=genesis.hash, signer=identities[me])

    storage = open_store()
    prev, height, nonce, out = genesis.hash, 0, 0, {}
    started = time.perf_counter()
    for size in sorted(sizes):
        blocks = -(-size // block_txs)
        while height < blocks:
            height += 1
            txs = []
            for i in range(block_txs):
                signer = identities[RESTART_NATIONS[i % len(RESTART_NATIONS)]]
                nonce += 1
                txs.append(Transaction.create(genesis.chain_id, signer, "payload", nonce,
                                              nonce.to_bytes(8, "big") * 8))
            block = Block.build(height, prev, RESTART_NATIONS[height % 4], height * 10,
                                tuple(txs), chaincode.state.root)
            certificate = tuple(
                Vote(Step.PRECOMMIT, height, 0, block.block_id, n, identities[n].sign(
                    vote_sign_bytes(genesis.chain_id, height, 0, Step.PRECOMMIT,
                                    block.block_id)))
                for n in RESTART_NATIONS[:3])
            storage.save_block(CommittedBlock(block, certificate))
            chaincode.begin_block(block.time_ticks)
            for tx in block.txs:
                chaincode.apply_tx(tx, block.time_ticks)
            prev = block.block_id
            if height == max(1, blocks - snapshot_lag):
                state = chaincode.state
                storage.save_snapshot(height, encode_state(state), state.root)
        storage.close()
        with_snapshot, without = folder / f"{size}-snapshot", folder / f"{size}-replay"
        for target in (with_snapshot, without):
            target.mkdir()
            shutil.copy(path, target / "node.sqlite")
            shutil.copy(work / "node.sqlite.txids", target / "node.sqlite.txids")
        import sqlite3
        db = sqlite3.connect(without / "node.sqlite")
        db.execute("DELETE FROM snapshot")
        db.commit()
        db.close()
        out[size] = {"blocks": blocks, "txs": blocks * block_txs,
                     "file_bytes": path.stat().st_size,
                     "snapshot": with_snapshot, "replay": without}
        storage = open_store()
    storage.close()
    shutil.rmtree(work)
    return {"genesis": folder / "genesis.json", "key": key, "sizes": out,
            "build_s": round(time.perf_counter() - started, 1)}


def time_node_start(genesis: Path, key: Path, data: Path, timeout_s: float = 300.0) -> dict:
    """Spawn `chemtrace node` on `data` and time it to its "starting at height" line (no
    broker listens on its port: it is killed with SIGKILL once ready, as a node is)."""
    import re
    import signal
    import subprocess
    import sys

    from nodes.live.brokerconf import free_port

    argv = [sys.executable, "-c", "from scenarios.cli.main import main; raise SystemExit(main())",
            "node", "--genesis", str(genesis), "--key", str(key), "--data", str(data),
            "--broker", f"mqtt://127.0.0.1:{free_port()}", "--sync", "NORMAL"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = started + timeout_s
        for line in proc.stderr:
            if "starting at height" in line:
                wall = time.perf_counter() - started
                found = re.search(r"snapshot at height (\d+), (\d+) blocks replayed, store "
                                  r"opened in ([0-9.]+) s", line)
                return {"ready_s": round(wall, 3), "open_s": float(found.group(3)),
                        "snapshot_height": int(found.group(1)),
                        "replayed_blocks": int(found.group(2))}
            if time.perf_counter() > deadline:
                break
        raise RuntimeError(f"chemtrace node on {data} did not start (exit {proc.poll()})")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


def restart_scaling(folder: Path, sizes: tuple[int, ...] = RESTART_SIZES,
                    runs: int = RESTART_RUNS, snapshot_lag: int = RESTART_SNAPSHOT_LAG) -> dict:
    built = build_restart_ledgers(folder, sizes, snapshot_lag=snapshot_lag)
    rows = []
    for size, paths in built["sizes"].items():
        timings: dict[str, list[dict]] = {"snapshot": [], "replay": []}
        for _ in range(runs):  # alternating: the machine's load touches both alike
            for mode in ("snapshot", "replay"):
                timings[mode].append(time_node_start(built["genesis"], built["key"],
                                                     paths[mode]))
        row = {"txs": paths["txs"], "blocks": paths["blocks"], "file_mb":
               round(paths["file_bytes"] / 2**20, 1)}
        for mode, samples in timings.items():
            row[f"{mode}_ready_s"] = statistics.median(s["ready_s"] for s in samples)
            row[f"{mode}_open_s"] = statistics.median(s["open_s"] for s in samples)
            row[f"{mode}_replayed_blocks"] = samples[0]["replayed_blocks"]
        rows.append(row)
    return {"block_txs": RESTART_BLOCK_TXS, "snapshot_lag_blocks": snapshot_lag,
            "runs": runs, "build_s": built["build_s"], "sizes": rows}


def run_bench_live(quick: bool = False,
                   sections: tuple[str, ...] = ("throughput", "recovery", "tcp_nodelay",
                                                "restart"),
                   restart_sizes: tuple[int, ...] | None = None) -> dict:
    duration_s = 8.0 if quick else 12.0
    result: dict = {"tick_ms": BENCH_TICK_MS, "quick": quick}
    with tempfile.TemporaryDirectory(prefix="chemtrace-bench-live-") as tmp:
        folder = Path(tmp)
        if "throughput" in sections:
            result["throughput"] = {
                "4": throughput(NATIONS_7[:4], duration_s, RATE_4_PER_S, folder),
                "7": throughput(NATIONS_7, duration_s, RATE_7_PER_S, folder),
            }
        if "recovery" in sections:
            result["recovery"] = recovery(folder, quick)
        if "tcp_nodelay" in sections:
            result["tcp_nodelay"] = nodelay_ping(folder, 100 if quick else PINGS)
        if "restart" in sections:
            sizes = restart_sizes or (RESTART_SIZES_QUICK if quick else RESTART_SIZES)
            result["restart"] = restart_scaling(
                folder / "restart", sizes,
                snapshot_lag=RESTART_SNAPSHOT_LAG_QUICK if quick else RESTART_SNAPSHOT_LAG)
    return result


def _ms(ticks: int | None) -> float | None:
    return None if ticks is None else ticks * BENCH_TICK_MS
