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
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from scenarios.cluster.driver import LiveCluster
from scenarios.spec.loader import load_scenario

BENCH_TICK_MS = 2.0
WARMUP_S = 3.0
# Offered loads a little above the targets (2,000 and 1,000 tx/s): the figure is what commits.
RATE_4_PER_S = 2200.0
RATE_7_PER_S = 1500.0
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


def run_bench_live(quick: bool = False) -> dict:
    duration_s = 8.0 if quick else 12.0
    with tempfile.TemporaryDirectory(prefix="chemtrace-bench-live-") as tmp:
        folder = Path(tmp)
        return {
            "tick_ms": BENCH_TICK_MS,
            "throughput": {
                "4": throughput(NATIONS_7[:4], duration_s, RATE_4_PER_S, folder),
                "7": throughput(NATIONS_7, duration_s, RATE_7_PER_S, folder),
            },
            "recovery": recovery(folder, quick),
            "tcp_nodelay": nodelay_ping(folder, 100 if quick else PINGS),
            "quick": quick,
        }


def _ms(ticks: int | None) -> float | None:
    return None if ticks is None else ticks * BENCH_TICK_MS
