"""What several commands print alike: the consoles and the table of a run's summary (`chemtrace
run` and `chemtrace cluster`)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from scenarios.sim.summary import RunSummary


def wide_console(width: int = 200) -> Console:
    """Tables are wide: when output goes to a file or pipe, do not squeeze them to 80 columns."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else width)


def stderr_console() -> Console:
    """Errors and failure stories, on stderr, never wrapped."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def summary_table(summary: RunSummary) -> Table:
    table = Table(title=f"{summary.scenario} (seed {summary.seed})", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    ok = "[green]ok[/]" if summary.expect_ok else "[red]FAILED[/]"
    rows = [
        ("nations", summary.nations),
        ("ticks", f"{summary.ticks:,}"),
        ("heights committed", f"{summary.heights_committed:,}"),
        ("txs committed", f"{summary.txs_committed:,} of {summary.txs_submitted:,}"),
        ("safety", "ok" if summary.safety_ok else "VIOLATED"),
        ("liveness", "ok" if summary.liveness_ok else "stalled"),
        ("expectation", ok),
        ("latency p50 / p99 (ticks)",
         f"{summary.latency_ticks_p50} / {summary.latency_ticks_p99}"),
        ("messages sent / dropped", f"{summary.messages_sent:,} / "
                                    f"{summary.messages_dropped:,}"),
        ("equivocation evidence", len(summary.evidence)),
        ("wall time (s)", f"{summary.wall_s:.2f}"),
        ("txs per wall second", f"{summary.txs_per_wall_s:,.0f}"),
    ]
    d = summary.domain or {}
    if d.get("shipments"):
        rows += [
            ("licit shipments (kg)", f"{d['licit_shipments']:,} ({d['licit_kg']:,.0f} kg)"),
            ("licit traced complete", "-" if d["traced_complete_pct"] is None
             else f"{d['traced_complete_pct']}%"),
        ]
        illicit = d.get("illicit") or {}
        if illicit.get("attempts"):
            rows.append(("illicit attempts (kg)",
                         f"{illicit['attempts']:,} ({illicit['kg']:,.0f} kg)"))
        rows += [
            ("diversions flagged", f"{sum(d['diversions_flagged'].values())} of "
                                   f"{sum(d['diversions_injected'].values())}"),
            ("false flags", d["false_flags"]),
            ("leaked kg", f"{d['leaked_kg']:,.1f}"),
        ]
        if (d.get("inspections") or {}).get("count"):
            rows.append(("inspections (kg seized)", f"{d['inspections']['count']:,} "
                         f"({d['inspections']['seized_kg']:,.1f} kg)"))
    for name, value in rows:
        table.add_row(name, str(value))
    return table
