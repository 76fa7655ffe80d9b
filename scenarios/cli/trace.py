"""`chemtrace trace`: one lot's custody chain, read from a run's ledger.

    chemtrace trace LOT --run DIR [--json]

Exit codes: 0, or 2 for a bad command line, run folder or lot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from scenarios.cli.args import ExitCode
from scenarios.cli.output import stderr_console, wide_console
from scenarios.trade.custody import CustodyError, custody_chain, read_ledger

COMMANDS = ("trace",)


def add_parsers(sub) -> None:
    trace = sub.add_parser("trace", help="print one lot's custody chain from a run's ledger")
    trace.add_argument("lot", help="lot id, e.g. S00001-L0")
    trace.add_argument("--run", type=Path, required=True, help="output folder of a run")
    trace.add_argument("--json", action="store_true", help="print JSON instead of a table")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_trace(args)


def cmd_trace(args: argparse.Namespace) -> ExitCode:
    err = stderr_console()
    try:
        chain = custody_chain(read_ledger(args.run), args.lot)
    except CustodyError as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    console = wide_console()
    if args.json:
        console.print_json(json.dumps(chain))
        return ExitCode.OK
    table = Table(title=f"custody of {args.lot} (from {chain['root_lot']})")
    for col in ("height", "tick", "event", "kind", "filed by", "co-signed", "where", "qty kg",
                "result"):
        table.add_column(col)
    for e in chain["events"]:
        f = e["fields"]
        where = f.get("nation") or f.get("to_nation") or (e["signer"] or "")
        qty = next((f[k] for k in ("quantity_g", "input_g") if k in f), None)
        result = "ok" if e["accepted"] else f"REJECTED {e['reason']}"
        if e["flags"]:
            result += " | " + ", ".join(fl["kind"] for fl in e["flags"])
        table.add_row(str(e["h"]), str(e["event_time"]), e["event"] or "(deadline)", e["kind"],
                      e["signer"] or "chaincode", ", ".join(e["cosigners"]), where,
                      "" if qty is None else f"{qty / 1000:,.3f}", result)
    console.print(table)
    if chain["flags"]:
        console.print("flags:")
        for fl in chain["flags"]:
            console.print(f"  {fl['kind']} on {fl['subject']}: {fl['detail']}", markup=False)
    else:
        console.print("flags: none")
    return ExitCode.OK
