"""Load and validate scenario files (TOML) into a `Scenario`.

Every error is a `ScenarioError` whose message names the file, the line where it can be found,
the key path (`behaviour[2].until_tick`), what is wrong, and what to write instead.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .schema import REQUIRED, SCHEMA, Key, Table

NATION_CODE = re.compile(r"^[A-Z]{3}$")


class ScenarioError(ValueError):
    """A scenario that cannot run: the user's file is wrong. The message says how to fix it."""


@dataclass(frozen=True)
class Partition:
    groups: tuple[tuple[str, ...], ...]
    from_tick: int
    until_tick: int | None


@dataclass(frozen=True)
class Behaviour:
    nations: tuple[str, ...]
    kind: str
    from_tick: int
    until_tick: int | None


@dataclass(frozen=True)
class Scenario:
    source: str
    name: str
    description: str
    seed: int
    ticks_max: int
    nations: tuple[tuple[str, int], ...]
    network: dict
    partitions: tuple[Partition, ...]
    behaviours: tuple[Behaviour, ...]
    workload: dict
    consensus: dict
    expect: dict
    nation_rules: dict = None  # type: ignore[assignment]
    lanes: tuple = ()
    domain: dict = None  # type: ignore[assignment]

    @property
    def nation_ids(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.nations)

    def with_overrides(self, seed: int | None = None, ticks_max: int | None = None) -> "Scenario":
        from dataclasses import replace
        return replace(self, seed=self.seed if seed is None else seed,
                       ticks_max=self.ticks_max if ticks_max is None else ticks_max)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    return parse_scenario(text, str(path))


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    return _Checker(text, source).scenario(raw)


class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    # ------------------------------------------------------------------ error reporting

    def fail(self, path: str, problem: str, fix: str) -> ScenarioError:
        line = self._line_of(path)
        where = f"{self.source}:{line}" if line else self.source
        return ScenarioError(f"{where}: {path}: {problem}. {fix}")

    def _line_of(self, path: str) -> int | None:
        """Best-effort line number of a key path such as `behaviour[1].until_tick`."""
        m = re.match(r"^(\w+)(?:\[(\d+)\])?(?:\.(\w+))?", path)
        if not m:
            return None
        table, index, key = m.group(1), m.group(2), m.group(3)
        header = re.compile(r"^\s*\[\[\s*%s\s*\]\]" % re.escape(table) if index is not None
                            else r"^\s*\[\s*%s\s*\]" % re.escape(table))
        start, seen = None, -1
        for i, line in enumerate(self.lines):
            if header.match(line):
                seen += 1
                if index is None or seen == int(index):
                    start = i
                    break
        if start is None:
            return None
        if key is None:
            return start + 1
        key_re = re.compile(r"^\s*%s\s*=" % re.escape(key))
        for i in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[i]):
                break
            if key_re.match(self.lines[i]):
                return i + 1
        return start + 1

    # ------------------------------------------------------------------ generic checks

    def table(self, name: str, spec: Table, raw: object, path: str) -> dict:
        if not isinstance(raw, dict):
            kind = "[[%s]]" % name if spec.array else "[%s]" % name
            raise self.fail(path, f"expected a table, got {_type_name(raw)}",
                            f"Write it as a {kind} table.")
        out = {}
        for key in raw:
            if key not in spec.keys:
                allowed = ", ".join(sorted(spec.keys))
                raise self.fail(f"{path}.{key}", "unknown key",
                                f"Allowed keys in [{name}] are: {allowed}.")
        for key, k in spec.keys.items():
            if key in raw:
                out[key] = self.value(k, raw[key], f"{path}.{key}")
            elif k.default is REQUIRED:
                raise self.fail(f"{path}.{key}", "missing required key", f"Add: {k.example}")
            else:
                out[key] = k.default
        return out

    def value(self, k: Key, value: object, path: str) -> object:
        t = k.type
        if t == "str":
            ok = isinstance(value, str)
        elif t == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif t == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif t == "bool":
            ok = isinstance(value, bool)
        elif t == "list[str]":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif t == "dict[str,int]":
            ok = isinstance(value, dict) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value.values())
            if ok:
                for name, count in value.items():
                    if k.choices is not None and name not in k.choices:
                        raise self.fail(f"{path}.{name}", "unknown key",
                                        f"Allowed keys are: {', '.join(k.choices)}.")
                    if not k.minimum <= count <= k.maximum:  # type: ignore[operator]
                        raise self.fail(f"{path}.{name}", f"{count} is out of range",
                                        f"Use a count from {k.minimum} to {k.maximum}.")
                return dict(value)
        elif t == "list[list[str]]":
            ok = isinstance(value, list) and all(
                isinstance(g, list) and all(isinstance(v, str) for v in g) for g in value)
        else:  # pragma: no cover - a schema bug
            raise AssertionError(t)
        if not ok:
            raise self.fail(path, f"expected {t}, got {_type_name(value)} {value!r}",
                            f"Write it like: {k.example}")
        if k.minimum is not None and value < k.minimum:  # type: ignore[operator]
            raise self.fail(path, f"{value!r} is below the minimum {k.minimum}",
                            f"Use a value from {k.minimum} to {k.maximum}, e.g. {k.example}")
        if k.maximum is not None and value > k.maximum:  # type: ignore[operator]
            raise self.fail(path, f"{value!r} is above the maximum {k.maximum}",
                            f"Use a value from {k.minimum} to {k.maximum}, e.g. {k.example}")
        if k.choices is not None and value not in k.choices:
            raise self.fail(path, f"unknown value {value!r}",
                            f"Allowed values are: {', '.join(k.choices)}.")
        return value

    # ------------------------------------------------------------------ the scenario

    def scenario(self, raw: dict) -> Scenario:
        for key in raw:
            if key not in SCHEMA:
                raise self.fail(key, "unknown table",
                                f"Allowed tables are: {', '.join(sorted(SCHEMA))}.")
        tables: dict[str, object] = {}
        for name, spec in SCHEMA.items():
            if name not in raw:
                if spec.required:
                    header = f"[[{name}]]" if spec.array else f"[{name}]"
                    example = "; ".join(k.example for k in spec.keys.values()
                                        if k.default is REQUIRED)
                    raise self.fail(name, "missing required table", f"Add {header} with {example}.")
                tables[name] = [] if spec.array else self.table(name, spec, {}, name)
                continue
            if spec.array:
                items = raw[name]
                if not isinstance(items, list):
                    raise self.fail(name, f"expected an array of tables, got {_type_name(items)}",
                                    f"Write each entry under its own [[{name}]] header.")
                tables[name] = [self.table(name, spec, item, f"{name}[{i}]")
                                for i, item in enumerate(items)]
            else:
                tables[name] = self.table(name, spec, raw[name], name)
        return self.build(tables)

    def build(self, t: dict) -> Scenario:
        meta = t["scenario"]
        nations_raw = t["nation"]
        if not nations_raw:
            raise self.fail("nation", "no nations", 'Add at least one [[nation]] with id = "USA".')
        if len(nations_raw) > 256:
            raise self.fail("nation", f"{len(nations_raw)} nations", "Use at most 256 nations.")
        ids: list[str] = []
        for i, n in enumerate(nations_raw):
            if not NATION_CODE.match(n["id"]):
                raise self.fail(f"nation[{i}].id", f"{n['id']!r} is not an ISO 3166 alpha-3 code",
                                'Use three capital letters, e.g. id = "MEX".')
            if n["id"] in ids:
                raise self.fail(f"nation[{i}].id", f"{n['id']!r} is listed twice",
                                "List each nation once.")
            ids.append(n["id"])
        known = set(ids)
        ticks_max = meta["ticks_max"]

        partitions = []
        for i, p in enumerate(t["partition"]):
            path = f"partition[{i}]"
            seen: set[str] = set()
            for g in p["groups"]:
                for nation in g:
                    self._known(nation, known, f"{path}.groups")
                    if nation in seen:
                        raise self.fail(f"{path}.groups", f"{nation} is in two groups",
                                        "Put each nation in one group at most.")
                    seen.add(nation)
            if len(p["groups"]) < 1:
                raise self.fail(f"{path}.groups", "no groups",
                                'Write groups = [["USA", "MEX"], ["CAN", "CHN"]].')
            self._window(p, path)
            partitions.append(Partition(tuple(tuple(g) for g in p["groups"]), p["from_tick"],
                                        p["until_tick"]))

        behaviours = []
        for i, b in enumerate(t["behaviour"]):
            path = f"behaviour[{i}]"
            if not b["nations"]:
                raise self.fail(f"{path}.nations", "empty list", 'Name nations, e.g. ["CAN"].')
            for nation in b["nations"]:
                self._known(nation, known, f"{path}.nations")
            self._window(b, path)
            behaviours.append(Behaviour(tuple(b["nations"]), b["kind"], b["from_tick"],
                                        b["until_tick"]))
        lanes = self._lanes(t["lane"])
        workload = dict(t["workload"])
        if workload["trade_until_tick"] is None:
            workload["trade_until_tick"] = max(workload["trade_start_tick"], ticks_max * 6 // 10)
        elif workload["trade_until_tick"] < workload["trade_start_tick"]:
            raise self.fail("workload.trade_until_tick", "is before trade_start_tick",
                            "Make trade_until_tick at least trade_start_tick.")
        return Scenario(
            source=self.source, name=meta["name"], description=meta["description"],
            seed=meta["seed"], ticks_max=ticks_max,
            nations=tuple((n["id"], n["power"]) for n in nations_raw),
            network=t["network"], partitions=tuple(partitions), behaviours=tuple(behaviours),
            workload=workload, consensus=t["consensus"], expect=t["expect"],
            nation_rules={n["id"]: {"requires_pen": n["requires_pen"],
                                    "pen_silence": n["pen_silence"],
                                    "pen_reply_window_ticks": n["pen_reply_window_ticks"]}
                          for n in nations_raw},
            lanes=lanes, domain=t["domain"],
        )

    def _lanes(self, raw: list[dict]) -> tuple:
        """Scenario lanes: nations from the ISO table, known chemicals, shares summing to 1."""
        if not raw:
            return ()
        from nodes.registry import load_nations, load_registry
        iso = load_nations()
        registry = load_registry()
        sums: dict[str, float] = {}
        for i, lane in enumerate(raw):
            path = f"lane[{i}]"
            for key in ("from", "to"):
                if lane[key] not in iso:
                    raise self.fail(f"{path}.{key}", f"unknown nation {lane[key]!r}",
                                    "Use an ISO 3166 alpha-3 code listed in "
                                    "nodes/data/nations.csv, e.g. \"MEX\".")
            for nation in lane["via"]:
                if nation not in iso:
                    raise self.fail(f"{path}.via", f"unknown nation {nation!r}",
                                    "Use ISO 3166 alpha-3 codes from nodes/data/nations.csv.")
                if nation in (lane["from"], lane["to"]):
                    raise self.fail(f"{path}.via", f"{nation} is an end of the lane",
                                    "List only the nations between from and to.")
            if lane["from"] == lane["to"]:
                raise self.fail(f"{path}.to", "a lane must go to another nation",
                                "Make from and to different.")
            for chemical in lane["chemicals"]:
                if not registry.is_registered(chemical):
                    raise self.fail(f"{path}.chemicals", f"unknown chemical {chemical!r}",
                                    "Use ids from `chemtrace registry`: "
                                    + ", ".join(sorted(registry.chemicals)) + ".")
            if lane["share"] <= 0:
                raise self.fail(f"{path}.share", "share must be above 0", "e.g. share = 0.4")
            sums[lane["from"]] = sums.get(lane["from"], 0.0) + lane["share"]
        for exporter, total in sorted(sums.items()):
            if abs(total - 1.0) > 1e-6:
                raise self.fail("lane", f"the shares of lanes from {exporter} sum to {total:g}",
                                f"Make the shares of the lanes from {exporter} sum to 1.")
        return tuple(raw)

    def _known(self, nation: str, known: set[str], path: str) -> None:
        if nation not in known:
            raise self.fail(path, f"unknown nation {nation!r}",
                            f"Use one of the [[nation]] ids: {', '.join(sorted(known))}.")

    def _window(self, table: dict, path: str) -> None:
        until = table["until_tick"]
        if until is not None and until <= table["from_tick"]:
            raise self.fail(f"{path}.until_tick",
                            f"until_tick {until} is not after from_tick {table['from_tick']}",
                            "Make until_tick larger than from_tick, or omit it for a permanent "
                            "fault.")


def _type_name(value: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)
