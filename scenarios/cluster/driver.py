"""`chemtrace cluster`: a scenario file run on live nodes, one `chemtrace node` process a nation.

Theory of operation
-------------------

`LiveCluster` is a `World` whose nations are processes: its `ProcessFleet` (a
`scenarios.sim.fleet.Fleet`) starts, kills and wipes them when the world says so. It keeps
everything of the simulated world that is not the network or the nodes: the scenario, the trade
workload and the payload client load (the same generators, drawing from the same seeded
streams), the event queue for submissions, trade steps, crashes and restarts, and at the end the
same oracles and the same `summary()`. It uses only the world's public interface (`begin`,
`run_due`, `next_due`, `record_commit`, `finish`, `workload`). What changes:

- keys, genesis and broker credentials are made fresh in the output folder (`keys/`,
  `genesis.json`, `broker/`) with `nodes.live.keyfile` and `nodes.live.brokerconf`;
- `--broker spawn` starts a private Mosquitto on a free loopback port; a URL uses a broker that
  is already running (the URL's user is the driver's, normally `operator`);
- the clock is the wall clock: tick t is `epoch + t * tick_ms`. Nodes get the same epoch and
  tick length, so event times the driver stamps and block times nodes propose agree. The epoch
  is set a start-up allowance ahead, so every node is connected before tick 0;
- a `RemoteNode` stands in for each running process: `submit()` buffers the transaction, and
  the driver publishes each nation's buffer as one TXS message on `submit/<NATION>` every
  `SUBMIT_EVERY_S` (batches, never one MQTT message per transaction);
- a crash is SIGKILL of the process, a restart starts it again on the same data folder (or an
  emptied one with `wipe = true`); a partition is the transport filter each node gets on
  `control/<NATION>` (retained, so a node restarted mid-partition gets it too), computed from
  the scenario with the simulated world's own `Network.blocked`;
- the driver follows the run through the nodes' retained status (their commits with ticks) and
  the proposals on `<NATION>/msg` (the blocks' contents), so trade steps follow commits as in
  the simulation.

At the end the driver stops every node with SIGTERM; each writes its ledger (`ledger.export`).
The driver reads them and replays every nation's commits, in the order of their commit ticks,
through `World.record_commit`: the safety oracle (agreement, validity of certificates and
signatures, integrity), the custody oracle and liveness judge the live run exactly as they judge
a simulated one. The summary gets a `live` section on top (per-node status, restarts, drops).

Everything started is stopped on the way out (try/finally, plus an atexit hook for the
processes), even after Ctrl-C. Nodes run in their own process groups so a Ctrl-C reaches the
driver alone, which then stops them in order. A driver killed outright (SIGKILL) runs none of
that: each node is started with `--parent-pid` and stops cleanly by itself once the driver is
gone (the private broker is left running, idle; its folder names it).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import aiomqtt

from nodes import Committed, Genesis, GenesisNation, Identity, Transaction
from nodes.app.privacy import RECORD_BYTES_MAX
from nodes.live.brokerconf import free_port, spawn_broker, twin_login, write_broker_config
from nodes.live.private import RecordCourier
from nodes.live.keyfile import key_path, make_key_dir, write_key
from nodes.live.runtime import LEDGER_EXPORT, TickClock, read_ledger_export
from nodes.live.transport import NODELAY_OPTION, BrokerUrl, Topics
from nodes.wire.messages import TXS_PER_MESSAGE_MAX, WireError, decode, encode_txs

from nodes.live.shim import LinkParams

from scenarios.assemble import trade_workload
from scenarios.faults.live import byzantine_behaviours, fault_plan, refusal
from scenarios.spec.loader import Scenario
from scenarios.sim.network import GLOBAL_DEFAULTS, Network
from scenarios.sim.rng import Streams
from scenarios.sim.summary import RunSummary
from scenarios.sim.world import TWIN, World

NETWORK_MODES = ("auto", "on", "off")
STARTUP_S = 4.0  # node processes import, load the registry and connect in this time
SUBMIT_EVERY_S = 0.05
LOOP_SLEEP_S_MAX = 0.01
STOP_TIMEOUT_S = 15.0
CANONICAL_GAP_S_MAX = 5.0
PROPOSALS_KEPT_MAX = 256  # blocks of up to 2,000 txs each: a few hundred MB at most
DEFAULT_TICK_MS = 2.0
NODE_CONFIG_KEYS = ("timeout_propose_base_ticks", "timeout_propose_delta_ticks",
                    "timeout_prevote_base_ticks", "timeout_prevote_delta_ticks",
                    "timeout_precommit_base_ticks", "timeout_precommit_delta_ticks",
                    "rebroadcast_ticks", "block_txs_max")
PROPOSAL_PREFIX = b"\x97\x01"  # msgpack: an array of 7 whose first field is kind 1 (PROPOSAL)


def _network_set(network: dict) -> bool:
    """Whether a scenario's [network] asks for more than the defaults (a model of regions,
    links, changes, or other global values)."""
    return (network.get("model", "uniform") != "uniform" or bool(network.get("link"))
            or bool(network.get("change"))
            or any(network.get(k, d) != d for k, d in GLOBAL_DEFAULTS.items()))


class ClusterError(RuntimeError):
    """The cluster cannot run this scenario or start; the message says why and what to do."""


# What a cluster run leaves in its folder that a later run must not pick up: the nodes' SQLite
# files and write-ahead records (nodes/), and the keys and genesis they were made under.
RUN_STATE = ("nodes", "keys", "genesis.json")


def _claim_out_dir(out_dir: Path, clean: bool) -> list[str]:
    """Refuse a folder holding another run's state, or with `clean` delete that state first.
    Each run makes fresh keys: nodes that reopened an earlier run's SQLite files would hold
    blocks signed under other keys (and report false safety violations). There is no resuming
    a finished run for that reason. Returns what was deleted."""
    found = [name for name in RUN_STATE if (out_dir / name).exists()]
    if not found:
        return []
    if not clean:
        raise ClusterError(
            f"{out_dir}: holds another run's state ({', '.join(found)}); its nodes would reopen "
            f"those SQLite files under this run's new keys. Leave --out out for a new folder "
            f"per run, choose another --out, or pass --clean to delete that state and start "
            f"clean (a finished run cannot be resumed: its keys are made fresh each run)")
    for name in found:
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


class RemoteNode:
    """What the world sees of a running node process (a `scenarios.sim.fleet.RunningNode`):
    `submit` buffers, for the driver to publish."""

    __slots__ = ("nation", "pending")

    def __init__(self, nation: str) -> None:
        self.nation = nation
        self.pending: list[Transaction] = []

    def start(self, now_ticks: int) -> list:
        return []  # the process starts itself

    def submit(self, tx: Transaction, now_ticks: int) -> list:
        self.pending.append(tx)
        return []

    def next_deadline(self) -> None:
        return None  # the process keeps its own timers


class ProcessFleet:
    """The cluster's nodes as `chemtrace node` processes: the `scenarios.sim.fleet.Fleet` the
    world starts, kills (SIGKILL) and wipes them through. It notes each kill and restart for
    the summary's `live.restarts`."""

    def __init__(self, cluster: LiveCluster) -> None:
        self.cluster = cluster
        self.wiped: set[str] = set()  # down, and its data folder removed

    def start(self, instance: str) -> RemoteNode:
        cluster = self.cluster
        for record in reversed(cluster.restarts):
            if record["nation"] == instance and "restart_tick" not in record:
                record.update(restart_tick=cluster.now, wipe=instance in self.wiped)
                break
        self.wiped.discard(instance)
        proc = cluster.procs.get(instance)
        if proc is None or proc.poll() is not None:
            cluster._spawn(instance)
        return RemoteNode(instance)

    def kill(self, instance: str) -> None:
        cluster = self.cluster
        proc = cluster.procs[instance]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cluster.restarts.append({"nation": instance, "killed_tick": cluster.now,
                                 "height_at_kill": cluster._height(instance)})

    def wipe(self, instance: str) -> None:
        shutil.rmtree(self.cluster.data_dir(instance), ignore_errors=True)
        self.wiped.add(instance)


class _ChainResults:
    """What PrivateLanes.verdicts reads of a commit: the shared chain's results."""

    def __init__(self, results: tuple) -> None:
        self.results = results


class LiveCluster(World):
    records_messages = False  # no per-message send and delivery ticks: no space-time diagram

    def __init__(self, scenario: Scenario, out_dir: Path, broker: str = "spawn", *,
                 tick_ms: float = DEFAULT_TICK_MS, credentials: dict[str, str] | None = None,
                 startup_s: float = STARTUP_S, block_txs_max: int | None = None,
                 sync: str = "FULL", clean: bool = False, network: str = "auto",
                 metrics_port: int | None = None, snapshot_every: int | None = None) -> None:
        """`network`: "on" applies the scenario's network model to the nodes' traffic through
        the transport's shim (nodes/live/shim.py), "off" leaves the broker's own, and "auto"
        applies it when the scenario's [network] differs from the defaults. `metrics_port`:
        each node serves Prometheus metrics on 127.0.0.1 from this port on, one port per node
        in nation order (0: each a free port). `snapshot_every`: the nodes' --snapshot-every
        (None: their default)."""
        reason = refusal(scenario)
        if reason is not None:
            raise ClusterError(f"{scenario.source}: cannot run on live nodes: {reason}. Run "
                               f"this scenario with chemtrace run")
        if network not in NETWORK_MODES:
            raise ClusterError(f"network {network!r}: use one of {', '.join(NETWORK_MODES)}")
        if broker != "spawn":
            BrokerUrl.parse(broker)  # a bad URL is the user's to fix before anything starts
        self.out_dir = Path(out_dir)
        self.cleaned = _claim_out_dir(self.out_dir, clean)  # another run's state, deleted
        self.broker_arg = broker
        self.snapshot_every = snapshot_every  # the nodes' --snapshot-every (None: default)
        self.tick_ms = tick_ms
        self.startup_s = startup_s
        self.given_credentials = credentials
        self.block_txs_max = block_txs_max
        self.sync = sync  # the nodes' SQLite synchronous mode (chemtrace node --sync)
        self.network_mode = network
        self.metrics_port = metrics_port
        self.metrics_ports: dict[str, int] = {}  # instance -> the port its node serves on
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts: list[dict] = []
        self.ledger_flags: list | None = None  # flags of the longest ledger, after the run
        super().__init__(scenario, trace_path=None,
                         workload=trade_workload(scenario, self.out_dir / "ledger.jsonl"),
                         fleet=ProcessFleet(self), make_genesis=self._fresh_genesis)
        self.topics = Topics(self.genesis.chain_id)
        # A private mode: the nations' records offices send each record on its recipients'
        # private topics (nodes/live/private.py), and a trail granted on the chain to an
        # oversight nation (oversight_access = "on_flag") on its topic; salts come from the OS.
        self.lanes = getattr(self.workload, "private", None)
        self.courier: RecordCourier | None = None
        if self.lanes is not None:
            self.lanes.randbytes = os.urandom
            self.lanes.courier = self._send_record
            # The lanes check their records as each block becomes canonical, as in the
            # simulated world (a receipt's opening and a PEN reply depend on it); the replay
            # in _judge gets the same verdicts back.
            self.lanes.verdict_memo = {}
            self._chain_view = self.workload.new_chaincode()
        self.network_applied = network == "on" or (network == "auto"
                                                   and _network_set(scenario.network))
        self._write_fault_plans()
        self.exit_codes: dict[str, int] = {}  # of the last process of each nation
        self.status: dict[str, dict] = {}
        # nation -> height -> (tick, via, block id hex), from the nodes' statuses
        self.commit_ticks: dict[str, dict[int, tuple[int, str, str]]] = {
            n: {} for n in self.nations}
        self.canonical_ids: dict[int, str] = {}
        self.proposed: dict[str, object] = {}
        self._proposal_digests: dict[int, None] = {}  # insertion-ordered, bounded
        # nation -> (offender, height, round, step) -> record, from every status seen
        self._evidence_seen: dict[str, dict[tuple, dict]] = {}
        self._next_canonical = 1
        self._gap_since: float | None = None
        self.canonical_skipped = 0
        self.broker = None
        self.broker_url: BrokerUrl | None = None
        self.epoch_s = 0.0
        self._filters: dict[str, tuple[str, ...]] = {}
        self._client: aiomqtt.Client | None = None
        self._ended = False
        self._interrupted = False  # Ctrl-C seen by the run loop (see _run_async)
        self._status_log = None  # status.jsonl: every status a node published, for post-mortems
        atexit.register(self._kill_all)

    # ------------------------------------------------------------ set-up

    def _fresh_genesis(self, powers: list[tuple[str, int]]
                      ) -> tuple[Genesis, dict[str, Identity]]:
        """Fresh keys, written owner-only to keys/, and a genesis in genesis.json."""
        keys_dir = make_key_dir(self.out_dir / "keys")
        identities = {}
        for code, _ in powers:
            identities[code] = Identity.generate(code)
            write_key(key_path(keys_dir, code), code, identities[code], overwrite=True)
        chain_id = "".join(c if c.isalnum() or c in "._-" else "-"
                           for c in self.scenario.name)[:64] or "chemtrace-live"
        genesis = Genesis(chain_id, tuple(GenesisNation(c, identities[c].public_key, p)
                                          for c, p in powers))
        (self.out_dir / "genesis.json").write_text(genesis.to_json() + "\n")
        return genesis, identities

    def _write_fault_plans(self) -> None:
        """faults/<NATION>.json for each nation whose node installs behaviours or whose
        inbound links the network model changes (`scenarios.faults.live.fault_plan`)."""
        folder = self.out_dir / "faults"
        shutil.rmtree(folder, ignore_errors=True)
        self.fault_plans: dict[str, Path] = {}
        model = Network(self.scenario.network, (), self.nations,
                        Streams(self.scenario.seed).get("network")) \
            if self.network_applied else None
        # Every tick at which a [[network.change]] starts new settings, from tick 0.
        starts = sorted({0} | {c["at_tick"] for c in self.scenario.network.get("change") or ()})
        for dst in self.nations:
            links = {}
            if model is not None:
                for src in self.nations:
                    if src == dst:
                        continue
                    epochs = []
                    for first in starts:
                        s = model.link(src, dst, first)
                        params = LinkParams(s.latency_ticks, s.jitter_ticks, s.loss_probability,
                                            s.duplicate_probability, s.reorder_probability)
                        if not epochs or epochs[-1][1] != params:
                            epochs.append((first, params))
                    if not all(params.idle for _, params in epochs):
                        links[src] = tuple(epochs)
            if not links and not byzantine_behaviours(self.scenario, dst):
                continue
            folder.mkdir(exist_ok=True)
            path = self.fault_plans[dst] = folder / f"{dst}.json"
            path.write_text(json.dumps(fault_plan(self.scenario, dst, list(self.honest), links),
                                       indent=2, sort_keys=True) + "\n")

    def _node_config_file(self) -> Path:
        config = {k: self.scenario.consensus[k] for k in NODE_CONFIG_KEYS
                  if k in self.scenario.consensus}
        if self.block_txs_max is not None:
            config["block_txs_max"] = self.block_txs_max
        path = self.out_dir / "node-config.json"
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return path

    def _start_broker(self) -> None:
        if self.broker_arg == "spawn":
            config = write_broker_config(self.genesis, self.out_dir / "broker", port=free_port(),
                                         twins=tuple(sorted(self.twinned)))
            self.broker = spawn_broker(config)
            self.credentials = dict(config.credentials)
            self.broker_url = BrokerUrl(config.host, config.port)
            self.driver_user = "operator"
        else:
            url = BrokerUrl.parse(self.broker_arg)
            self.credentials = dict(self.given_credentials or {})
            self.broker_url = BrokerUrl(url.host, url.port)
            self.driver_user = url.username
            if url.username is not None:
                self.credentials.setdefault(url.username, url.password or "")

    def _node_url(self, login: str) -> str:
        u = self.broker_url
        password = self.credentials.get(login)
        if password is None:
            return f"mqtt://{u.host}:{u.port}"
        return f"mqtt://{login}:{password}@{u.host}:{u.port}"

    # ------------------------------------------------------------ processes

    def data_dir(self, instance: str) -> Path:
        """The data folder of `instance`'s node (a twin's: nodes/<NATION>-twin)."""
        nation = instance.rstrip(TWIN)
        return self.out_dir / "nodes" / (nation if instance == nation else f"{nation}-twin")

    def _spawn(self, instance: str) -> None:
        """Start the node process of `instance`: a nation, or "NATION~", the second instance
        of a twinned nation (same key, its own login and data folder, `--twin`)."""
        nation = instance.rstrip(TWIN)
        twin = instance != nation
        data = self.data_dir(instance)
        data.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-c", "from scenarios.cli.main import main; raise SystemExit(main())",
                "node", "--genesis", str(self.out_dir / "genesis.json"),
                "--key", str(key_path(self.out_dir / "keys", nation)),
                "--broker", self._node_url(twin_login(nation) if twin else nation),
                "--data", str(data),
                "--tick-ms", str(self.tick_ms), "--epoch-s", repr(self.epoch_s),
                "--config", str(self.out_dir / "node-config.json"), "--sync", self.sync,
                "--parent-pid", str(os.getpid())]
        if nation in self.fault_plans:
            argv += ["--faults", str(self.fault_plans[nation])]
        if twin:
            argv.append("--twin")
        if self.metrics_port is not None:
            if instance not in self.metrics_ports:
                self.metrics_ports[instance] = (0 if self.metrics_port == 0 else
                                                self.metrics_port + len(self.metrics_ports))
            argv += ["--metrics-port", str(self.metrics_ports[instance])]
        if self.snapshot_every is not None:
            argv += ["--snapshot-every", str(self.snapshot_every)]
        log = (data / "node.log").open("ab")
        try:
            # Own session: a Ctrl-C in the terminal reaches the driver only, which stops the
            # nodes itself, in order.
            self.procs[instance] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL,
                                                  start_new_session=True)
        finally:
            log.close()

    def _height(self, nation: str) -> int:
        return max(self.commit_ticks.get(nation, {}), default=0)

    def _stop_all(self) -> None:
        """SIGTERM every node, wait for each to export its ledger; SIGKILL the stubborn."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for nation, proc in self.procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.exit_codes.setdefault(nation, proc.returncode)

    def _kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    # ------------------------------------------------------------ the run

    def run(self, progress: Callable[[int, int], None] | None = None) -> RunSummary:
        started = time.perf_counter()
        try:
            self._start_broker()
            self._node_config_file()
            try:
                asyncio.run(self._run_async(progress))
            except asyncio.CancelledError:
                if self._interrupted:
                    raise KeyboardInterrupt from None
                raise
        finally:
            self._stop_all()
            self._kill_all()
            atexit.unregister(self._kill_all)
        self.wall_s = time.perf_counter() - started
        return self._judge()

    def on_tick(self, now_ticks: int) -> None:
        """Called once a loop turn: tests hook faults outside the scenario language here
        (a broker restart)."""

    async def _run_async(self, progress) -> None:
        url = self.broker_url
        self.epoch_s = time.time() + self.startup_s
        self.clock = TickClock(self.tick_ms, self.epoch_s)
        ticks_max = self.scenario.ticks_max
        client = aiomqtt.Client(url.host, url.port, username=self.driver_user,
                                password=self.credentials.get(self.driver_user or ""),
                                identifier=f"chemtrace-driver-{os.getpid()}", keepalive=10,
                                socket_options=(NODELAY_OPTION,))
        listener: asyncio.Task | None = None
        self._client = client
        self._status_log = (self.out_dir / "status.jsonl").open("w")
        loop = asyncio.get_running_loop()
        # Ctrl-C: asyncio.run's own handler only cancels this task, and Python 3.11's
        # asyncio.wait_for (inside aiomqtt's QoS 1 publish) can swallow a cancellation that
        # lands as the PUBACK arrives; the run then went on to its end. A flag the loop reads
        # every turn cannot be lost.
        sigint = self._on_sigint_handler(asyncio.current_task())
        if sigint:
            loop.add_signal_handler(signal.SIGINT, sigint)
        try:
            await self._connect(client)
            for nation in self.nations:
                # A filter retained by an earlier run on the same broker must not cut this one.
                await client.publish(self.topics.control(nation), b'{"drop_from": []}', qos=1,
                                     retain=True)
            listener = asyncio.create_task(self._listen(client))
            if self.lanes is not None:
                await self._start_courier()
            self.begin(ticks_max)  # spawns the nodes
            await self._wait_for_nodes()
            last_submit = 0.0
            while True:
                if self._interrupted:
                    raise asyncio.CancelledError
                now = self._tick()
                if now >= ticks_max:
                    break
                self.run_due(now)
                self.now = now
                self._apply_partitions(now)
                self.on_tick(now)
                if loop.time() - last_submit >= SUBMIT_EVERY_S:
                    await self._flush_submissions(client)
                    last_submit = loop.time()
                self._follow_canonical()
                if progress is not None:
                    progress(now, ticks_max)
                next_at = self.next_due(ticks_max)
                sleep_s = min(LOOP_SLEEP_S_MAX, max(0.0, (next_at - self._tick())
                                                   * self.tick_ms / 1000))
                await asyncio.sleep(sleep_s)
            self.now = ticks_max
            await self._flush_submissions(client)
            if progress is not None:
                progress(ticks_max, ticks_max)
        finally:
            if sigint:
                loop.remove_signal_handler(signal.SIGINT)
            self._ended = True
            if self.courier is not None:
                await self.courier.close()
            await asyncio.to_thread(self._stop_all)
            await asyncio.sleep(0.2)  # the last retained statuses
            if listener is not None:
                listener.cancel()
                try:
                    await listener
                except (asyncio.CancelledError, aiomqtt.MqttError):
                    pass
            try:
                await client.__aexit__(None, None, None)
            except aiomqtt.MqttError:
                pass
            self._status_log.close()
            self._status_log = None

    def _send_record(self, filer: str, recipient: str, record: bytes) -> None:
        """PrivateLanes' courier: `filer`'s records office sends `record` to `recipient`'s."""
        if self.courier is None:
            raise ClusterError("a private record was filed before the records offices "
                               "connected")
        self.courier.send(filer, recipient, record)

    async def _start_courier(self) -> None:
        url = self.broker_url
        try:
            self.courier = RecordCourier(url.host, url.port, self.genesis.chain_id,
                                         tuple(self.nations), self.credentials,
                                         self.lanes.receive, RECORD_BYTES_MAX)
            await self.courier.start()
        except ValueError as exc:
            raise ClusterError(f"[privacy] mode = \"{self.lanes.mode}\" live needs each "
                               f"nation's records login: {exc} (with --broker spawn they are "
                               f"made; for a broker of yours, pass the credentials "
                               f"chemtrace broker-config wrote)") from None
        except TimeoutError:
            raise ClusterError(f"the records offices could not connect to the broker at "
                               f"{url.host}:{url.port} within 10 s") from None

    def _on_sigint_handler(self, task: asyncio.Task | None) -> Callable[[], None] | None:
        """What the loop runs on SIGINT: note it, and cancel the run's task. None where a loop
        cannot take signals (not the main thread), which keeps asyncio.run's own handler."""
        if task is None or threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint() -> None:
            self._interrupted = True
            task.cancel()
        return on_sigint

    async def _connect(self, client: aiomqtt.Client) -> None:
        deadline = time.monotonic() + 10.0
        while True:
            try:
                await client.__aenter__()
                break
            except aiomqtt.MqttError as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(f"cannot reach the broker at {self.broker_url.host}:"
                                       f"{self.broker_url.port}: {exc}") from None
                await asyncio.sleep(0.2)
        root = self.topics.root
        topics = [(f"{root}/+/status", 1), (f"{root}/+/msg", 1)]
        if self.byzantine:
            # A Byzantine node may send its proposals peer by peer (an equivocator's two
            # versions, a twin's halves): the driver must see those blocks too.
            topics.append((f"{root}/+/to/+", 1))
        await client.subscribe(topics)

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Statuses and proposals; reconnects (and resubscribes) when the broker goes away."""
        while not self._ended:
            try:
                async for message in client.messages:
                    self._on_message(str(message.topic), message.payload)
            except aiomqtt.MqttError:
                if self._ended:
                    return
                while not self._ended:
                    try:
                        await client.__aexit__(None, None, None)
                    except aiomqtt.MqttError:
                        pass
                    try:
                        await self._connect(client)
                        break
                    except ClusterError:
                        await asyncio.sleep(0.5)

    def _on_message(self, topic: str, payload: object) -> None:
        parsed = self.topics.parse(topic)
        if parsed is None or not isinstance(payload, (bytes, bytearray)):
            return
        channel, nation = parsed
        if channel in ("msg", "to"):
            if bytes(payload[:2]) == PROPOSAL_PREFIX and self._seen_proposal(payload):
                try:
                    proposal = decode(self.genesis.chain_id, bytes(payload))
                except WireError:
                    return
                block = proposal.value
                if block.height < self._next_canonical:
                    return  # the trade has already moved past this height
                self.proposed[block.block_id.hex()] = block
                if len(self.proposed) > PROPOSALS_KEPT_MAX:
                    self.proposed.pop(next(iter(self.proposed)))
            return
        if channel != "status" or nation not in self.commit_ticks:
            return
        try:
            status = json.loads(payload)
            commits = status["commits"]
        except (ValueError, KeyError, TypeError):
            return
        self.status[nation] = status
        # Every record of every status: one status carries 64 at most.
        kept = self._evidence_seen.setdefault(nation, {})
        for ev in status.get("evidence", []) + status.get("evidence_new", []):
            try:
                kept.setdefault((ev["nation"], ev["height"], ev["round"], ev["step"]), ev)
            except (KeyError, TypeError):
                continue
        if self._status_log is not None:
            self._status_log.write(json.dumps(status, sort_keys=True) + "\n")
        for height, tick, via, block_id in commits:
            self.commit_ticks[nation].setdefault(height, (tick, via, block_id))
            self.canonical_ids.setdefault(height, block_id)

    def _seen_proposal(self, payload: bytes) -> bool:
        """False for the same bytes seen again (a proposal sent peer by peer comes once a
        peer): decoding them again would cost a block's decoding each."""
        if self.byzantine:
            digest = hash(bytes(payload))
            if digest in self._proposal_digests:
                return False
            self._proposal_digests[digest] = None
            if len(self._proposal_digests) > 4 * PROPOSALS_KEPT_MAX:
                self._proposal_digests.pop(next(iter(self._proposal_digests)))
        return True

    async def _wait_for_nodes(self) -> None:
        """Until every started node has published a status, or the epoch plus a margin."""
        deadline = self.epoch_s + 30.0
        while time.time() < deadline:
            # A twin's second instance publishes its status elsewhere (nodes/live/brokerconf.py
            # twin_status_topic): the first instance's stands for the nation.
            if all(n in self.status for n in self.procs if TWIN not in n):
                return
            for nation, proc in self.procs.items():
                if proc.poll() is not None:
                    log = self.data_dir(nation) / "node.log"
                    raise ClusterError(f"the node of {nation} exited with code "
                                       f"{proc.returncode} at start-up; see {log}")
            await asyncio.sleep(0.05)
        missing = sorted(n for n in self.procs if n not in self.status and TWIN not in n)
        raise ClusterError(f"no status from {', '.join(missing)} within 30 s; see "
                           f"{self.out_dir / 'nodes'}/<NATION>/node.log")

    def _tick(self) -> int:
        return self.clock.now()

    async def _flush_submissions(self, client: aiomqtt.Client) -> None:
        for nation, node in self.nodes.items():
            if node is None or not node.pending:
                continue
            txs, node.pending = node.pending, []
            for start in range(0, len(txs), TXS_PER_MESSAGE_MAX):
                chunk = tuple(txs[start:start + TXS_PER_MESSAGE_MAX])
                try:
                    await client.publish(self.topics.submit(nation), encode_txs(nation, chunk),
                                         qos=1)
                except aiomqtt.MqttError:
                    pass  # the broker is away: the trade workload files its events again later

    def _apply_partitions(self, now: int) -> None:
        if not self.scenario.partitions:
            return
        for dst in self.nations:
            drop_from = tuple(src for src in self.nations
                              if src != dst and self.network.blocked(src, dst, now))
            if self._filters.get(dst, ()) != drop_from:
                self._filters[dst] = drop_from
                self._publish_soon(self.topics.control(dst),
                                   json.dumps({"drop_from": list(drop_from)}).encode())

    def _publish_soon(self, topic: str, payload: bytes) -> None:
        client = self._client

        async def send() -> None:
            try:
                await client.publish(topic, payload, qos=1, retain=True)
            except aiomqtt.MqttError:
                self._filters.clear()  # send every filter again next turn
        asyncio.get_running_loop().create_task(send())

    def _follow_canonical(self) -> None:
        """Advance the trade on each newly canonical block, in height order."""
        while True:
            block_id = self.canonical_ids.get(self._next_canonical)
            block = self.proposed.get(block_id) if block_id is not None else None
            if block is None:
                if block_id is not None:
                    self._gap_since = self._gap_since or time.monotonic()
                    if time.monotonic() - self._gap_since > CANONICAL_GAP_S_MAX:
                        # The proposal was lost (a broker restart); the oracles still read the
                        # block from the ledgers at the end.
                        self.canonical_skipped += 1
                        self._next_canonical += 1
                        self._gap_since = None
                        continue
                return
            self._gap_since = None
            if self.lanes is not None:
                self._lanes_verdicts(block)
            self.workload.on_chain(block)
            self._next_canonical += 1
            for stale in [k for k, b in self.proposed.items()
                          if b.height < self._next_canonical]:
                del self.proposed[stale]

    def _lanes_verdicts(self, block) -> None:
        """The lane members check the records of `block`'s envelopes, against the shared
        chain's own results (a chaincode the driver keeps, fed the canonical blocks in order)."""
        chain = self._chain_view
        chain.begin_block(block.time_ticks)
        results = tuple(chain.apply_tx(tx, block.time_ticks) for tx in block.txs)
        self.lanes.verdicts(block, _ChainResults(results))

    # ------------------------------------------------------------ the verdict

    def _judge(self) -> dict:
        """Read every node's ledger and replay its commits through the World's oracles."""
        ledgers = self.ledgers = {}  # kept for the sim-to-real comparison
        for nation in self.nations:
            path = self.out_dir / "nodes" / nation / LEDGER_EXPORT
            ledgers[nation] = read_ledger_export(path, self.genesis.chain_id) \
                if path.exists() else []
        entries = []
        end = self.scenario.ticks_max
        for nation, blocks in ledgers.items():
            ticks = self.commit_ticks[nation]
            later = end
            for committed in reversed(blocks):
                h = committed.block.height
                tick, via, _ = ticks.get(h, (later, "unknown", None))
                later = min(later, tick)
                entries.append((tick, h, nation, via, committed))
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        results = self._canonical_results(ledgers)
        for tick, height, nation, via, committed in entries:
            self.now = tick
            flags, res = results.get(committed.block.block_id, ((), ()))
            self.record_commit(nation, Committed(committed, via, res, flags))
        self.now = end
        # for the report's messages plot: what each node published, by its own count
        self.sent_by_nation = {n: s.get("published", 0) for n, s in sorted(self.status.items())}
        self.messages_sent = sum(s.get("published", 0) for s in self.status.values())
        self.messages_delivered = sum(s.get("received", 0) for s in self.status.values())
        self.bytes_sent = sum(s.get("bytes_published", 0) for s in self.status.values())
        self.dropped = {}
        seen = set()
        for nation, s in sorted(self.status.items()):
            for reason, count in s.get("dropped", {}).items():
                self.dropped[reason] = self.dropped.get(reason, 0) + count
        for nation, records in sorted(self._evidence_seen.items()):
            for key, ev in records.items():
                if key not in seen:
                    seen.add(key)
                    self.evidence.append({"kind": "equivocation", **ev, "seen_by": nation})
        summary = self.summary()
        self.finish()
        # a live run has no deterministic trace
        return summary.replace(trace_sha256=None, trace_lines=0, live=self._live_section(ledgers))

    def _canonical_results(self, ledgers: dict) -> dict:
        """Flags and per-tx results of each block of the longest ledger, through one fresh
        chaincode (the nodes' own outputs are not trusted)."""
        longest = max(ledgers.values(), key=len, default=[])
        chaincode = self.workload.new_chaincode()
        out = {}
        for committed in longest:
            block = committed.block
            flags = tuple(chaincode.begin_block(block.time_ticks))
            res = tuple(chaincode.apply_tx(tx, block.time_ticks) for tx in block.txs)
            out[block.block_id] = (flags, res)
        self.ledger_flags = list(chaincode.state.flags)  # the report's flags table
        return out

    def _live_section(self, ledgers: dict) -> dict:
        recoveries = []
        for r in self.restarts:
            if "restart_tick" not in r:
                continue
            target = r["height_at_kill"]
            # Back at the cluster's height: the first commit at or above the highest height
            # any other nation had committed when the node came back.
            others = [h for n, ticks in self.commit_ticks.items() if n != r["nation"]
                      for h, (t, _, _) in ticks.items() if t <= r["restart_tick"]]
            target = max(others, default=target)
            back = [t for h, (t, _, _) in self.commit_ticks[r["nation"]].items()
                    if h >= target and t >= r["restart_tick"]]
            recoveries.append({**r, "cluster_height_at_restart": target,
                               "recovered_tick": min(back) if back else None,
                               "recovery_s": round((min(back) - r["restart_tick"])
                                                   * self.tick_ms / 1000, 3) if back else None})
        return {
            "tick_ms": self.tick_ms,
            "broker": "spawn" if self.broker_arg == "spawn" else
                      f"{self.broker_url.host}:{self.broker_url.port}",
            "chain_id": self.genesis.chain_id,
            "ledger_heights": {n: len(b) for n, b in sorted(ledgers.items())},
            "exit_codes": dict(sorted(self.exit_codes.items())),
            "restarts": recoveries,
            "canonical_blocks_not_seen_live": self.canonical_skipped,
            # private records over the broker (a private mode): what the offices sent,
            # received and dropped before any check against the chain
            **({"private_records": self.courier.summary()} if self.courier else {}),
            # what the nodes installed from their fault plans (scenarios/faults/live.py)
            "network_model": self.network_applied,
            "behaviours_in_nodes": {
                n: kinds for n in sorted(self.fault_plans)
                if (kinds := [str(b.kind) for b in byzantine_behaviours(self.scenario, n)])},
            "nodes": {n: {k: s.get(k) for k in ("height", "started_height", "round", "step",
                                                 "locked_round", "backlog", "turn_ms_max",
                                                 "dropped", "published",
                                                 "received", "reconnects", "connections",
                                                 "resends", "mempool", "snapshot")}
                      for n, s in sorted(self.status.items())},
        }
