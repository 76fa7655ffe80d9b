"""Reference data every node loads: the chemical registry, the nations, and the trade lanes.

Theory of operation
-------------------
Three shipped files hold the facts that the chaincode and the workload rely on:

- `nodes/data/chemicals.toml`: one `[[chemical]]` table per tracked chemical (CAS number, HS code,
  1988 Convention table, national control status with effective dates, maximum yield, sources),
  `watched_hs_codes`, the customs subheadings under which an unregistered chemical is flagged,
  and one `[[transformation]]` table per synthesis step (input, product, the step's maximum
  yield and how it was computed);
- `nodes/data/nations.csv`: every ISO 3166-1 entry, keyed by alpha-3, with UN membership and a
  continental region (the region drives the latency matrix);
- `scenarios/data/lanes.toml`: the default trade-route graph (source, destination, transit
  nations, mass share). A scenario may bring its own `[[lane]]` tables instead; `parse_lanes`
  validates those the same way.

The files are data written by people, so every check here is about telling that person what to
fix. A `RegistryError` names the file (and line where it can be found), the row (`chemical[3]`,
`lane[2]`, or the CSV line), the field, what is wrong, and what to write instead. Rows count from
0, as in the scenario loader. Loading is all-or-nothing: the first error stops the load, so a node
never runs on half a registry.

Everything here is plain data: no networkx (the graph is built elsewhere), no clock, no randomness.
Dates are ISO strings (`YYYY-MM-DD`), compared as strings, which orders them correctly.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
CHEMICALS_PATH = DATA_DIR / "chemicals.toml"
NATIONS_PATH = DATA_DIR / "nations.csv"

STATUSES = ("controlled", "watched", "uncontrolled")
CONVENTION_TABLES = ("I", "II", "")
REGIONS = (
    "north_america", "central_america", "caribbean", "south_america", "europe", "africa",
    "middle_east", "south_asia", "east_asia", "southeast_asia", "central_asia", "oceania",
    "antarctica",
)
# Nations whose control status every chemical must state (nodes/data/README.md).
NATIONS_REQUIRED = ("CAN", "CHN", "MEX", "USA")
NATIONS_CSV_HEADER = ("alpha3", "name", "un_member", "region")
UN_MEMBERS_COUNT = 193  # United Nations member states since South Sudan joined in 2011.
SHARE_SUM_TOLERANCE = 1e-6

# Limits: the files are small; anything far beyond these is a mistake, not data.
FILE_BYTES_MAX = 4 * 1024 * 1024
CHEMICALS_MAX = 4096
NAMES_PER_CHEMICAL_MAX = 32
SOURCES_PER_CHEMICAL_MAX = 64
NATIONS_MAX = 1024
LANES_MAX = 4096
VIA_MAX = 16
YIELD_MAX_LIMIT = 100.0  # kg of product per kg: no real precursor comes near this.
TRANSFORMATIONS_MAX = 4096
# Products that are not registry chemicals: the licensed pharmaceuticals yields are measured in.
END_PRODUCTS = ("fentanyl", "acetylfentanyl")

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
CAS_RE = re.compile(r"^(\d{2,7})-(\d{2})-(\d)$")
HS_RE = re.compile(r"^\d{4}\.\d{2}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ALPHA3_RE = re.compile(r"^[A-Z]{3}$")


class RegistryError(ValueError):
    """A registry, nations or lanes file that cannot be used. The message says how to fix it."""


# ---------------------------------------------------------------------------------- the records


@dataclass(frozen=True, slots=True)
class NationalControl:
    """A chemical's status in one nation, and the ISO date it took effect ("" if none)."""

    status: str
    effective: str

    def in_force(self, date_iso: str) -> bool:
        return self.status == "controlled" and self.effective != "" and self.effective <= date_iso


@dataclass(frozen=True, slots=True)
class Chemical:
    id: str
    names: tuple[str, ...]
    cas: str
    hs_code: str
    convention_table: str
    convention_effective: str
    dual_use: bool
    yield_max: float
    national: dict[str, NationalControl]
    sources: tuple[str, ...]
    yield_basis: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Transformation:
    """One synthesis step: at most `yield_max` kg of `product` per kg of `input`."""

    input: str
    product: str  # a registered id, or one of END_PRODUCTS
    yield_max: float
    yield_basis: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Nation:
    alpha3: str
    name: str
    un_member: bool
    region: str


@dataclass(frozen=True, slots=True)
class Lane:
    from_: str
    to: str
    via: tuple[str, ...]
    share: float
    chemicals: tuple[str, ...]  # empty: any registered chemical may travel on the lane
    basis: str

    @property
    def path(self) -> tuple[str, ...]:
        """Every nation the goods pass through, in order: source, transits, destination."""
        return (self.from_, *self.via, self.to)


@dataclass(frozen=True, slots=True)
class Registry:
    chemicals: dict[str, Chemical]
    by_cas: dict[str, Chemical]
    watched_hs_codes: frozenset[str]
    # (input, product) -> the step; empty for a registry file with no [[transformation]] tables
    transformations: dict[tuple[str, str], Transformation] = field(default_factory=dict)

    def is_registered(self, chemical_id: str) -> bool:
        return chemical_id in self.chemicals

    def is_watched(self, hs_code: str) -> bool:
        return hs_code in self.watched_hs_codes

    def controlled_in(self, chemical_id: str, nation: str, date_iso: str) -> bool:
        """True when `nation` lists the chemical as controlled, effective on or before the date.

        A nation the registry says nothing about is not known to control it: False. An unknown
        chemical id is the caller's bug (check `is_registered` first): KeyError.
        """
        if not _is_iso_date(date_iso):
            raise ValueError(f"date {date_iso!r} is not an ISO date; write it as YYYY-MM-DD")
        chemical = self.chemicals.get(chemical_id)
        if chemical is None:
            raise KeyError(f"unknown chemical id {chemical_id!r}; registered ids are: "
                           f"{', '.join(sorted(self.chemicals))}")
        control = chemical.national.get(nation)
        return control is not None and control.in_force(date_iso)


# ---------------------------------------------------------------------------------- CAS numbers


def cas_check_digit(cas_body: str) -> int:
    """The check digit of a CAS number's digits before it: weights 1, 2, 3... from the right."""
    return sum(weight * int(digit) for weight, digit in enumerate(reversed(cas_body), 1)) % 10


def cas_check_digit_ok(cas: str) -> bool:
    """True when `cas` is shaped like a CAS Registry Number and its check digit is right."""
    if not isinstance(cas, str):
        return False
    match = CAS_RE.match(cas)
    if match is None:
        return False
    return cas_check_digit(match.group(1) + match.group(2)) == int(match.group(3))


# ---------------------------------------------------------------------------------- loading


def load_registry(path: str | Path | None = None,
                  nations: Mapping[str, Nation] | None = None) -> Registry:
    """Load and validate a chemicals file (default: the shipped `nodes/data/chemicals.toml`).

    National control keys are checked against `nations` (default: the shipped nations.csv).
    """
    path = CHEMICALS_PATH if path is None else Path(path)
    text = _read_text(path)
    raw = _parse_toml(text, str(path))
    if nations is None:
        nations = load_nations()
    return _RegistryChecker(_Toml(text, str(path)), nations).registry(raw)


def load_nations(path: str | Path | None = None) -> dict[str, Nation]:
    """Load and validate a nations CSV (default: the shipped `nodes/data/nations.csv`).

    Returns the nations keyed by ISO 3166 alpha-3, in file order.
    """
    path = NATIONS_PATH if path is None else Path(path)
    return _parse_nations(_read_text(path), str(path))


def un_members(nations: Mapping[str, Nation] | None = None) -> list[str]:
    """The alpha-3 codes of the UN member states, sorted."""
    if nations is None:
        nations = load_nations()
    return sorted(code for code, nation in nations.items() if nation.un_member)


def load_lanes(path: str | Path, nations: Mapping[str, Nation] | None = None,
               registry: Registry | None = None) -> list[Lane]:
    """Load and validate a lanes file such as `scenarios/data/lanes.toml`.

    Lane nations must be in `nations` (default: the shipped nations.csv); lane chemicals must be
    in `registry` (default: the shipped chemicals.toml).
    """
    path = Path(path)
    text = _read_text(path)
    source = str(path)
    raw = _parse_toml(text, source)
    toml = _Toml(text, source)
    allowed = {"basis": "str", "notes": "str", "sources": "list[str]", "lane": "lanes"}
    for key in raw:
        if key not in allowed:
            raise toml.fail("", key, "unknown top-level key",
                            f"allowed top-level keys are: {', '.join(sorted(allowed))}")
    for key in ("basis", "notes"):
        if key in raw and not isinstance(raw[key], str):
            raise toml.fail("", key, f"expected a string, got {_type_name(raw[key])}",
                            f'write it like: {key} = "..."')
    if "sources" in raw and not _is_str_list(raw["sources"]):
        raise toml.fail("", "sources", "expected a list of strings",
                        'write it like: sources = ["Title, date, https://..."]')
    if "lane" not in raw:
        raise toml.fail("", "lane", "missing",
                        'add at least one [[lane]] table with from, to and share')
    if nations is None:
        nations = load_nations()
    if registry is None:
        registry = load_registry(nations=nations)
    return _check_lanes(toml, raw["lane"], nations, registry.chemicals)


def parse_lanes(items: object, source: str, nations: Mapping[str, Nation],
                chemical_ids: Collection[str], text: str = "") -> list[Lane]:
    """Validate `[[lane]]` tables already parsed from TOML (a scenario's own lanes).

    `source` names the file in error messages; pass the file's `text` to get line numbers too.
    """
    return _check_lanes(_Toml(text, source), items, nations, chemical_ids)


# ---------------------------------------------------------------------------------- internals


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the file ({exc.strerror}); "
                            "check the path") from None
    if size > FILE_BYTES_MAX:
        raise RegistryError(f"{path}: file is {size} bytes, above the limit of {FILE_BYTES_MAX}; "
                            "this is not a registry file, or it must be split")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise RegistryError(f"{path}: cannot read the file ({reason}); "
                            "save it as UTF-8 text") from None


def _parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: not valid TOML ({exc}); fix the syntax there") from None


def _is_iso_date(value: object) -> bool:
    if not isinstance(value, str) or DATE_RE.match(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _type_name(value: object) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


class _Toml:
    """Error reporting for one TOML file: finds the line of `chemical[2].cas`, best effort."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    def fail(self, row: str, field: str, problem: str, fix: str) -> RegistryError:
        """`row` is like `chemical[2]` ("" for a top-level key); `field` like `cas`."""
        line = self._line_of(row, field)
        where = f"{self.source}:{line}" if line else self.source
        path = f"{row}.{field}" if row and field else (row or field)
        return RegistryError(f"{where}: {path}: {problem}; {fix}")

    def _line_of(self, row: str, field: str) -> int | None:
        # `national.CHN.status` is found at `national.CHN =`, else at `CHN =` under a
        # [chemical.national] header, else at the first `national` line: most specific first.
        parts = [p.split("[")[0] for p in field.split(".")] if field else []
        patterns: list[re.Pattern[str]] = []
        if len(parts) >= 2:
            patterns.append(re.compile(r"^\s*%s\s*\.\s*%s\s*=" % (re.escape(parts[0]),
                                                                   re.escape(parts[1]))))
            patterns.append(re.compile(r"^\s*%s\s*=" % re.escape(parts[1])))
        if parts:
            patterns.append(re.compile(r"^\s*%s\s*[=.]" % re.escape(parts[0])))
        if not row:
            start = 0
            end = next((i for i, line in enumerate(self.lines) if re.match(r"^\s*\[", line)),
                       len(self.lines))  # top-level keys end at the first table header
        else:
            m = re.match(r"^(\w+)\[(\d+)\]$", row)
            if m is None:
                return None
            header = re.compile(r"^\s*\[\[\s*%s\s*\]\]" % re.escape(m.group(1)))
            starts = [i for i, line in enumerate(self.lines) if header.match(line)]
            index = int(m.group(2))
            if index >= len(starts):
                return None
            start = starts[index]
            end = starts[index + 1] if index + 1 < len(starts) else len(self.lines)
        for pattern in patterns:
            for i in range(start, end):
                if pattern.match(self.lines[i]):
                    return i + 1
        return start + 1 if row else None


_CHEMICAL_KEYS: dict[str, tuple[bool, str]] = {
    # key: (required, example used in the fix of a missing or mistyped key)
    "id": (True, 'id = "npp"'),
    "names": (True, 'names = ["NPP", "N-phenethyl-4-piperidone"]'),
    "cas": (True, 'cas = "39742-60-4"'),
    "hs_code": (True, 'hs_code = "2933.39"'),
    "convention_table": (True, 'convention_table = "I"  (or "II", or "" when not listed)'),
    "convention_effective": (True, 'convention_effective = "2024-12-03"  (or "" when not listed)'),
    "dual_use": (True, "dual_use = false"),
    "yield_max": (True, "yield_max = 1.655"),
    "yield_basis": (True, 'yield_basis = "1 mol gives at most 1 mol fentanyl; 336.48/203.28"'),
    "national": (True, 'national.USA = { status = "controlled", effective = "2007-04-23" }'),
    "sources": (True, 'sources = ["DEA final rule, 85 FR 20822, https://..."]'),
    "notes": (False, 'notes = "what could not be verified"'),
}
_TRANSFORMATION_KEYS: dict[str, tuple[bool, str]] = {
    "input": (True, 'input = "4-piperidone"'),
    "product": (True, 'product = "npp"  (a registered id, or "fentanyl" / "acetylfentanyl")'),
    "yield_max": (True, "yield_max = 2.051"),
    "yield_basis": (True, 'yield_basis = "1 mol C5H9NO (99.13) gives 1 mol C13H17NO (203.28)"'),
    "sources": (True, 'sources = ["DEA final rule, 88 FR 21902, https://..."]'),
    "notes": (False, 'notes = "what could not be verified"'),
}
_TOP_KEYS = {"watched_hs_codes": True, "chemical": True, "transformation": False, "notes": False}


def _table_reader(toml: _Toml, row: str, item: object, keys: Mapping[str, tuple[bool, str]],
                  header: str):
    """Check a table's keys (none unknown, every required one there) and return `text(key)`,
    which reads a string field or fails with the key's example."""
    fail = toml.fail
    if not isinstance(item, dict):
        raise fail(row, "", f"expected a table, got {_type_name(item)}",
                   f"write each {header} under its own [[{header}]] header")
    for key in item:
        if key not in keys:
            raise fail(row, key, "unknown key", f"allowed keys are: {', '.join(keys)}")
    for key, (required, example) in keys.items():
        if required and key not in item:
            raise fail(row, key, "missing", f"add {example}")

    def text(key: str) -> str:
        value = item[key]
        if not isinstance(value, str):
            raise fail(row, key, f"expected a string, got {_type_name(value)} {value!r}",
                       f"write it like: {keys[key][1]}")
        return value

    return text


def _yield(fail, row: str, item: dict, text, keys: Mapping[str, tuple[bool, str]]
           ) -> tuple[float, str]:
    """`yield_max` in (0, YIELD_MAX_LIMIT] and a non-empty `yield_basis`."""
    value = item["yield_max"]
    if not _is_number(value):
        raise fail(row, "yield_max", f"expected a number, got {_type_name(value)}",
                   f"write kg of product per kg, e.g. {keys['yield_max'][1]}")
    if not 0 < value <= YIELD_MAX_LIMIT:
        raise fail(row, "yield_max", f"{value!r} is out of range",
                   f"use a number above 0 and at most {YIELD_MAX_LIMIT:g} (kg per kg)")
    basis = text("yield_basis")
    if not basis.strip():
        raise fail(row, "yield_basis", "empty",
                   "say how yield_max was computed (formulas, molar masses, ratio)")
    return float(value), basis


def _sources(fail, row: str, value: object, example: str) -> tuple[str, ...]:
    if not _is_str_list(value) or not value:
        raise fail(row, "sources", "expected a non-empty list of strings",
                   f"write it like: {example}")
    if len(value) > SOURCES_PER_CHEMICAL_MAX:
        raise fail(row, "sources", f"{len(value)} sources, above {SOURCES_PER_CHEMICAL_MAX}",
                   "keep the primary sources")
    if not any("http://" in s or "https://" in s for s in value):
        raise fail(row, "sources", "no source has a URL",
                   "cite at least one source with its address (https://...)")
    return tuple(value)


class _RegistryChecker:
    def __init__(self, toml: _Toml, nations: Mapping[str, Nation]) -> None:
        self.toml = toml
        self.nations = nations

    def registry(self, raw: dict) -> Registry:
        fail = self.toml.fail
        for key in raw:
            if key not in _TOP_KEYS:
                raise fail("", key, "unknown top-level key",
                           f"allowed top-level keys are: {', '.join(sorted(_TOP_KEYS))}")
        if "watched_hs_codes" not in raw:
            raise fail("", "watched_hs_codes", "missing",
                       'add watched_hs_codes = ["2933.39", ...] before the first [[chemical]]')
        if "notes" in raw and not isinstance(raw["notes"], str):
            raise fail("", "notes", f"expected a string, got {_type_name(raw['notes'])}",
                       'write it like: notes = "..."')
        watched = self.watched(raw["watched_hs_codes"])
        items = raw.get("chemical")
        if not isinstance(items, list) or not items:
            raise fail("", "chemical", "no [[chemical]] tables",
                       "add at least one [[chemical]] table")
        if len(items) > CHEMICALS_MAX:
            raise fail("", "chemical", f"{len(items)} chemicals, above the limit {CHEMICALS_MAX}",
                       "split the registry or raise CHEMICALS_MAX")
        chemicals: dict[str, Chemical] = {}
        by_cas: dict[str, Chemical] = {}
        row_of: dict[str, int] = {}
        for index, item in enumerate(items):
            chemical = self.chemical(index, item)
            row = f"chemical[{index}]"
            if chemical.id in chemicals:
                raise fail(row, "id", f"duplicate id {chemical.id!r} "
                           f"(also chemical[{row_of[chemical.id]}])",
                           "give each chemical its own id, or merge the two tables")
            if chemical.cas in by_cas:
                raise fail(row, "cas", f"duplicate CAS number {chemical.cas!r} "
                           f"(also chemical[{row_of[by_cas[chemical.cas].id]}])",
                           "one table per CAS number: merge the two, or fix the number")
            chemicals[chemical.id] = chemical
            by_cas[chemical.cas] = chemical
            row_of[chemical.id] = index
        return Registry(chemicals=chemicals, by_cas=by_cas, watched_hs_codes=watched,
                        transformations=self.transformations(raw.get("transformation", []),
                                                             chemicals))

    def transformations(self, items: object, chemicals: Mapping[str, Chemical]
                        ) -> dict[tuple[str, str], Transformation]:
        fail = self.toml.fail
        if not isinstance(items, list):
            raise fail("", "transformation", f"expected [[transformation]] tables, got "
                       f"{_type_name(items)}", "write each step under a [[transformation]] header")
        if len(items) > TRANSFORMATIONS_MAX:
            raise fail("", "transformation", f"{len(items)} steps, above the limit "
                       f"{TRANSFORMATIONS_MAX}", "split the registry or raise TRANSFORMATIONS_MAX")
        out: dict[tuple[str, str], Transformation] = {}
        row_of: dict[tuple[str, str], int] = {}
        for index, item in enumerate(items):
            step = self.transformation(index, item, chemicals)
            key = (step.input, step.product)
            if key in out:
                raise fail(f"transformation[{index}]", "product",
                           f"duplicate step {step.input} -> {step.product} "
                           f"(also transformation[{row_of[key]}])", "list each step once")
            out[key] = step
            row_of[key] = index
        return out

    def transformation(self, index: int, item: object, chemicals: Mapping[str, Chemical]
                       ) -> Transformation:
        row = f"transformation[{index}]"
        fail = self.toml.fail
        text = _table_reader(self.toml, row, item, _TRANSFORMATION_KEYS, "transformation")
        source = text("input")
        if source not in chemicals:
            raise fail(row, "input", f"unknown chemical {source!r}",
                       f"use a registered id: {', '.join(sorted(chemicals))}")
        product = text("product")
        if product not in chemicals and product not in END_PRODUCTS:
            raise fail(row, "product", f"unknown product {product!r}",
                       f"use a registered id or an end product ({', '.join(END_PRODUCTS)})")
        if product == source:
            raise fail(row, "product", f"same as the input ({source!r})",
                       "a step turns one chemical into another")
        yield_max, yield_basis = _yield(fail, row, item, text, _TRANSFORMATION_KEYS)
        sources = _sources(fail, row, item["sources"], _TRANSFORMATION_KEYS["sources"][1])
        if "notes" in item:
            text("notes")
        return Transformation(input=source, product=product, yield_max=yield_max,
                              yield_basis=yield_basis, sources=sources)

    def watched(self, value: object) -> frozenset[str]:
        fail = self.toml.fail
        if not _is_str_list(value) or not value:
            raise fail("", "watched_hs_codes", "expected a non-empty list of strings",
                       'write it like: watched_hs_codes = ["2933.39", "2915.24"]')
        seen: set[str] = set()
        for i, code in enumerate(value):
            if HS_RE.match(code) is None:
                raise fail("", f"watched_hs_codes[{i}]",
                           f"{code!r} is not an HS subheading",
                           'write six digits as "NNNN.NN", e.g. "2933.39"')
            if code in seen:
                raise fail("", f"watched_hs_codes[{i}]", f"duplicate HS code {code!r}",
                           "list each code once")
            seen.add(code)
        return frozenset(seen)

    def chemical(self, index: int, item: object) -> Chemical:
        row = f"chemical[{index}]"
        fail = self.toml.fail
        text = _table_reader(self.toml, row, item, _CHEMICAL_KEYS, "chemical")

        chem_id = text("id")
        if ID_RE.match(chem_id) is None:
            raise fail(row, "id", f"{chem_id!r} is not a valid id",
                       "use 1 to 40 lower-case letters, digits and '-', e.g. \"1-boc-4-ap\"")
        names = item["names"]
        if not _is_str_list(names) or not names or not all(n.strip() for n in names):
            raise fail(row, "names", "expected a non-empty list of non-empty strings",
                       f"write it like: {_CHEMICAL_KEYS['names'][1]}")
        if len(names) > NAMES_PER_CHEMICAL_MAX:
            raise fail(row, "names", f"{len(names)} names, above {NAMES_PER_CHEMICAL_MAX}",
                       "keep the common and systematic names only")
        cas = text("cas")
        match = CAS_RE.match(cas)
        if match is None:
            raise fail(row, "cas", f"{cas!r} is not shaped like a CAS number",
                       'write 2-7 digits, 2 digits and 1 check digit, e.g. "39742-60-4"')
        expected = cas_check_digit(match.group(1) + match.group(2))
        if expected != int(match.group(3)):
            raise fail(row, "cas", f"check digit of {cas!r} should be {expected}",
                       "fix the CAS number")
        hs_code = text("hs_code")
        if HS_RE.match(hs_code) is None:
            raise fail(row, "hs_code", f"{hs_code!r} is not an HS subheading",
                       'write the HS 2022 six-digit subheading as "NNNN.NN", e.g. "2933.39"')
        table = text("convention_table")
        if table not in CONVENTION_TABLES:
            raise fail(row, "convention_table", f"unknown table {table!r}",
                       'use "I" or "II" (1988 Convention), or "" when not in its tables')
        effective = text("convention_effective")
        if table == "" and effective != "":
            raise fail(row, "convention_effective",
                       f"{effective!r} given for a chemical in no Convention table",
                       'write convention_effective = "" or set convention_table')
        if table != "" and not _is_iso_date(effective):
            raise fail(row, "convention_effective",
                       f"{effective!r} is not an ISO date (table {table} needs one)",
                       'write the date the listing took effect as "YYYY-MM-DD"')
        dual_use = item["dual_use"]
        if not isinstance(dual_use, bool):
            raise fail(row, "dual_use", f"expected true or false, got {dual_use!r}",
                       "write dual_use = true or dual_use = false")
        yield_max, yield_basis = _yield(fail, row, item, text, _CHEMICAL_KEYS)
        national = self.national(row, item["national"])
        sources = _sources(fail, row, item["sources"], _CHEMICAL_KEYS["sources"][1])
        notes = text("notes") if "notes" in item else ""
        return Chemical(id=chem_id, names=tuple(names), cas=cas, hs_code=hs_code,
                        convention_table=table, convention_effective=effective,
                        dual_use=dual_use, yield_max=yield_max, national=national,
                        sources=sources, yield_basis=yield_basis, notes=notes)

    def national(self, row: str, value: object) -> dict[str, NationalControl]:
        fail = self.toml.fail
        example = _CHEMICAL_KEYS["national"][1]
        if not isinstance(value, dict):
            raise fail(row, "national", f"expected a table, got {_type_name(value)}",
                       f"write it like: {example}")
        out: dict[str, NationalControl] = {}
        for code in sorted(value):  # sorted: the first error is the same whatever the order
            field = f"national.{code}"
            if ALPHA3_RE.match(code) is None:
                raise fail(row, field, f"{code!r} is not an ISO 3166 alpha-3 code",
                           'use three capital letters, e.g. national.MEX')
            if code not in self.nations:
                raise fail(row, field, f"unknown nation {code!r}",
                           "use an alpha-3 code listed in nations.csv")
            entry = value[code]
            if not isinstance(entry, dict):
                raise fail(row, field, f"expected an inline table, got {_type_name(entry)}",
                           f"write it like: {example}")
            for key in entry:
                if key not in ("status", "effective"):
                    raise fail(row, f"{field}.{key}", "unknown key",
                               "an entry has only status and effective")
            for key in ("status", "effective"):
                if key not in entry:
                    raise fail(row, f"{field}.{key}", "missing", f"write it like: {example}")
            status, effective = entry["status"], entry["effective"]
            if status not in STATUSES:
                raise fail(row, f"{field}.status", f"unknown status {status!r}",
                           f"use one of: {', '.join(STATUSES)}")
            if not isinstance(effective, str):
                raise fail(row, f"{field}.effective",
                           f"expected a string, got {_type_name(effective)}",
                           'write the date in quotes as "YYYY-MM-DD"')
            if status == "controlled" and not _is_iso_date(effective):
                raise fail(row, f"{field}.effective",
                           f"{effective!r} is not an ISO date (a controlled status needs one)",
                           'write the date the control took effect as "YYYY-MM-DD"')
            if status == "watched" and effective != "" and not _is_iso_date(effective):
                raise fail(row, f"{field}.effective", f"{effective!r} is not an ISO date",
                           'write "YYYY-MM-DD", or "" when the date is unknown')
            if status == "uncontrolled" and effective != "":
                raise fail(row, f"{field}.effective",
                           f"{effective!r} given for an uncontrolled status",
                           'write effective = "" or change the status')
            out[code] = NationalControl(status=status, effective=effective)
        missing = [code for code in NATIONS_REQUIRED if code not in out]
        if missing:
            raise fail(row, f"national.{missing[0]}", "missing",
                       f"every chemical states its status in {', '.join(NATIONS_REQUIRED)}; "
                       f'add national.{missing[0]} = {{ status = "uncontrolled", effective = "" }}'
                       " or its real status")
        return out


_LANE_KEYS: dict[str, tuple[bool, str]] = {
    "from": (True, 'from = "CHN"'),
    "to": (True, 'to = "MEX"'),
    "via": (False, 'via = ["PAN"]  (transit nations in order, may be empty)'),
    "share": (True, "share = 0.4"),
    "chemicals": (False, 'chemicals = ["4-ap", "1-boc-4-piperidone"]'),
    "basis": (False, 'basis = "why this lane exists, with its source"'),
}


def _check_lanes(toml: _Toml, items: object, nations: Mapping[str, Nation],
                 chemical_ids: Collection[str]) -> list[Lane]:
    fail = toml.fail
    if not isinstance(items, list) or not items:
        raise fail("", "lane", "no [[lane]] tables", "add at least one [[lane]] table")
    if len(items) > LANES_MAX:
        raise fail("", "lane", f"{len(items)} lanes, above the limit {LANES_MAX}",
                   "merge lanes or raise LANES_MAX")
    lanes: list[Lane] = []
    seen: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for index, item in enumerate(items):
        lane = _check_lane(toml, index, item, nations, chemical_ids)
        key = (lane.from_, lane.to, lane.via)
        if key in seen:
            raise fail(f"lane[{index}]", "via",
                       f"same route as lane[{seen[key]}] ({' -> '.join(lane.path)})",
                       "merge the two lanes and add their shares")
        seen[key] = index
        lanes.append(lane)
    # Shares of one source sum to 1: checked per source, in order of first appearance.
    by_source: dict[str, list[int]] = {}
    for index, lane in enumerate(lanes):
        by_source.setdefault(lane.from_, []).append(index)
    for source, indexes in by_source.items():
        total = math.fsum(lanes[i].share for i in indexes)
        if abs(total - 1.0) > SHARE_SUM_TOLERANCE:
            rows = ", ".join(f"lane[{i}]" for i in indexes)
            raise fail(f"lane[{indexes[0]}]", "share",
                       f"shares of the lanes from {source!r} ({rows}) sum to {total:.6g}",
                       "make them sum to 1.0")
    return lanes


def _check_lane(toml: _Toml, index: int, item: object, nations: Mapping[str, Nation],
                chemical_ids: Collection[str]) -> Lane:
    row = f"lane[{index}]"
    fail = toml.fail
    if not isinstance(item, dict):
        raise fail(row, "", f"expected a table, got {_type_name(item)}",
                   "write each lane under its own [[lane]] header")
    for key in item:
        if key not in _LANE_KEYS:
            raise fail(row, key, "unknown key", f"allowed keys are: {', '.join(_LANE_KEYS)}")
    for key, (required, example) in _LANE_KEYS.items():
        if required and key not in item:
            raise fail(row, key, "missing", f"add {example}")

    def nation(field: str, code: object) -> str:
        if not isinstance(code, str) or ALPHA3_RE.match(code) is None:
            raise fail(row, field, f"{code!r} is not an ISO 3166 alpha-3 code",
                       'use three capital letters, e.g. "MEX"')
        if code not in nations:
            raise fail(row, field, f"unknown nation {code!r}",
                       "use an alpha-3 code listed in nations.csv")
        return code

    from_ = nation("from", item["from"])
    to = nation("to", item["to"])
    if from_ == to:
        raise fail(row, "to", f"same nation as from ({to!r})",
                   "a lane crosses a border: pick another destination")
    via_raw = item.get("via", [])
    if not isinstance(via_raw, list):
        raise fail(row, "via", f"expected a list, got {_type_name(via_raw)}",
                   f"write it like: {_LANE_KEYS['via'][1]}")
    if len(via_raw) > VIA_MAX:
        raise fail(row, "via", f"{len(via_raw)} transit nations, above {VIA_MAX}",
                   "keep the main transit nations only")
    via: list[str] = []
    for i, code in enumerate(via_raw):
        code = nation(f"via[{i}]", code)
        if code in (from_, to):
            raise fail(row, f"via[{i}]", f"{code!r} is the lane's own "
                       f"{'source' if code == from_ else 'destination'}",
                       "list only the nations in between")
        if code in via:
            raise fail(row, f"via[{i}]", f"{code!r} listed twice", "list each transit once")
        via.append(code)
    share = item["share"]
    if not _is_number(share):
        raise fail(row, "share", f"expected a number, got {_type_name(share)}",
                   "write the share of the source's mass, e.g. share = 0.4")
    if not 0 < share <= 1:
        raise fail(row, "share", f"{share!r} is outside (0, 1]",
                   "use a share above 0 and at most 1")
    chemicals_raw = item.get("chemicals", [])
    if not _is_str_list(chemicals_raw):
        raise fail(row, "chemicals", "expected a list of strings",
                   f"write it like: {_LANE_KEYS['chemicals'][1]}")
    for i, chem_id in enumerate(chemicals_raw):
        if chem_id not in chemical_ids:
            raise fail(row, f"chemicals[{i}]", f"unknown chemical {chem_id!r}",
                       f"use a registered id: {', '.join(sorted(chemical_ids))}")
        if chem_id in chemicals_raw[:i]:
            raise fail(row, f"chemicals[{i}]", f"{chem_id!r} listed twice",
                       "list each chemical once")
    basis = item.get("basis", "")
    if not isinstance(basis, str):
        raise fail(row, "basis", f"expected a string, got {_type_name(basis)}",
                   f"write it like: {_LANE_KEYS['basis'][1]}")
    return Lane(from_=from_, to=to, via=tuple(via), share=float(share),
                chemicals=tuple(chemicals_raw), basis=basis)


def _parse_nations(text: str, source: str) -> dict[str, Nation]:
    def fail(line: int, field: str, problem: str, fix: str) -> RegistryError:
        return RegistryError(f"{source}: line {line}: {field}: {problem}; {fix}")

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise fail(1, "header", "the file is empty",
                   f"start with the header {','.join(NATIONS_CSV_HEADER)}") from None
    except csv.Error as exc:
        raise fail(1, "header", f"not valid CSV ({exc})", "fix the quoting") from None
    if tuple(header) != NATIONS_CSV_HEADER:
        raise fail(1, "header", f"expected {','.join(NATIONS_CSV_HEADER)}, got {','.join(header)}",
                   "write exactly that header (no comment lines: notes go in README.md)")
    nations: dict[str, Nation] = {}
    line_of: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise fail(reader.line_num, "row", f"not valid CSV ({exc})",
                       "fix the quoting") from None
        line = reader.line_num
        if not row:
            raise fail(line, "row", "blank line", "delete it")
        if len(row) != len(NATIONS_CSV_HEADER):
            raise fail(line, "row", f"{len(row)} fields, expected {len(NATIONS_CSV_HEADER)}",
                       "write alpha3,name,un_member,region (quote names with commas)")
        alpha3, name, member, region = row
        if ALPHA3_RE.match(alpha3) is None:
            raise fail(line, "alpha3", f"{alpha3!r} is not an ISO 3166 alpha-3 code",
                       "use three capital letters, e.g. MEX")
        if alpha3 in nations:
            raise fail(line, "alpha3", f"duplicate {alpha3!r} (also line {line_of[alpha3]})",
                       "list each nation once")
        if not name.strip():
            raise fail(line, "name", "empty", "write the nation's short name")
        if member not in ("0", "1"):
            raise fail(line, "un_member", f"{member!r} is not 0 or 1",
                       "write 1 for a UN member state, 0 otherwise")
        if region not in REGIONS:
            raise fail(line, "region", f"unknown region {region!r}",
                       f"use one of: {', '.join(REGIONS)}")
        if len(nations) >= NATIONS_MAX:
            raise fail(line, "row", f"more than {NATIONS_MAX} nations",
                       "this is not a nations file")
        nations[alpha3] = Nation(alpha3=alpha3, name=name, un_member=member == "1",
                                 region=region)
        line_of[alpha3] = line
    if not nations:
        raise fail(2, "row", "no nations", "add one line per nation after the header")
    return nations
