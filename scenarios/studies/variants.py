"""Scenario variants and the runs behind weak-link studies and sweeps.

A variant is the base scenario's TOML with some keys changed, named by dotted paths:
`network.loss_probability`, `workload.diversions.dark_hop`, `behaviour[0].nations` (an index
into an array of tables), or `behaviour[+]` to append a table. Each variant is written out as
an ordinary scenario file, so every row of a study can be reproduced with `chemtrace run`.

`run_task` is the unit of work handed to a process pool or a Dask cluster: it takes plain data
(picklable), runs one world, and returns one row of plain data. A failing run returns a row
with its error instead of raising, so one bad point never aborts a study.
"""

from __future__ import annotations

import copy
import re
import time
import tomllib
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import tomli_w

PATH_PART = re.compile(r"^(\w+)(?:\[(\d+|\+)\])?$")
ROW_METRICS = (
    "heights_committed", "txs_committed", "safety_ok", "liveness_ok", "latency_ticks_p50",
    "latency_ticks_p99", "byzantine_power_fraction", "wall_s",
)
DOMAIN_METRICS = ("shipments", "shipped_kg", "licit_kg", "traced_complete_pct",
                  "detection_rate", "leaked_kg", "false_flags", "coverage_gap_flags", "dark_kg",
                  "missed_count", "illicit.kg", "illicit.detected", "illicit.leaked_kg",
                  "illicit.seized_kg", "inspections.count", "inspections.seized_kg")


# Sections of the domain summary that a sweep may name a metric in, by path.
DOMAIN_PATHS = ("detection_rate_by_kind.", "leaked_kg_by_kind.", "diversions_flagged.",
                "diversions_injected.", "flags_by_kind.", "traced_kg_by_nation.",
                "dark_kg_by_nation.", "illicit.", "inspections.", "pen_objections.",
                "privacy.")


def domain_value(domain: dict, path: str):
    """`illicit.kg` is domain["illicit"]["kg"]; None where the path leads nowhere."""
    value = domain
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class VariantError(ValueError):
    """A study asks for a change the scenario cannot take; the message says which and why."""


@dataclass(frozen=True)
class Task:
    label: str
    text: str  # the variant's TOML
    source: str  # where the variant file is written (for messages and reproduction)
    meta: tuple = ()  # (key, value) pairs copied into the row: the swept values, the seed...


def read_raw(path: Path) -> tuple[dict, str]:
    if path.suffix != ".toml":
        raise VariantError(f"{path}: studies change TOML keys; write the scenario as a .toml file "
                           f"(a Python scenario script cannot be varied key by key)")
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text), text
    except OSError as exc:
        raise VariantError(f"{path}: cannot read the scenario ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise VariantError(f"{path}: not valid TOML: {exc}") from None


def set_path(raw: dict, path: str, value) -> None:
    """Set `path` (dotted, with [i] or [+] indexes into arrays of tables) in `raw` to `value`."""
    parts = path.split(".")
    node = raw
    for depth, part in enumerate(parts):
        m = PATH_PART.match(part)
        if not m:
            raise VariantError(f"{path}: {part!r} is not a key or key[index]")
        key, index = m.group(1), m.group(2)
        last = depth == len(parts) - 1
        if index is None:
            if last:
                node[key] = value
                return
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise VariantError(f"{path}: {key} is not a table")
            continue
        items = node.setdefault(key, [])
        if not isinstance(items, list):
            raise VariantError(f"{path}: {key} is not an array of tables")
        if index == "+":
            items.append({} if not last else value)
            if last:
                return
            node = items[-1]
            continue
        i = int(index)
        if i >= len(items):
            raise VariantError(f"{path}: {key} has {len(items)} entries, no [{i}]")
        if last:
            items[i] = value
            return
        node = items[i]


def variant_text(base: dict, changes: list[tuple[str, object]], header: str = "") -> str:
    raw = copy.deepcopy(base)
    for path, value in changes:
        set_path(raw, path, value)
    text = tomli_w.dumps(raw)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + "\n" + text
    return text


def run_task(task: Task) -> dict:
    """Run one variant; return its row. Never raises for a failing scenario."""
    from scenarios.spec.loader import ScenarioError, parse_scenario
    from scenarios.assemble import build_world
    row: dict = {"label": task.label, **dict(task.meta), "error": "",
                 "reproduce": f"chemtrace run {task.source}"}
    started = time.perf_counter()
    try:
        scenario = parse_scenario(task.text, task.source)
        summary = build_world(scenario).run()
    except ScenarioError as exc:
        row["error"] = f"scenario error: {exc}"
        return row
    except Exception as exc:  # a crash is a finding: record it, keep the study going
        row["error"] = f"{type(exc).__name__}: {exc} | " + \
            traceback.format_exc(limit=3).strip().splitlines()[-1]
        return row
    for key in ROW_METRICS:
        row[key] = getattr(summary, key)
    domain = summary.domain or {}
    for key in DOMAIN_METRICS:
        row[key] = domain_value(domain, key)
    row["domain"] = domain  # for metrics named by path (sweep: detection_rate_by_kind.smuggle)
    row["trace_sha256"] = summary.trace_sha256
    row["run_s"] = round(time.perf_counter() - started, 3)
    return row


def run_all(tasks: list[Task], workers: int = 1, dask_address: str | None = None,
            progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Run every task; rows come back in task order whatever ran where."""
    for task in tasks:
        Path(task.source).parent.mkdir(parents=True, exist_ok=True)
        Path(task.source).write_text(task.text)
    if dask_address:
        return _run_dask(tasks, dask_address, progress)
    if workers <= 1:
        rows = []
        for i, task in enumerate(tasks):
            rows.append(run_task(task))
            if progress:
                progress(i + 1, len(tasks))
        return rows
    rows_by_index: dict[int, dict] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_task, task): i for i, task in enumerate(tasks)}
        from concurrent.futures import as_completed
        for done, future in enumerate(as_completed(futures), 1):
            rows_by_index[futures[future]] = future.result()
            if progress:
                progress(done, len(tasks))
    return [rows_by_index[i] for i in range(len(tasks))]


def _run_dask(tasks: list[Task], address: str, progress) -> list[dict]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise VariantError(f"--dask needs the distributed package: {exc}") from None
    try:
        client = Client(address, timeout="10s")
    except OSError as exc:
        raise VariantError(f"cannot reach the Dask scheduler at {address}: {exc}; start one "
                           f"with `dask scheduler` or pass a working address") from None
    try:
        futures = client.map(run_task, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        rows: dict[int, dict] = {}
        for done, future in enumerate(as_completed(futures), 1):
            rows[index[future.key]] = future.result()
            if progress:
                progress(done, len(tasks))
        return [rows[i] for i in range(len(tasks))]
    finally:
        client.close()
