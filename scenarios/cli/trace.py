"""`chemtrace trace`: one lot's custody chain, read from a run's ledger.

    chemtrace trace LOT --run DIR [--as NATION] [--json]

With --as, the chain as that nation sees it in the run's privacy mode (docs/privacy.md): the
public fields of the shared chain, the plaintext of the private records it holds, and, per
event, the fields hidden from it.

Exit codes: 0, or 2 for a bad command line, run folder or lot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from scenarios.cli.args import ExitCode
from scenarios.cli.output import stderr_console, wide_console
from scenarios.trade.custody import (CustodyError, as_seen_by, custody_chain, read_collections,
                                     read_ledger)

COMMANDS = ("trace",)


def add_parsers(sub) -> None:
    trace = sub.add_parser("trace", help="print one lot's custody chain from a run's ledger")
    trace.add_argument("lot", help="lot id, e.g. S00001-L0")
    trace.add_argument("--run", type=Path, required=True, help="output folder of a run")
    trace.add_argument("--as", dest="as_nation", metavar="NATION",
                       help="show what this nation can see, and what is hidden from it")
    trace.add_argument("--json", action="store_true", help="print JSON instead of a table")


def dispatch(args: argparse.Namespace) -> ExitCode:
    return cmd_trace(args)


def cmd_trace(args: argparse.Namespace) -> ExitCode:
    err = stderr_console()
    try:
        events = read_ledger(args.run)
        chain = custody_chain(events, args.lot)
        if args.as_nation is not None:
            nations = {e["signer"] for e in events if e["signer"]}
            chain = as_seen_by(chain, args.as_nation, read_collections(args.run), nations)
    except CustodyError as exc:
        err.print(f"error: {exc}", markup=False)
        return ExitCode.USAGE
    console = wide_console()
    if args.json:
        console.print_json(json.dumps(chain))
        return ExitCode.OK
    seen_by = chain.get("seen_by")
    title = f"custody of {args.lot} (from {chain['root_lot']})"
    table = Table(title=title + (f" as {seen_by} sees it" if seen_by else ""))
    columns = ["height", "tick", "event", "kind", "filed by", "co-signed", "where", "qty kg",
               "result"]
    for col in columns + ([f"hidden from {seen_by}"] if seen_by else []):
        table.add_column(col)
    for e in chain["events"]:
        f = e["fields"]
        where = f.get("nation") or f.get("to_nation") or (e["signer"] or "")
        qty = next((f[k] for k in ("quantity_g", "input_g") if isinstance(f.get(k), int)),
                   None)
        result = "ok" if e["accepted"] else f"REJECTED {e['reason']}"
        if e["flags"]:
            result += " | " + ", ".join(fl["kind"] for fl in e["flags"])
        row = [str(e["h"]), str(e["event_time"]), e["event"] or "(deadline)", e["kind"],
               e["signer"] or "chaincode", ", ".join(e["cosigners"]), where,
               "" if qty is None else f"{qty / 1000:,.3f}", result]
        if seen_by:
            row.append(", ".join(e["hidden"]) or "-")
        table.add_row(*row)
    console.print(table)
    if chain["flags"]:
        console.print("flags:")
        for fl in chain["flags"]:
            console.print(f"  {fl['kind']} on {fl['subject']}: {fl['detail']}", markup=False)
    else:
        console.print("flags: none")
    return ExitCode.OK
