"""`chemtrace registry`: the tracked chemicals and the watched HS codes.

    chemtrace registry [--json]
"""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from nodes.app.registry import load_registry

from scenarios.cli.args import ExitCode
from scenarios.cli.output import wide_console

COMMANDS = ("registry",)


def add_parsers(sub) -> None:
    reg = sub.add_parser("registry", help="list the tracked chemicals")
    reg.add_argument("--json", action="store_true", help="print JSON instead of a table")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_registry(args)


def cmd_registry(args: argparse.Namespace) -> ExitCode:
    registry = load_registry()
    rows = []
    for c in registry.chemicals.values():
        rows.append({
            "id": c.id, "name": c.names[0], "cas": c.cas, "hs_code": c.hs_code,
            "convention_table": c.convention_table, "convention_effective":
            c.convention_effective, "dual_use": c.dual_use, "yield_max": c.yield_max,
            "national": {n: {"status": nc.status, "effective": nc.effective}
                         for n, nc in sorted(c.national.items())},
        })
    console = wide_console()
    if args.json:
        console.print_json(json.dumps({"chemicals": rows,
                                       "watched_hs_codes": sorted(registry.watched_hs_codes)}))
        return ExitCode.OK
    table = Table(title="Tracked chemicals (nodes/data/chemicals.toml)")
    for col in ("id", "name", "CAS", "HS", "1988 table", "USA", "CHN", "MEX", "CAN"):
        table.add_column(col)
    for r in rows:
        nat = [(_control(r["national"].get(n))) for n in ("USA", "CHN", "MEX", "CAN")]
        table.add_row(r["id"], r["name"], r["cas"], r["hs_code"],
                      f"{r['convention_table'] or '-'} {r['convention_effective']}".strip(), *nat)
    console.print(table)
    console.print("watched HS codes: " + ", ".join(sorted(registry.watched_hs_codes)))
    return ExitCode.OK


def _control(national: dict | None) -> str:
    if not national:
        return "-"
    if national["status"] == "uncontrolled":
        return "no"
    return f"{national['status']} {national['effective']}".strip()
