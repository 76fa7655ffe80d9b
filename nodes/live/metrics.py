"""Prometheus metrics of one live node (`chemtrace node --metrics-port PORT`).

Theory of operation
-------------------

`serve_metrics(runtime, port)` registers a `NodeMetrics` in a registry of its own and serves it
with prometheus_client's HTTP server on 127.0.0.1 only (the node's numbers are for the operator
of its host, not the network). Gauges and counters are read from the runtime at each scrape
(`NodeMetrics.collect`, in the server's thread): nothing is counted twice, and the loop pays
nothing for them. The histograms are observed by the runtime as things happen, through its two
metrics hooks (`LiveRuntime.metrics`): `on_commit` at each block committed and `on_turn` at
each turn of the loop. Every name is listed in `METRICS` (and in docs/live.md, "Metrics"); a
test scrapes a live node and checks each one.

A scrape reads dicts the loop may be changing in its own thread; such a read is retried, and a
scrape that still fails answers the metrics it could read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:  # pragma: no cover
    from nodes.live.runtime import LiveRuntime

METRICS_HOST = "127.0.0.1"
READ_TRIES = 3
# name -> (type, help). Counters are exposed with the `_total` suffix Prometheus adds.
METRICS: dict[str, tuple[str, str]] = {
    "chemtrace_height": ("gauge", "Height of the node's last committed block."),
    "chemtrace_round": ("gauge", "The consensus round the node is in at the next height."),
    "chemtrace_commits": ("counter", "Blocks committed by this process (consensus or sync)."),
    "chemtrace_dropped": ("counter", "Messages dropped, by reason (the node's gates, the "
                          "transport's, the shim's and the inbound queue's)."),
    "chemtrace_messages_received": ("counter", "Messages read from the broker."),
    "chemtrace_messages_published": ("counter", "Messages handed to the broker."),
    "chemtrace_bytes_published": ("counter", "Bytes handed to the broker."),
    "chemtrace_received_by_class": ("counter", "Messages taken into the inbound queue, by "
                                    "class."),
    "chemtrace_queue_length": ("gauge", "Messages waiting, by queue: the inbound queue's "
                               "classes, the outbox, and the shim's held messages."),
    "chemtrace_inbox_bytes": ("gauge", "Bytes held by the inbound queue."),
    "chemtrace_mempool_transactions": ("gauge", "Transactions in the mempool."),
    "chemtrace_evidence": ("counter", "Equivocations this node has seen and recorded."),
    "chemtrace_resends": ("counter", "Own consensus messages sent again while stalled."),
    "chemtrace_block_commit_latency_seconds": ("histogram", "From a block's proposal time "
                                               "(its time field) to its commit here."),
    "chemtrace_block_interval_seconds": ("histogram", "Between two consecutive commits."),
    "chemtrace_loop_turn_seconds": ("histogram", "How long one turn of the node's loop "
                                    "worked without reading the network."),
}
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TURN_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class NodeMetrics:
    """The collector of one runtime's metrics, and its histograms."""

    def __init__(self, runtime: LiveRuntime, registry: CollectorRegistry) -> None:
        self.runtime = runtime
        self.commits = 0
        self._last_commit_s: float | None = None
        self.commit_latency = Histogram("chemtrace_block_commit_latency_seconds",
                                        METRICS["chemtrace_block_commit_latency_seconds"][1],
                                        buckets=LATENCY_BUCKETS_S, registry=registry)
        self.block_interval = Histogram("chemtrace_block_interval_seconds",
                                        METRICS["chemtrace_block_interval_seconds"][1],
                                        buckets=LATENCY_BUCKETS_S, registry=registry)
        self.turn = Histogram("chemtrace_loop_turn_seconds",
                              METRICS["chemtrace_loop_turn_seconds"][1],
                              buckets=TURN_BUCKETS_S, registry=registry)
        registry.register(self)

    # ------------------------------------------------------------ the runtime's hooks

    def on_commit(self, block_time_ticks: int, now_ticks: int, now_s: float) -> None:
        self.commits += 1
        clock = self.runtime.clock
        self.commit_latency.observe(max(0.0, clock.seconds(now_ticks - block_time_ticks)))
        if self._last_commit_s is not None:
            self.block_interval.observe(max(0.0, now_s - self._last_commit_s))
        self._last_commit_s = now_s

    def on_turn(self, seconds: float) -> None:
        self.turn.observe(seconds)

    # ------------------------------------------------------------ a scrape

    def describe(self):
        return []  # collected at each scrape; nothing to check at registration

    def collect(self):
        status = None
        for _ in range(READ_TRIES):
            try:
                status = self.runtime.status()
                break
            except RuntimeError:  # a dict changed size under us: read again
                continue
        if status is None:
            return
        yield _gauge("chemtrace_height", status["height"])
        yield _gauge("chemtrace_round", status["round"])
        yield _counter("chemtrace_commits", self.commits)
        yield _counter("chemtrace_dropped", status["dropped"], "reason")
        yield _counter("chemtrace_messages_received", status["received"])
        yield _counter("chemtrace_messages_published", status["published"])
        yield _counter("chemtrace_bytes_published", status["bytes_published"])
        yield _counter("chemtrace_received_by_class", status["received_by_class"], "class")
        backlog = dict(status["backlog"])
        inbox_bytes = backlog.pop("inbox_bytes", 0)
        yield _gauge("chemtrace_queue_length", backlog, "queue")
        yield _gauge("chemtrace_inbox_bytes", inbox_bytes)
        yield _gauge("chemtrace_mempool_transactions", status["mempool"])
        yield _counter("chemtrace_evidence", len(self.runtime.node.evidence))
        yield _counter("chemtrace_resends", status["resends"])


def _gauge(name: str, value, label: str | None = None) -> GaugeMetricFamily:
    return _family(GaugeMetricFamily, name, value, label)


def _counter(name: str, value, label: str | None = None) -> CounterMetricFamily:
    return _family(CounterMetricFamily, name, value, label)


def _family(cls, name: str, value, label: str | None):
    doc = METRICS[name][1]
    if label is None:
        return cls(name, doc, value=value)
    family = cls(name, doc, labels=[label])
    for key, count in sorted(value.items()):
        family.add_metric([str(key)], count)
    return family


def serve_metrics(runtime: LiveRuntime, port: int) -> int:
    """Serve `runtime`'s metrics on 127.0.0.1:`port` (0: a free one) in a daemon thread, and
    give the runtime its hooks. Returns the port."""
    registry = CollectorRegistry(auto_describe=False)
    runtime.metrics = NodeMetrics(runtime, registry)
    server, _thread = start_http_server(port, addr=METRICS_HOST, registry=registry)
    return server.server_port
