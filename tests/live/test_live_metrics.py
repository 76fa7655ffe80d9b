"""Each live node's Prometheus metrics (`chemtrace node --metrics-port`, passed by
`chemtrace cluster --metrics-port`), scraped while a cluster runs through a Mosquitto the test
starts; and the cluster's live view, from statuses alone."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from mqtt_helpers import FOUR, require_mosquitto
from nodes.live.metrics import METRICS

from scenarios.cluster.driver import LiveCluster
from scenarios.cluster.view import ClusterView, live_view_progress
from scenarios.spec.loader import parse_scenario


def scrape(port: int) -> dict[str, list]:
    """Samples by metric family name (counters without their `_total`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


class ScrapingCluster(LiveCluster):
    """Scrapes every node once heights have been committed (`on_tick`, each loop turn)."""

    scraped: dict[str, dict] | None = None

    def on_tick(self, now_ticks: int) -> None:
        if self.scraped is None and all(s.get("height", 0) >= 3 for s in self.status.values()) \
                and len(self.status) == 4:
            self.scraped = {}
            for nation in self.nations:
                port = int((self.data_dir(nation) / "metrics.port").read_text())
                self.scraped[nation] = scrape(port)


def test_metrics_answer_on_their_port_with_the_documented_names(tmp_path: Path):
    require_mosquitto()
    scenario = parse_scenario(FOUR.format(name="live-metrics", seed=3, ticks=2500, window=2500,
                                          extra=""))
    cluster = ScrapingCluster(scenario, tmp_path / "run", "spawn", tick_ms=2.0, metrics_port=0)
    summary = cluster.run()
    assert summary.safety_ok
    assert cluster.scraped is not None, "no node reached height 3"
    ports = {int((cluster.data_dir(n) / "metrics.port").read_text()) for n in cluster.nations}
    assert len(ports) == 4  # one port each
    for nation, families in cluster.scraped.items():
        assert set(METRICS) <= set(families), set(METRICS) - set(families)
        value = {name: sum(s.value for s in families[name]
                           if not s.name.endswith(("_bucket", "_created")))
                 for name in METRICS}
        assert value["chemtrace_height"] >= 3 and value["chemtrace_commits"] >= 3
        assert value["chemtrace_messages_received"] > 0
        assert value["chemtrace_messages_published"] > 0
        queues = {s.labels["queue"] for s in families["chemtrace_queue_length"]}
        assert {"outbox", "held"} <= queues
        latency = {s.name: s.value for s in families["chemtrace_block_commit_latency_seconds"]}
        assert latency["chemtrace_block_commit_latency_seconds_count"] >= 3
        assert value["chemtrace_evidence"] == 0  # honest nodes: nothing to name


def test_the_live_view_shows_heights_rates_and_drops():
    view = ClusterView("test")
    base = {"height": 10, "round": 0, "received": 100, "published": 50,
            "dropped": {"duplicate": 2}, "backlog": {"urgent": 1, "outbox": 2, "inbox_bytes": 9},
            "evidence": []}
    view.update({"USA": base}, 10.0, 5000)
    later = {**base, "height": 14, "received": 300, "published": 90, "round": 1,
             "dropped": {"duplicate": 3, "link_loss": 7}, "evidence": [{"nation": "CHN"}] * 64,
             "evidence_count": 70}  # the status lists 64 records at most; the count is whole
    view.update({"USA": later}, 12.0, 6000)
    assert view.rates("USA") == {"heights": 2.0, "received": 100.0, "published": 20.0,
                                 "dropped": 4.0}
    console = Console(width=200, record=True)
    console.print(view.table())
    text = console.export_text()
    row = next(line for line in text.splitlines() if "USA" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        "USA", "14", "1", "2.0", "100", "20", "10", "link_loss (7)", "3", "70"]
    assert "tick 6,000" in text
    assert not view.due(12.1) and view.due(12.6)


def test_the_live_view_redraws_from_the_clusters_statuses_as_the_run_goes():
    class Cluster:  # what the view reads of a LiveCluster: its nodes' last statuses
        status = {"MEX": {"height": 3, "round": 0, "received": 10, "published": 5,
                          "dropped": {}, "backlog": {}}}

    console = Console(width=160, record=True, force_terminal=False)
    live, progress = live_view_progress(console, Cluster, "demo")
    with live:
        progress(100, 1000)
        Cluster.status = {"MEX": {**Cluster.status["MEX"], "height": 9},
                          "USA": {"height": 8, "round": 2, "dropped": {"bad_signature": 4}}}
        progress(1000, 1000)  # the last tick always redraws
    text = console.export_text()
    assert "demo: tick 1,000" in text
    last = text[text.rindex("demo: tick 1,000"):]
    assert "bad_signature (4)" in last
    assert [line.split("│")[2].strip() for line in last.splitlines() if "│ MEX" in line
            or "│ USA" in line] == ["9", "8"]
