"""`chemtrace node`, `chemtrace cluster` and `chemtrace bench-live`: the live runtime's commands.

    chemtrace node --genesis FILE --key FILE --broker mqtt://USER:PASS@HOST:PORT --data DIR
                   [--tick-ms N] [--epoch-s S] [--credentials FILE] [--config FILE]
                   [--parent-pid PID] [--faults FILE [--twin]] [--metrics-port PORT]
    chemtrace cluster SCENARIO --broker URL|spawn [--out DIR] [--duration-s S] [--tick-ms N]
                   [--credentials FILE] [--network auto|on|off] [--metrics-port PORT] [--view]
                   [--quiet] [--json]
    chemtrace bench-live [--quick] [--json] [--json-file FILE]

`node` runs until SIGTERM or SIGINT (or, with `--parent-pid`, until that process is gone) and
exits 0 after a clean shutdown. `cluster` exits like
`chemtrace run`: 0 when the scenario's [expect] holds, 1 when it does not, 2 for a bad command
line, scenario or set-up. --json prints the result on stdout instead of the table (for
cluster, its summary.json); bench-live's --json-file FILE writes it to FILE (this was
`--json FILE` before). docs/live.md tells the whole story.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from scenarios.cli.args import ExitCode, positive, positive_float
from scenarios.cli.library import scenario_path
from scenarios.cli.output import (add_json_file_flag, add_json_flag, human_console, print_json,
                                  write_json_file)

COMMANDS = ("node", "cluster", "compare", "bench-live")
BENCH_LIVE_SECTIONS = ("throughput", "recovery", "tcp_nodelay", "restart")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         "integers") from None
    if not sizes or any(not 1_000 <= s <= 10_000_000 for s in sizes):
        raise argparse.ArgumentTypeError("each size is 1000 to 10000000 transactions")
    return sizes
NODE_CONFIG_FILE_BYTES_MAX = 64 * 1024
CREDENTIALS_FILE_BYTES_MAX = 1024 * 1024
PARENT_CHECK_S = 0.5  # how often a node started with --parent-pid looks for its parent


def add_parsers(sub) -> None:
    node = sub.add_parser("node", help="run one nation's live node against an MQTT broker")
    node.add_argument("--genesis", type=Path, required=True, help="genesis file (JSON)")
    node.add_argument("--key", type=Path, required=True, help="this nation's key file")
    node.add_argument("--broker", required=True,
                      help="mqtt://USER:PASS@HOST:PORT (user and password may come from "
                           "--credentials)")
    node.add_argument("--data", type=Path, required=True,
                      help="folder for this node's SQLite store and ledger export")
    node.add_argument("--tick-ms", type=positive_float, default=2.0,
                      help="milliseconds per consensus tick (default 2)")
    node.add_argument("--epoch-s", type=float, default=0.0,
                      help="Unix time of tick 0, the same for every node of a chain "
                           "(default 0: the Unix epoch)")
    node.add_argument("--credentials", type=Path,
                      help="credentials.json of chemtrace broker-config: the password of the "
                           "nation's user when --broker has none")
    node.add_argument("--config", type=Path,
                      help="JSON of [consensus] keys (timeouts in ticks, block_txs_max)")
    node.add_argument("--sync", default="FULL", choices=("FULL", "NORMAL"),
                      help="SQLite synchronous mode: FULL survives a power cut (default), NORMAL "
                           "survives a killed process and is faster")
    node.add_argument("--snapshot-every", type=int, default=None, metavar="HEIGHTS",
                      help="keep a signed state snapshot every HEIGHTS heights (or 50,000 "
                           "committed transactions, if sooner) and at a clean stop, so a restart "
                           "replays only the blocks after it (default 200; 0: never, a restart "
                           "replays every block)")
    node.add_argument("--inbox-entries-max", type=positive,
                      help="messages the inbound queue holds before it drops some (default: "
                           "20,000; see 'Limits' in docs/live.md)")
    node.add_argument("--inbox-bytes-max", type=positive,
                      help="bytes the inbound queue holds before it drops some (default: 256 MiB)")
    node.add_argument("--faults", type=Path, metavar="FILE",
                      help="a fault plan (JSON, written by chemtrace cluster): this nation's "
                           "Byzantine behaviours, installed through the same hooks as in the "
                           "simulated world, and the network model of the links into it")
    node.add_argument("--twin", action="store_true",
                      help="run as the second instance of a nation the fault plan makes a twin "
                           "(same key, its own broker login NATION-twin and its own --data); "
                           "refused for any other nation")
    node.add_argument("--metrics-port", type=int, metavar="PORT",
                      help="serve Prometheus metrics on 127.0.0.1:PORT (0: a free port, "
                           "written to metrics.port in --data)")
    node.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    node.add_argument("--parent-pid", type=int, metavar="PID",
                      help="stop cleanly once this process is no longer our parent (chemtrace "
                           "cluster passes its own pid, so a killed driver leaves no node behind)")
    cluster = sub.add_parser("cluster", help="run a scenario on live node processes")
    cluster.add_argument("scenario", type=scenario_path,
                         help="scenario file (TOML), or a library scenario by name, as for "
                              "chemtrace run")
    cluster.add_argument("--broker", required=True,
                         help="'spawn' for a private Mosquitto on a free loopback port, or "
                              "mqtt://operator:PASS@HOST:PORT of a running broker")
    cluster.add_argument("--out", type=Path, help="output folder (default: a new "
                         "runs/<file name>-live-<n>/, with runs/latest pointing at it)")
    cluster.add_argument("--clean", action="store_true",
                         help="delete another run's state (nodes/, keys/, genesis.json) from "
                              "--out and start clean; without it such a folder is refused")
    cluster.add_argument("--duration-s", type=positive_float,
                         help="run this long (sets ticks_max from --tick-ms)")
    cluster.add_argument("--tick-ms", type=positive_float, default=2.0,
                         help="milliseconds per tick (default 2)")
    cluster.add_argument("--credentials", type=Path,
                         help="with a broker URL: credentials.json for the nations' users")
    cluster.add_argument("--sync", default="FULL", choices=("FULL", "NORMAL"),
                         help="the nodes' SQLite synchronous mode (see chemtrace node --sync)")
    cluster.add_argument("--network", default="auto", choices=("auto", "on", "off"),
                         help="apply the scenario's network model (latency, jitter, loss, "
                              "duplication, reordering) to the nodes' traffic through the "
                              "transport's shim: on, off, or auto (when [network] differs from "
                              "the defaults; the default)")
    cluster.add_argument("--metrics-port", type=int, metavar="PORT",
                         help="each node serves Prometheus metrics on 127.0.0.1, from PORT on "
                              "in nation order (0: free ports; each in nodes/<NATION>/"
                              "metrics.port)")
    cluster.add_argument("--view", action="store_true",
                         help="show a live table of the nodes (heights, rates, drops, backlog) "
                              "while the cluster runs, instead of the progress bar")
    cluster.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_json_flag(cluster, "the run's summary (summary.json)")
    compare = sub.add_parser("compare", help="run a scenario simulated and live, and compare "
                             "verdicts, evidence, domain figures and latency")
    compare.add_argument("scenario", type=scenario_path,
                         help="scenario file (TOML), or a library scenario by name")
    compare.add_argument("--out", type=Path, help="output folder (default: a new "
                         "runs/<file name>-compare-<n>/)")
    compare.add_argument("--tick-ms", type=positive_float, default=2.0,
                         help="milliseconds per live tick (default 2)")
    compare.add_argument("--duration-s", type=positive_float,
                         help="run this long live (sets ticks_max for both runs)")
    compare.add_argument("--network", default="on", choices=("on", "off"),
                         help="apply the network model to the live traffic (default on)")
    add_json_flag(compare, "the comparison (comparison.json)")
    bench = sub.add_parser("bench-live", help="committed tx/s of live clusters, SIGKILL recovery")
    bench.add_argument("--quick", action="store_true", help="shorter runs")
    bench.add_argument("--only", action="append", choices=BENCH_LIVE_SECTIONS, metavar="SECTION",
                       help="run only this section (repeatable): "
                            f"{', '.join(BENCH_LIVE_SECTIONS)}")
    bench.add_argument("--restart-sizes", type=_sizes, metavar="N,N,...",
                       help="ledger sizes in transactions for the restart section (default "
                            "100000,300000,1000000; --quick 40000,120000)")
    add_json_flag(bench, "the results")
    add_json_file_flag(bench, "the results")


def dispatch(args: argparse.Namespace) -> ExitCode:
    if args.command == "node":
        return cmd_node(args)
    if args.command == "cluster":
        return cmd_cluster(args)
    if args.command == "compare":
        return cmd_compare(args)
    return cmd_bench_live(args)


# ---------------------------------------------------------------- chemtrace node


def _read_json(path: Path, limit: int, what: str) -> dict:
    try:
        if path.stat().st_size > limit:
            raise ValueError(f"larger than {limit} bytes")
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: {what} must be a JSON object")
    return raw


def node_config(path: Path | None):
    """A NodeConfig from a JSON object of [consensus] keys; errors name the file and key."""
    from consensus import TimeoutConfig
    from nodes import NodeConfig
    if path is None:
        return NodeConfig()
    raw = _read_json(path, NODE_CONFIG_FILE_BYTES_MAX, "the node configuration")
    defaults = {"timeout_propose_base_ticks": 300, "timeout_propose_delta_ticks": 100,
                "timeout_prevote_base_ticks": 100, "timeout_prevote_delta_ticks": 50,
                "timeout_precommit_base_ticks": 100, "timeout_precommit_delta_ticks": 50,
                "rebroadcast_ticks": 150, "block_txs_max": 500}
    unknown = sorted(set(raw) - set(defaults))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; the keys are "
                         f"{', '.join(sorted(defaults))}")
    values = {**defaults, **raw}
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{path}: {key} must be a whole number >= 0, got {value!r}")
    t = TimeoutConfig(*(values[k] for k in list(defaults)[:6]))
    return NodeConfig(timeouts=t, block_txs_max=values["block_txs_max"],
                      rebroadcast_ticks=values["rebroadcast_ticks"])


def cmd_node(args: argparse.Namespace) -> ExitCode:
    from nodes import Genesis, GenesisError, Node, VerifyCache
    from nodes.live.brokerconf import twin_login, twin_status_topic
    from nodes.live.keyfile import KeyFileError, read_key
    from nodes.live.shim import LinkShim

    from scenarios.faults.live import (FaultPlanError, inbound_links, is_twin, node_faults,
                                       read_fault_plan, twin_half)
    from nodes.live.inbound import InboundLimits
    from nodes.live.runtime import LiveRuntime, TickClock
    from nodes.live.sqlite_storage import SQLiteStorage, StorageError
    from nodes.live.transport import BrokerUrl, BrokerUrlError, Topics, Transport

    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        genesis = Genesis.load(args.genesis)
        nation, identity = read_key(args.key)
        if genesis.public_key(nation) != identity.public_key:
            raise ValueError(f"{args.key}: the key of {nation} is not the one in {args.genesis}; "
                             f"use the key file the genesis was made from")
        plan = read_fault_plan(args.faults) if args.faults is not None else None
        if args.twin and not is_twin(plan, nation):
            # One key on two processes is equivocation waiting to happen: only a scenario's
            # twin behaviour asks for it, and says so in the fault plan.
            raise ValueError(f"--twin: the fault plan{' ' + str(args.faults) if plan else ''} "
                             f"gives {nation} no twin behaviour; a second process with one "
                             f"nation's key is refused otherwise")
        login = twin_login(nation) if args.twin else nation
        url = BrokerUrl.parse(args.broker)
        if url.username is None and args.credentials is not None:
            creds = _read_json(args.credentials, CREDENTIALS_FILE_BYTES_MAX, "credentials")
            if login not in creds:
                raise ValueError(f"{args.credentials}: no user {login!r}; make the broker "
                                 f"configuration from this genesis (chemtrace broker-config)")
            url = url.with_credentials(login, creds[login])
        if args.twin and url.username != login:
            raise ValueError(f"--twin: log in as {login} (its own broker login), not "
                             f"{url.username}")
        config = node_config(args.config)
        topics = Topics(genesis.chain_id)
        clock = TickClock(args.tick_ms, args.epoch_s)
    except (GenesisError, KeyFileError, BrokerUrlError, FaultPlanError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        args.data.mkdir(parents=True, exist_ok=True)
        lock = (args.data / "node.lock").open("w")
        # Two processes on one data folder would sign two sets of votes with one key.
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        print(f"error: {args.data}: cannot lock the data folder ({exc.strerror}); is another "
              f"node running on it?", file=sys.stderr)
        return ExitCode.USAGE
    opening = time.perf_counter()
    try:
        storage = SQLiteStorage(args.data / "node.sqlite", genesis.chain_id,
                                synchronous=args.sync, nation=nation,
                                genesis_hash=genesis.hash, signer=identity)
        hooks, faults = (None, None) if plan is None else node_faults(plan, nation, clock.now,
                                                                       args.tick_ms)
        node = Node(identity, genesis, VerifyCache(), storage, config, hooks=hooks)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    bounds = {"queue_entries_max": args.inbox_entries_max,
              "queue_bytes_max": args.inbox_bytes_max}
    limits = InboundLimits(**{k: v for k, v in bounds.items() if v is not None})
    links = inbound_links(plan)
    shim = LinkShim(nation, links, int(plan["seed"]), args.tick_ms, clock.now) if links else None
    talk_to = None
    if is_twin(plan, nation):
        talk_to = twin_half([n for n in genesis.codes if n != nation], args.twin)
    transport = Transport(url, topics, nation, genesis.codes, limits=limits, shim=shim,
                          faults=faults, talk_to=talk_to,
                          status_topic=twin_status_topic(genesis.chain_id, nation)
                          if args.twin else None)
    runtime = LiveRuntime(node, transport, clock, args.data,
                          **({} if args.snapshot_every is None
                             else {"snapshot_every": max(0, args.snapshot_every)}))
    if args.metrics_port is not None:
        from nodes.live.metrics import serve_metrics
        port = serve_metrics(runtime, args.metrics_port)
        (args.data / "metrics.port").write_text(f"{port}\n")
        logging.getLogger("chemtrace.live").info("%s metrics on http://127.0.0.1:%d/metrics",
                                                 nation, port)
    logging.getLogger("chemtrace.live").info(
        "%s starting at height %d on %s:%d (chain %s, tick %s ms; state from the snapshot at "
        "height %d, %d blocks replayed, store opened in %.3f s)", nation,
        node.ledger.height + 1, url.host, url.port, genesis.chain_id, args.tick_ms,
        node.restored_from, node.ledger.height - node.restored_from,
        time.perf_counter() - opening)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.stop.set)
        watcher = None
        if args.parent_pid is not None:
            watcher = asyncio.create_task(_stop_when_orphaned(args.parent_pid, runtime.stop))
        try:
            await runtime.run()
        finally:
            if watcher is not None:
                watcher.cancel()

    asyncio.run(main())
    logging.getLogger("chemtrace.live").info("%s stopped cleanly at height %d", nation,
                                             node.ledger.height)
    return ExitCode.OK


async def _stop_when_orphaned(parent_pid: int, stop: asyncio.Event) -> None:
    """Set `stop` once `parent_pid` is no longer this process's parent: the driver that started
    us died without stopping us (SIGKILL), and we were handed to another parent."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            logging.getLogger("chemtrace.live").warning(
                "parent process %d is gone: stopping", parent_pid)
            stop.set()
            return
        await asyncio.sleep(PARENT_CHECK_S)


# ---------------------------------------------------------------- chemtrace cluster


def _live_scenario(args: argparse.Namespace):
    """The scenario of `args.scenario`, with `--duration-s` turned into ticks_max."""
    from scenarios.spec.loader import load_scenario

    scenario = load_scenario(args.scenario)
    if args.duration_s is not None:
        scenario = scenario.with_overrides(
            ticks_max=max(1, int(args.duration_s * 1000 / args.tick_ms)))
    return scenario


def cmd_cluster(args: argparse.Namespace) -> ExitCode:
    from nodes.live.brokerconf import BrokerError

    from scenarios.cli.output import (expectation_failure, new_run_folder, run_with_progress,
                                      stderr_console, summary_table)
    from scenarios.cluster.driver import ClusterError, LiveCluster
    from scenarios.spec.loader import ScenarioError
    from scenarios.trade.workload import TradeError

    console = human_console(args)
    err = stderr_console()
    try:
        scenario = _live_scenario(args)
        credentials = None
        if args.credentials is not None:
            credentials = _read_json(args.credentials, CREDENTIALS_FILE_BYTES_MAX, "credentials")
        out = args.out or new_run_folder(Path("runs"), f"{Path(args.scenario).stem}-live")
        cluster = LiveCluster(scenario, out, args.broker, tick_ms=args.tick_ms,
                              credentials=credentials, sync=args.sync, clean=args.clean,
                              network=args.network, metrics_port=args.metrics_port)
        if cluster.cleaned:
            console.print(f"{out}: started clean: deleted another run's "
                          f"{', '.join(cluster.cleaned)}")
    except (ScenarioError, ClusterError, TradeError, ValueError) as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    title = f"{scenario.name} live, {len(cluster.nations)} nodes"
    try:
        if args.view and not args.quiet:
            from scenarios.cluster.view import live_view_progress
            live, progress = live_view_progress(console, cluster, title)
            with live:
                summary = cluster.run(progress)
        else:
            summary = run_with_progress(console, args.quiet, title, scenario.ticks_max,
                                        cluster.run)
    except (ClusterError, BrokerError) as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        err.print("interrupted: every node and the broker were stopped")
        return ExitCode.INTERRUPTED
    summary = summary.replace(reproduce=(
        f"chemtrace cluster {args.scenario} --broker {args.broker} --tick-ms {args.tick_ms} "
        f"--duration-s {scenario.ticks_max * args.tick_ms / 1000:g}"
        + (f" --network {args.network}" if args.network != "auto" else "")))
    (out / "summary.json").write_text(
        json.dumps(summary.to_json(), indent=2, sort_keys=True) + "\n")
    from scenarios.report.run import write_report  # the same report as a simulated run's
    write_report(cluster, summary, out / "report.html")
    if args.json:
        print_json(summary.to_json())
    elif not args.quiet:
        console.print(summary_table(summary))
    console.print(f"wrote {out / 'summary.json'}, {out / 'report.html'} and "
                  f"{out / 'ledger.jsonl'}; node logs in "
                  f"{out / 'nodes'}")
    if summary.expect_ok:
        return ExitCode.OK
    for line in expectation_failure(summary):
        err.print(line, markup=False)
    return ExitCode.EXPECTATION_FAILED


def cmd_compare(args: argparse.Namespace) -> ExitCode:
    """Exit 0 when the runs agree (verdicts equal, domain figures over the transactions both
    committed equal or with a named cause), 1 when they do not, 2 for a bad scenario or
    set-up."""
    from rich.table import Table

    from nodes.live.brokerconf import BrokerError

    from scenarios.cli.output import new_run_folder, stderr_console
    from scenarios.cluster.compare import compare
    from scenarios.cluster.driver import ClusterError
    from scenarios.spec.loader import ScenarioError
    from scenarios.trade.workload import TradeError

    console = human_console(args)
    err = stderr_console()
    try:
        scenario = _live_scenario(args)
        out = args.out or new_run_folder(Path("runs"), f"{Path(args.scenario).stem}-compare")
        with console.status(f"{scenario.name}: simulated, then live..."):
            result = compare(scenario, out, tick_ms=args.tick_ms, network=args.network)
    except (ScenarioError, ClusterError, TradeError, BrokerError, ValueError) as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    (out / "comparison.json").write_text(json.dumps(result.to_json(), indent=2,
                                                    sort_keys=True, default=str) + "\n")
    if args.json:
        print_json(result.to_json())
    else:
        table = Table(title=f"{scenario.name}: simulated against live (tick {args.tick_ms:g} "
                            f"ms; {result.common_txs} txs committed in both, "
                            f"{result.sim_only_txs} sim only, {result.live_only_txs} live only)")
        for column in ("figure", "simulated", "live", "", "cause of the difference"):
            table.add_column(column)
        for row in result.rows:
            mark = "=" if row["equal"] else ("!" if row["judged"] and not row["cause"] else "~")
            table.add_row(row["figure"], str(row["sim"]), str(row["live"]), mark, row["cause"])
        console.print(table)
        console.print(f"{'agree' if result.agrees else 'DISAGREE'}: verdicts and domain "
                      f"figures over the common transactions; wrote {out / 'comparison.json'}")
    return ExitCode.OK if result.agrees else ExitCode.EXPECTATION_FAILED


def cmd_bench_live(args: argparse.Namespace) -> ExitCode:
    from rich.table import Table

    from scenarios.bench.live import run_bench_live

    console = human_console(args)
    sections = tuple(args.only or BENCH_LIVE_SECTIONS)
    with console.status(f"running {', '.join(sections)}..."):
        result = run_bench_live(quick=args.quick, sections=sections,
                                restart_sizes=args.restart_sizes)
    table = Table(title=f"chemtrace bench-live ({'quick' if args.quick else 'full'})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for n, r in result.get("throughput", {}).items():
        table.add_row(f"{n} nations: committed txs per second (after warm-up / whole run)",
                      f"{r['txs_per_s']:,.0f} / {r['txs_per_s_whole_run']:,.0f}")
        table.add_row(f"{n} nations: offered txs per second", f"{r['offered_txs_per_s']:,.0f}")
        table.add_row(f"{n} nations: heights, txs committed",
                      f"{r['heights']:,}, {r['txs_committed']:,}")
    if "recovery" in result:
        table.add_row("recovery after SIGKILL (s, restart to cluster height)",
                      f"{result['recovery']['recovery_s']}")
    if "tcp_nodelay" in result:
        ping = result["tcp_nodelay"]
        table.add_row("QoS 1 round trip median ms, TCP_NODELAY on / off",
                      f"{ping['median_ms_nodelay']} / {ping['median_ms_without']}")
    for row in result.get("restart", {}).get("sizes", ()):
        table.add_row(f"restart, {row['txs']:,} txs ({row['blocks']} blocks): node ready s, "
                      f"snapshot / full replay",
                      f"{row['snapshot_ready_s']:.2f} / {row['replay_ready_s']:.2f}")
    if args.json:
        print_json(result)
    else:
        console.print(table)
    if args.json_file:
        write_json_file(result, args.json_file)
        console.print(f"wrote {args.json_file}")
    return ExitCode.OK
