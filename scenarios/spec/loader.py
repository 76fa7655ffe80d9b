"""Load and validate scenario files (TOML) into a `Scenario`.

Every error is a `ScenarioError` whose message names the file, the line where it can be found,
the key path (`behaviour[2].until_tick`), what is wrong, and what to write instead.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from scenarios.spec.locate import key_lines, line_of
from scenarios.spec.schema import (BEHAVIOURS, NATIONS_MAX, REQUIRED, SCHEMA, BehaviourKind, Key,
                                   Table)

NATION_CODE = re.compile(r"^[A-Z]{3}$")


DEFAULT_LANES_PATH = Path(__file__).resolve().parents[1] / "data" / "lanes.toml"


class ScenarioError(ValueError):
    """A scenario that cannot run: the user's file is wrong. The message says how to fix it."""


@dataclass(frozen=True)
class Partition:
    groups: tuple[tuple[str, ...], ...]
    from_tick: int
    until_tick: int | None
    direction: str = "both"  # or "outbound" / "inbound", relative to groups[0]
    rounds: tuple[int, ...] = ()  # a round partition: only consensus messages of these rounds
    heights: tuple[int, ...] = ()  # ... and of these heights (empty: all)
    leaders: tuple[str, ...] = ()  # ... or of the rounds these nations lead (with rounds: both)


@dataclass(frozen=True)
class Behaviour:
    nations: tuple[str, ...]
    kind: BehaviourKind
    from_tick: int
    until_tick: int | None
    params: dict = field(default_factory=dict)

    def active(self, tick: int) -> bool:
        return self.from_tick <= tick and (self.until_tick is None or tick < self.until_tick)


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
    custom: tuple = ()  # CustomBehaviour objects from a Python scenario script
    sources: tuple = ()  # [[source]] tables: each exporter's share of the total mass
    inspection: dict = None  # type: ignore[assignment]
    ticks_per_trade_day: int = 100
    trade_epoch: str = "2025-01-01"
    privacy: dict = None  # type: ignore[assignment]  # None: no [privacy] table (plaintext)

    @property
    def nation_ids(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.nations)

    def with_overrides(self, seed: int | None = None, ticks_max: int | None = None) -> "Scenario":
        """This scenario with the command line's `--seed` and `--ticks-max`, held to the same
        bounds as the file's `[scenario]` keys (ScenarioError naming the flag otherwise)."""
        from dataclasses import replace
        table = SCHEMA["scenario"].keys
        for flag, key, value in (("--seed", "seed", seed), ("--ticks-max", "ticks_max", ticks_max)):
            bound = table[key]
            if value is not None and not bound.minimum <= value <= bound.maximum:
                raise ScenarioError(f"{flag} {value}: out of range; like [scenario] {key}, it "
                                    f"must be {bound.minimum:,} to {bound.maximum:,}")
        return replace(self, seed=self.seed if seed is None else seed,
                       ticks_max=self.ticks_max if ticks_max is None else ticks_max)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    if path.suffix == ".py":
        return _load_script(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not a text file in UTF-8 (byte 0x{exc.object[exc.start]:02x} "
                            f"at offset {exc.start}); a scenario is a TOML text file, such as "
                            f"scenarios/library/baseline.toml") from None
    if "\0" in text:
        raise ScenarioError(f"{path}: a binary file (a NUL byte at offset {text.index(chr(0))}); "
                            f"a scenario is a TOML text file, such as "
                            f"scenarios/library/baseline.toml")
    return parse_scenario(text, str(path))


def _load_script(path: Path) -> Scenario:
    """Run a Python scenario script and call its `scenario()` function."""
    import importlib.util
    if not path.exists():
        raise ScenarioError(f"{path}: cannot read the scenario file (no such file)")
    spec = importlib.util.spec_from_file_location(f"chemtrace_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except ScenarioError:
        raise
    except Exception as exc:  # the user's script failed: say where, keep the cause
        raise ScenarioError(f"{path}: the script raised {type(exc).__name__}: {exc}") from exc
    build = getattr(module, "scenario", None)
    if not callable(build):
        raise ScenarioError(f"{path}: a scenario script must define a function scenario() that "
                            f"returns a Scenario (see scenarios/api.py)")
    try:
        result = build()
    except ScenarioError as exc:
        if str(path) in str(exc):
            raise
        raise ScenarioError(f"{path}: {exc}") from exc
    except Exception as exc:
        raise ScenarioError(f"{path}: scenario() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(result, Scenario):
        raise ScenarioError(f"{path}: scenario() returned {type(result).__name__}, not a "
                            f"Scenario; build one with scenarios.api.parse_scenario")
    return result


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    return _Checker(text, source).scenario(raw)


class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._lines: dict | None = None  # key path -> line, worked out at the first error

    # ------------------------------------------------------------------ error reporting

    def fail(self, path: str, problem: str, fix: str) -> ScenarioError:
        line = self._line_of(path)
        where = f"{self.source}:{line}" if line else self.source
        return ScenarioError(f"{where}: {path}: {problem}. {fix}")

    def _line_of(self, path: str) -> int | None:
        """The line of a key path such as `behaviour[1].until_tick` in any TOML form: headers,
        dotted keys, inline tables and arrays of inline tables (scenarios/spec/locate.py)."""
        if self._lines is None:
            self._lines = key_lines(self.text)
        return line_of(self._lines, path)

    # ------------------------------------------------------------------ generic checks

    def table(self, name: str, spec: Table, raw: object, path: str) -> dict:
        if not isinstance(raw, dict):
            kind = "[[%s]]" % name if spec.array else "[%s]" % name
            raise self.fail(path, f"expected a table, got {_type_name(raw)}",
                            f"Write it as a {kind} table.")
        out = {}
        header = f"[[{name}]]" if spec.array else f"[{name}]"  # as the file writes it
        for key in raw:
            if key not in spec.keys:
                allowed = ", ".join(sorted(spec.keys))
                raise self.fail(f"{path}.{key}", "unknown key",
                                f"Allowed keys in {header} are: {allowed}.")
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
        elif t == "list[int]":
            ok = isinstance(value, list) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)
            if ok:
                for i, item in enumerate(value):  # type: ignore[arg-type]
                    if not k.minimum <= item <= k.maximum:  # type: ignore[operator]
                        raise self.fail(f"{path}[{i}]", f"{item} is out of range",
                                        f"Use values from {k.minimum} to {k.maximum}, e.g. "
                                        f"{k.example}")
                return list(value)  # type: ignore[arg-type]
        elif t == "safety":
            ok = isinstance(value, bool) or value == "any"
        elif t == "params":
            ok = isinstance(value, dict)
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
        elif t == "tables":  # an array of tables inside a table, such as [[network.link]]
            if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
                raise self.fail(path, f"expected an array of tables, got {_type_name(value)}",
                                f"Write each entry under its own [[{path}]] header, e.g. "
                                f"{k.example}")
            return [self.table(path, k.table, item, f"{path}[{i}]")  # type: ignore[arg-type]
                    for i, item in enumerate(value)]
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
        if k.choices is not None and t == "list[str]":
            for item in value:  # type: ignore[union-attr]
                if item not in k.choices:
                    raise self.fail(path, f"unknown value {item!r}",
                                    f"Allowed values are: {', '.join(k.choices)}.")
        elif k.choices is not None and value not in k.choices:
            raise self.fail(path, f"unknown value {value!r}",
                            f"Allowed values are: {', '.join(k.choices)}.")
        return value

    # ------------------------------------------------------------------ the scenario

    def scenario(self, raw: dict) -> Scenario:
        self.raw = raw  # for checks that depend on whether a key was written, not its default
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
        nations_raw = self._nations(t["nations"], t["nation"])
        ids: list[str] = [n["id"] for n in nations_raw]
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
            if p["heights"] and not (p["rounds"] or p["leaders"]):
                raise self.fail(f"{path}.heights", "heights without rounds or leaders",
                                "Name the rounds to cut too, e.g. rounds = [0] (or the nations "
                                'whose rounds to cut, leaders = ["USA"]), or remove heights.')
            for nation in p["leaders"]:
                self._known(nation, known, f"{path}.leaders")
            partitions.append(Partition(tuple(tuple(g) for g in p["groups"]), p["from_tick"],
                                        p["until_tick"], p["direction"],
                                        tuple(sorted(set(p["rounds"]))),
                                        tuple(sorted(set(p["heights"]))),
                                        tuple(sorted(set(p["leaders"])))))

        behaviours = []
        for i, b in enumerate(t["behaviour"]):
            path = f"behaviour[{i}]"
            if not b["nations"]:
                raise self.fail(f"{path}.nations", "empty list", 'Name nations, e.g. ["CAN"].')
            for nation in b["nations"]:
                self._known(nation, known, f"{path}.nations")
            self._window(b, path)
            params = self._params(b, path, known)
            if b["kind"] == BehaviourKind.OPT_OUT and (b["from_tick"] != 0
                                                       or b["until_tick"] is not None):
                raise self.fail(f"{path}.from_tick", "opt_out applies to the whole run",
                                "Remove from_tick and until_tick from this behaviour.")
            if b["kind"] == BehaviourKind.OPT_OUT and \
                    t["privacy"]["mode"] in params["joins_under"]:
                continue  # it joins under this privacy mode: no opt-out in this run
            behaviours.append(Behaviour(tuple(b["nations"]), BehaviourKind(b["kind"]),
                                        b["from_tick"], b["until_tick"], params))
        opted = [n for b in behaviours
                 if b.kind == BehaviourKind.OPT_OUT and b.params["mode"] == "full"
                 for n in b.nations]
        if len(set(opted)) >= len(ids):
            raise self.fail("behaviour", "every nation opts out",
                            "Leave at least one nation in the consortium.")
        lanes = self._lanes(t["lane"])
        sources = self._sources(t["source"], lanes)
        if not _is_iso_date(meta["trade_epoch"]):
            raise self.fail("scenario.trade_epoch", f"{meta['trade_epoch']!r} is not a date",
                            'Write the date of tick 0 as "YYYY-MM-DD", e.g. '
                            'trade_epoch = "2025-01-01".')
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
            network=self._network(t["network"], ids, ticks_max), partitions=tuple(partitions),
            behaviours=tuple(behaviours),
            workload=workload, consensus=t["consensus"], expect=t["expect"],
            nation_rules={n["id"]: {"requires_pen": n["requires_pen"],
                                    "pen_silence": n["pen_silence"],
                                    "pen_reply_window_ticks": n["pen_reply_window_ticks"],
                                    "objects_to": list(n["objects_to"]),
                                    "inspection_budget": n["inspection_budget"]}
                          for n in nations_raw},
            lanes=lanes, domain=t["domain"], sources=sources, inspection=t["inspection"],
            ticks_per_trade_day=meta["ticks_per_trade_day"], trade_epoch=meta["trade_epoch"],
            privacy=self._privacy(t["privacy"], known) if "privacy" in self.raw else None,
        )

    def _privacy(self, privacy: dict, known: set[str]) -> dict:
        for nation in privacy["oversight"]:
            self._known(nation, known, "privacy.oversight")
        if "oversight_access" in self.raw["privacy"] and not privacy["oversight"]:
            raise self.fail("privacy.oversight_access", "has no effect without oversight "
                            "nations", 'Add oversight = ["USA"] (a nation of the scenario).')
        if privacy.get("grantors") is not None:
            for nation in privacy["grantors"]:
                self._known(nation, known, "privacy.grantors")
            if privacy["oversight_access"] != "on_flag":
                raise self.fail("privacy.grantors", "has no effect unless oversight_access = "
                                "\"on_flag\"", 'Remove it, or set oversight_access = "on_flag".')
        if privacy["mode"] != "committed-quantities" and "tolerance_g" in self.raw["privacy"]:
            raise self.fail("privacy.tolerance_g", f"has no effect with mode = "
                            f"\"{privacy['mode']}\"",
                            'Remove it, or set mode = "committed-quantities".')
        return dict(privacy)

    def _nations(self, preset: dict, explicit: list[dict]) -> list[dict]:
        """The consortium: a [nations] preset (UN members in alpha-3 order), with [[nation]]
        entries overriding a preset nation in place or adding one at the end."""
        given = "nations" in self.raw
        if not given and not explicit:
            raise self.fail("nation", "missing required table",
                            'Add [[nation]] with id = "USA", or [nations] with '
                            'preset = "un-members" or count = 16.')
        codes: list[str] = []
        if given:
            if preset["preset"] is not None and preset["count"] is not None:
                raise self.fail("nations.count", "preset and count are both given",
                                'Keep one: preset = "un-members" (all 193 UN members) or '
                                "count = 16 (the first 16 in alpha-3 order).")
            if preset["preset"] is None and preset["count"] is None:
                raise self.fail("nations", "neither preset nor count is given",
                                'Add preset = "un-members" or count = 16.')
            from nodes.app.registry import un_members
            members = un_members()
            codes = members if preset["preset"] == "un-members" else members[:preset["count"]]
        rules = {k: key.default for k, key in SCHEMA["nation"].keys.items() if k != "id"}
        if given:
            rules["power"] = preset["power"]
        out: dict[str, dict] = {code: {"id": code, **rules} for code in codes}
        seen: set[str] = set()
        for i, n in enumerate(explicit):
            if not NATION_CODE.match(n["id"]):
                raise self.fail(f"nation[{i}].id", f"{n['id']!r} is not an ISO 3166 alpha-3 code",
                                'Use three capital letters, e.g. id = "MEX".')
            if n["id"] in seen:
                raise self.fail(f"nation[{i}].id", f"{n['id']!r} is listed twice",
                                "List each nation once.")
            seen.add(n["id"])
            entry = dict(n)
            if given and "power" not in self.raw["nation"][i]:
                entry["power"] = preset["power"]
            out[n["id"]] = entry  # a preset nation keeps its place
        if len(out) > NATIONS_MAX:
            raise self.fail("nation", f"{len(out)} nations",
                            f"Use at most {NATIONS_MAX} nations.")
        return list(out.values())

    def _network(self, net: dict, ids: list[str], ticks_max: int) -> dict:
        """Cross-key checks of [network], its [[network.link]] and [[network.change]] tables."""
        written = self.raw.get("network", {})
        regions = net["model"] == "regions"
        unused, used_by = ("latency_ticks", "uniform") if regions else ("latency_scale",
                                                                       "regions")
        fix = ('Remove it: with model = "regions" the region matrix gives the latency; scale it '
               "with latency_scale, or name a pair in [[network.link]]." if regions else
               'Remove it, or set model = "regions" in [network].')
        if unused in written:
            raise self.fail(f"network.{unused}", f'{unused} is only used with model = '
                            f'"{used_by}"', fix)
        if regions:
            from nodes.app.registry import load_nations

            from scenarios.spec.regions import load_regions
            iso, matrix = load_nations(), load_regions()
            for n in ids:
                if n not in iso or (iso[n].region, iso[n].region) not in matrix:
                    raise self.fail("network.model", f"nation {n} has no region in "
                                    "nodes/data/nations.csv and scenarios/data/regions.toml",
                                    'Use model = "uniform", or nations listed in '
                                    "nodes/data/nations.csv.")
        known = set(ids)
        pairs: dict[tuple[str, str], int] = {}
        settings = ("latency_ticks", "jitter_ticks", "loss_probability", "duplicate_probability")
        for i, link in enumerate(net["link"]):
            path = f"network.link[{i}]"
            for end in ("from", "to"):
                self._known(link[end], known, f"{path}.{end}")
            if link["from"] == link["to"]:
                raise self.fail(f"{path}.to", "a link must join two different nations",
                                "Make from and to different.")
            if all(link[k] is None for k in settings):
                raise self.fail(path, "the link sets nothing",
                                f"Add one of: {', '.join(settings)}.")
            directed = [(link["from"], link["to"])]
            if link["symmetric"]:
                directed.append((link["to"], link["from"]))
            for pair in directed:
                if pair in pairs:
                    raise self.fail(f"{path}.to", f"the link {pair[0]} -> {pair[1]} is already "
                                    f"set by network.link[{pairs[pair]}]",
                                    "Name each direction of a pair once (symmetric = true "
                                    "covers both).")
                pairs[pair] = i
        previous = None
        for i, change in enumerate(net["change"]):
            path = f"network.change[{i}]"
            at = change["at_tick"]
            if at >= ticks_max:
                raise self.fail(f"{path}.at_tick", f"at_tick {at} is not before ticks_max "
                                f"{ticks_max}", f"Use a tick from 0 to {ticks_max - 1}, or raise "
                                "ticks_max in [scenario].")
            if previous is not None and at <= previous:
                raise self.fail(f"{path}.at_tick", f"at_tick {at} is not after the previous "
                                f"change's at_tick {previous}",
                                "List the changes in order of at_tick, one change per tick.")
            previous = at
            if change[unused] is not None:
                raise self.fail(f"{path}.{unused}", f'{unused} is only used with model = '
                                f'"{used_by}"', fix)
            if all(v is None for k, v in change.items() if k != "at_tick"):
                raise self.fail(path, "the change sets nothing",
                                "Add a new value, e.g. loss_probability = 0.1.")
        return net

    def _lanes(self, raw: list[dict]) -> tuple:
        """Scenario lanes: nations from the ISO table, known chemicals, shares summing to 1."""
        if not raw:
            return ()
        from nodes.app.registry import load_nations, load_registry
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

    def _sources(self, raw: list[dict], lanes: tuple) -> tuple:
        """[[source]] shares: known exporters, each once, summing to 1."""
        if not raw:
            return ()
        exporters = {lane["from"] for lane in lanes}
        if not lanes:
            from nodes.app.registry import load_lanes
            exporters = {lane.from_ for lane in load_lanes(DEFAULT_LANES_PATH)}
        seen: set[str] = set()
        for i, source in enumerate(raw):
            path = f"source[{i}]"
            if source["nation"] not in exporters:
                raise self.fail(f"{path}.nation", f"{source['nation']!r} is the source of no lane",
                                "Name the `from` of a [[lane]]: "
                                + ", ".join(sorted(exporters)) + ".")
            if source["nation"] in seen:
                raise self.fail(f"{path}.nation", f"{source['nation']} is listed twice",
                                "Give each source one [[source]] table.")
            seen.add(source["nation"])
        total = sum(source["share"] for source in raw)
        if abs(total - 1.0) > 1e-6:
            raise self.fail("source", f"the [[source]] shares sum to {total:g}",
                            "Make the shares of the [[source]] tables sum to 1.")
        missing = sorted(exporters - seen)
        if missing:
            raise self.fail("source", f"no [[source]] for {', '.join(missing)}",
                            f"Add a [[source]] with nation = \"{missing[0]}\" and its share, "
                            "or remove its lanes.")
        return tuple(raw)

    def _known(self, nation: str, known: set[str], path: str) -> None:
        if nation not in known:
            raise self.fail(path, f"unknown nation {nation!r}",
                            f"Use one of the [[nation]] ids: {', '.join(sorted(known))}.")

    def _params(self, b: dict, path: str, known: set[str]) -> dict:
        """Check a behaviour's params against its kind's list; fill in defaults."""
        _, spec = BEHAVIOURS[b["kind"]]
        out = {}
        for name in b["params"]:
            if name not in spec:
                allowed = ", ".join(sorted(spec)) or "none"
                raise self.fail(f"{path}.params.{name}", f"unknown param for kind "
                                f"{b['kind']!r}", f"Params of {b['kind']} are: {allowed}.")
        for name, key in spec.items():
            if name in b["params"]:
                out[name] = self.value(key, b["params"][name], f"{path}.params.{name}")
            elif key.default is REQUIRED:
                raise self.fail(f"{path}.params.{name}", "missing required param",
                                f"Add: {key.example}")
            else:
                out[name] = key.default
        for nation in out.get("nations", ()):
            self._known(nation, known, f"{path}.params.nations")
        return out

    def _window(self, table: dict, path: str) -> None:
        until = table["until_tick"]
        if until is not None and until <= table["from_tick"]:
            raise self.fail(f"{path}.until_tick",
                            f"until_tick {until} is not after from_tick {table['from_tick']}",
                            "Make until_tick larger than from_tick, or omit it for a permanent "
                            "fault.")


def _is_iso_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _type_name(value: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)
