"""Live clusters end to end: `chemtrace node` processes through a real Mosquitto, started by
`chemtrace cluster` (or `LiveCluster`) on a free loopback port with the generated configuration.

Short ticks (2 ms) keep each run to a few seconds of wall time; the scenario's ticks are the
same units as in the simulated world.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mqtt_helpers import FOUR, require_mosquitto
from scenarios.cli.main import main
from scenarios.cluster.driver import ClusterError, LiveCluster
from scenarios.spec.loader import load_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"



def scenario_file(tmp_path: Path, name: str, ticks: int, extra: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    # The liveness window runs from the last fault's end to the end of the run, so that a
    # short live run is judged (a longer window would leave it "not judged").
    healed = max((int(t) for t in re.findall(r"until_tick = (\d+)", extra)), default=0)
    path.write_text(FOUR.format(name=name, seed=5, ticks=ticks, extra=extra,
                                window=ticks - healed))
    return path


def ledger_ids(summary_dir: Path, cluster: LiveCluster, nation: str) -> dict[int, str]:
    from nodes.live.runtime import read_ledger_export
    blocks = read_ledger_export(summary_dir / "nodes" / nation / "ledger.export",
                                cluster.genesis.chain_id)
    return {c.block.height: c.block.block_id.hex() for c in blocks}


def test_four_nation_cluster_commits_and_is_safe_and_live(tmp_path, capsys):
    require_mosquitto()
    out = tmp_path / "run"
    code = main(["cluster", str(LIBRARY / "live-four.toml"), "--broker", "spawn", "--out",
                 str(out), "--duration-s", "10", "--json"])  # 5,000 ticks: the window
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(capsys.readouterr().out) == summary  # --json: the summary on stdout, alone
    assert code == 0, summary["violations"]
    assert summary["safety_ok"] and summary["liveness_ok"] and summary["expect_ok"]
    assert summary["heights_committed"] >= 20
    assert summary["txs_committed"] > 0 and summary["evidence"] == []
    live = summary["live"]
    assert live["exit_codes"] == {n: 0 for n in ("CAN", "CHN", "MEX", "USA")}  # clean SIGTERM
    heights = live["ledger_heights"]
    assert min(heights.values()) >= summary["heights_committed"] - 3
    # The custody trade ran on the live chain: operators registered, events filed and judged.
    assert summary["domain"]["shipments"] == 12 and summary["domain"]["false_flags"] == 0
    assert (out / "ledger.jsonl").read_text().count('"kind": "register_operator"') == 8
    # Owner-only key files and a genesis were made for the run.
    assert oct((out / "keys" / "USA.key").stat().st_mode & 0o777) == "0o600"
    assert json.loads((out / "genesis.json").read_text())["chain_id"] == "live-four"
    # The same report.html as a simulated run: every section, its plots and the flags table
    # read from the longest ledger.
    from helpers import ReportPage

    from scenarios.report.run import SECTIONS
    page = ReportPage((out / "report.html").read_text())
    assert list(page.text) == [key for key, _ in SECTIONS]
    assert page.svgs["commits"] and page.svgs["messages"] and page.svgs["trade"]
    assert "a live cluster does not record when each message was sent" in page.text["spacetime"]
    # ... and it renders in a real browser with no console error.
    from helpers import render_in_chromium
    dom, console = render_in_chromium(out / "report.html", tmp_path / "profile")
    assert console == [] and dom.count("<section id=") == len(SECTIONS)
    flags = summary["domain"]["flags_by_kind"]
    assert len(page.tables["flags"][0]) - 1 == sum(flags.values()) > 0


def test_sigkill_then_restart_no_equivocation_catches_up_keeps_blocks(tmp_path):
    require_mosquitto()
    path = scenario_file(tmp_path, "live-crash", 5000, """
[[behaviour]]
nations = ["MEX"]
kind = "crash"
from_tick = 1200
until_tick = 2400
""")
    cluster = LiveCluster(load_scenario(path), tmp_path / "run", "spawn", tick_ms=2.0,
                          snapshot_every=3)
    summary = cluster.run()
    assert summary.safety_ok and summary.liveness_ok, summary.violations
    assert summary.evidence == []  # nobody saw MEX sign two votes for one step
    # It restarted from its signed state snapshot, replaying only the blocks after it.
    snapshot = summary.live["nodes"]["MEX"]["snapshot"]
    assert snapshot["rejected"] is None and snapshot["restored_from"] >= 3, snapshot
    assert snapshot["height"] >= snapshot["restored_from"]
    restart, = summary.live["restarts"]
    assert restart["nation"] == "MEX" and restart["restart_tick"] >= 2400
    # It came back to the height the others had when it restarted, by state sync.
    assert restart["recovered_tick"] is not None and restart["recovery_s"] >= 0
    after = {h: via for h, (t, via, _) in cluster.commit_ticks["MEX"].items()
             if t >= restart["restart_tick"]}
    assert "sync" in after.values()
    # Every block MEX reported committed before the SIGKILL is still in its ledger, unchanged.
    before = {h: bid for h, (t, _, bid) in cluster.commit_ticks["MEX"].items()
              if t <= restart["killed_tick"]}
    assert len(before) >= 5
    # ...read back from its own SQLite file at the restart, not fetched again from peers.
    assert summary.live["nodes"]["MEX"]["started_height"] >= restart["height_at_kill"] >= 5
    kept = ledger_ids(tmp_path / "run", cluster, "MEX")
    assert all(kept.get(h) == bid for h, bid in before.items())
    heights = summary.live["ledger_heights"]
    assert heights["MEX"] >= max(heights.values()) - 3


class _BrokerRestart(LiveCluster):
    restart_at_tick = 1500

    def on_tick(self, now_ticks: int) -> None:
        if now_ticks >= self.restart_at_tick and not hasattr(self, "before_restart"):
            self.before_restart = {n: dict(t) for n, t in self.commit_ticks.items()}
            self.restart_tick = now_ticks
            self.broker.restart()


def test_broker_restart_nodes_reconnect_and_go_on_without_losing_blocks(tmp_path):
    require_mosquitto()
    path = scenario_file(tmp_path, "live-broker-restart", 4500)
    cluster = _BrokerRestart(load_scenario(path), tmp_path / "run", "spawn", tick_ms=2.0)
    summary = cluster.run()
    assert summary.safety_ok and summary.liveness_ok, summary.violations
    for nation, node in summary.live["nodes"].items():
        assert node["connections"] >= 2 and node["reconnects"] >= 1, (nation, node)
        before = cluster.before_restart[nation]
        assert before, f"{nation} committed nothing before the restart"
        kept = ledger_ids(tmp_path / "run", cluster, nation)
        assert all(kept.get(h) == bid for h, (_, _, bid) in before.items())
        # It went on: commits well after the restart.
        late = [h for h, (t, _, _) in cluster.commit_ticks[nation].items()
                if t > cluster.restart_tick + 500]
        assert late and min(late) > max(before)


FORK_OF_TWO = """
[[behaviour]]
nations = ["CHN", "MEX"]
kind = "fork"
"""


def test_cluster_refuses_behaviours_that_cannot_run_live_with_a_fix(tmp_path):
    # Byzantine behaviours run live (tests/live/test_live_byzantine.py), but not a coalition
    # whose members share one mind.
    scenario = load_scenario(scenario_file(tmp_path, "fork-two", 2000, FORK_OF_TWO))
    with pytest.raises(ClusterError, match="fork coalition.*share one mind.*chemtrace run"):
        LiveCluster(scenario, tmp_path / "run", "spawn")


def test_cluster_command_line_errors_exit_2(tmp_path, capsys):
    assert main(["cluster", str(scenario_file(tmp_path, "fork-two", 2000, FORK_OF_TWO)),
                 "--broker", "spawn", "--out", str(tmp_path / "run")]) == 2
    assert "chemtrace run" in capsys.readouterr().err
    assert main(["cluster", str(LIBRARY / "live-four.toml"), "--broker", "http://x",
                 "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "mqtt://USER:PASS@HOST:PORT" in capsys.readouterr().err


def test_partition_through_the_control_topic_cuts_a_nation_off_then_it_catches_up(tmp_path):
    require_mosquitto()
    path = scenario_file(tmp_path, "live-partition", 5000, """
[[partition]]
groups = [["USA", "MEX", "CAN"], ["CHN"]]
from_tick = 1000
until_tick = 2500
""")
    cluster = LiveCluster(load_scenario(path), tmp_path / "run", "spawn", tick_ms=2.0)
    summary = cluster.run()
    assert summary.safety_ok and summary.liveness_ok, summary.violations
    chn = cluster.commit_ticks["CHN"]
    # Cut off, CHN commits nothing in the partition's second half while the others go on...
    assert not [h for h, (t, _, _) in chn.items() if 1800 <= t < 2500]
    assert [h for h, (t, _, _) in cluster.commit_ticks["USA"].items() if 1800 <= t < 2500]
    # ...it dropped the majority's messages by the filter, then caught up by state sync.
    assert summary.live["nodes"]["CHN"]["dropped"]["partition"] > 0
    assert "sync" in {via for h, (t, via, _) in chn.items() if t >= 2500}
    heights = summary.live["ledger_heights"]
    assert heights["CHN"] >= max(heights.values()) - 3


# Swallows the first cancellation of the run loop's task, as Python 3.11's asyncio.wait_for can
# inside aiomqtt's QoS 1 publish when the PUBACK lands at that moment: then asyncio.run's Ctrl-C
# handler, which only cancels that task once, is lost, and the run went on to its end.
_SWALLOW_CANCEL = """
import asyncio
sleep, swallowed = asyncio.sleep, []

async def sleep_swallowing_once(delay, result=None):
    try:
        return await sleep(delay, result)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if swallowed or task is None or task.get_coro().__name__ != "_run_async":
            raise
        swallowed.append(task)
        return result

asyncio.sleep = sleep_swallowing_once
"""


def _processes_of(out: Path) -> dict[int, str]:
    """pid -> command line of every process whose command line names `out` (the nodes and the
    private broker of a cluster writing there)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(out) in cmdline:
                found[int(entry.name)] = cmdline
    return found


def _kill_leftovers(out: Path) -> None:
    import os
    import signal
    for pid in _processes_of(out):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _start_cluster_driver(out: Path, prelude: str = ""):
    """A 60-second cluster in a driver process, once its 4 nodes reported: (driver, node pids,
    broker port)."""
    import subprocess
    import sys
    import time

    driver = subprocess.Popen(
        [sys.executable, "-c", prelude + "from scenarios.cli.main import main; raise SystemExit(main())",
         "cluster", str(LIBRARY / "live-four.toml"), "--broker", "spawn", "--out", str(out),
         "--duration-s", "60", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids: set[int] = set()
    deadline = time.monotonic() + 60
    while len(pids) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
        if (out / "status.jsonl").exists():
            pids = {json.loads(line)["pid"] for line in
                    (out / "status.jsonl").read_text().splitlines() if line}
    if len(pids) < 4:
        driver.kill()
        _kill_leftovers(out)
        pytest.fail("the nodes did not start")
    port = int(next(line.split()[1] for line in
                    (out / "broker" / "mosquitto.conf").read_text().splitlines()
                    if line.startswith("listener ")))
    return driver, pids, port


def test_nodes_stop_by_themselves_when_the_driver_is_killed(tmp_path):
    import signal
    import time

    require_mosquitto()
    out = tmp_path / "run"
    driver, pids, _ = _start_cluster_driver(out)
    try:
        driver.send_signal(signal.SIGKILL)  # no finally, no atexit: nothing of the driver runs
        driver.wait(timeout=10)
        deadline = time.monotonic() + 30  # PARENT_CHECK_S, then each node's clean stop
        while time.monotonic() < deadline and set(_processes_of(out)) & pids:
            time.sleep(0.2)
        assert not set(_processes_of(out)) & pids, "nodes outlived their killed driver"
        for pid in pids:  # gone, or a zombie waiting for whoever adopted it to reap it
            # A process in its exit has an empty command line (so _processes_of no longer
            # lists it) but may still run for a moment before it is a zombie: seen once as
            # state R on a fresh-clone CI run. Give it a few seconds to get there.
            settle = time.monotonic() + 5
            while True:
                try:
                    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    state = None
                if state in (None, "Z") or time.monotonic() > settle:
                    break
                time.sleep(0.1)
            if state is not None:
                assert state == "Z", (pid, state)
        for nation in ("CHN", "USA", "MEX", "CAN"):  # a clean stop: each wrote its ledger
            log = (out / "nodes" / nation / "node.log").read_text()
            assert "is gone: stopping" in log and "stopped cleanly" in log, log[-2000:]
    finally:
        _kill_leftovers(out)  # the broker, which cannot watch its parent


def _interrupt_a_cluster(tmp_path: Path, prelude: str = "") -> None:
    """Start a 60-second cluster in a driver process, Ctrl-C it once its 4 nodes report, and
    check it exits 130 well before its run would have ended, every node and the broker gone."""
    import os
    import signal
    import socket
    import subprocess

    require_mosquitto()
    out = tmp_path / "run"
    driver, pids, port = _start_cluster_driver(out, prelude)
    try:
        driver.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends the driver
        try:
            # Stopping takes at most the nodes' STOP_TIMEOUT_S (15 s); the run had ~55 s left.
            _, err = driver.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            driver.kill()
            _, err = driver.communicate()
            pytest.fail("the driver still ran 40 s after Ctrl-C; its stderr:\n" + err.decode())
    finally:
        if driver.poll() is None:
            driver.kill()
        leftovers = _processes_of(out)
        _kill_leftovers(out)
    assert not leftovers, leftovers
    assert driver.returncode == 130, err.decode()
    assert b"interrupted" in err
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_ctrl_c_stops_every_node_and_the_broker(tmp_path):
    _interrupt_a_cluster(tmp_path)


def test_ctrl_c_stops_the_run_even_when_its_cancellation_is_swallowed(tmp_path):
    _interrupt_a_cluster(tmp_path, _SWALLOW_CANCEL)
