"""`chemtrace cluster --view`: a live view of the cluster in the terminal while it runs.

One row per node, from the statuses the nodes publish (the driver reads them anyway): height,
round, blocks committed per second, messages received and published per second, drops (the
total and the largest reason), what waits in its queues, and the evidence it has seen. Rates
are over the interval between two renders of the table. `ClusterView.table()` is a pure
function of two snapshots of the statuses, so a test can check every figure without a broker.
"""

from __future__ import annotations

import time

from rich.table import Table

VIEW_EVERY_S = 0.5


def _drops(status: dict) -> int:
    return sum(status.get("dropped", {}).values())


def _backlog(status: dict) -> int:
    backlog = status.get("backlog", {})
    return sum(v for k, v in backlog.items() if k != "inbox_bytes")


class ClusterView:
    """The table of a cluster's nodes; `update(statuses, now_s)` takes a new snapshot."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.previous: dict[str, dict] = {}
        self.current: dict[str, dict] = {}
        self.previous_s = 0.0
        self.current_s = 0.0
        self.tick = 0

    def due(self, now_s: float) -> bool:
        return now_s - self.current_s >= VIEW_EVERY_S

    def update(self, statuses: dict[str, dict], now_s: float, tick: int = 0) -> None:
        self.previous, self.previous_s = self.current, self.current_s
        self.current = {n: dict(s) for n, s in statuses.items()}
        self.current_s = now_s
        self.tick = tick

    def rates(self, nation: str) -> dict[str, float]:
        """Per second, between the last two snapshots: heights, messages in and out, drops."""
        now, before = self.current.get(nation, {}), self.previous.get(nation)
        dt = self.current_s - self.previous_s
        if before is None or dt <= 0:
            return {"heights": 0.0, "received": 0.0, "published": 0.0, "dropped": 0.0}
        return {
            "heights": (now.get("height", 0) - before.get("height", 0)) / dt,
            "received": (now.get("received", 0) - before.get("received", 0)) / dt,
            "published": (now.get("published", 0) - before.get("published", 0)) / dt,
            "dropped": (_drops(now) - _drops(before)) / dt,
        }

    def table(self) -> Table:
        table = Table(title=f"{self.title}: tick {self.tick:,}")
        for column in ("nation", "height", "round", "heights/s", "msgs in/s", "msgs out/s",
                       "drops", "top drop reason", "backlog", "evidence"):
            table.add_column(column, justify="left" if column in ("nation", "top drop reason")
                             else "right")
        for nation, status in sorted(self.current.items()):
            r = self.rates(nation)
            dropped = status.get("dropped", {})
            top = max(dropped.items(), key=lambda kv: (kv[1], kv[0]), default=None)
            table.add_row(nation, f"{status.get('height', 0):,}", str(status.get("round", 0)),
                          f"{r['heights']:.1f}", f"{r['received']:,.0f}",
                          f"{r['published']:,.0f}", f"{_drops(status):,}",
                          f"{top[0]} ({top[1]:,})" if top else "",
                          f"{_backlog(status):,}",
                          f"{status.get('evidence_count', len(status.get('evidence', []))):,}")
        return table


def live_view_progress(console, cluster, title: str):
    """A progress callback for `LiveCluster.run` that redraws the view on `console` at most
    every VIEW_EVERY_S, and the `rich.live.Live` to enter around the run."""
    from rich.live import Live

    view = ClusterView(title)
    live = Live(view.table(), console=console, transient=False, auto_refresh=False)

    def progress(tick: int, total: int) -> None:
        now_s = time.monotonic()
        if view.due(now_s) or tick >= total:
            view.update(cluster.status, now_s, tick)
            live.update(view.table(), refresh=True)

    return live, progress
