"""The economy the precursor workload is calibrated against: `scenarios/data/economy.toml`.

Theory of operation
-------------------
The file says how big trade is: the scale of INCB's PEN Online (pre-export notifications a
year, nations using it), and for each registered chemical the typical licit and illicit
consignment (a `[min, max]` range in kilograms, drawn log-uniformly by the workload), the share
of licit consignments that are of it, and the share of the illicit precursor mass each source
nation supplies. Every row carries a `basis` that says what was read and what is estimated; see
docs/domain.md ("Calibration").

The file is data written by people, so, as in `nodes.app.registry`, every check names the file
and line, the row (`chemical[2]`, `source[0]`, `pen_online`), the field, what is wrong and what
to write instead. Chemical ids are checked against the registry and nations against
nations.csv. Loading is all-or-nothing: the first error stops it with a `CalibrationError`.
`load_economy()` without a path returns the shipped file, parsed once (functools.lru_cache).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from nodes.app.registry import (
    ALPHA3_RE,
    SHARE_SUM_TOLERANCE,
    RegistryError,
    _is_number,
    _is_str_list,
    _parse_toml,
    _read_text,
    _Toml,
    _type_name,
    load_nations,
    load_registry,
)

ECONOMY_PATH = Path(__file__).resolve().parents[1] / "data" / "economy.toml"

PENS_PER_YEAR_MAX = 10_000_000  # PEN Online sends tens of thousands; far beyond is a typo.
CONSIGNMENT_KG_MAX = 1e9  # a million tonnes: no single consignment comes near it.


class CalibrationError(RegistryError):
    """An economy file that cannot be used. The message says where and how to fix it."""


@dataclass(frozen=True, slots=True)
class ChemicalTrade:
    """One chemical's consignment sizes (kg) and its share of licit consignments."""

    licit_kg: tuple[float, float]
    illicit_kg: tuple[float, float]
    licit_share: float
    basis: str


@dataclass(frozen=True, slots=True)
class Economy:
    chemicals: dict[str, ChemicalTrade]
    source_shares: dict[str, float]  # nation alpha-3 -> share of the illicit precursor mass
    pens_per_year: int
    participating_nations: int
    sources: tuple[str, ...]
    notes: str = ""
    pen_basis: str = ""


def load_economy(path: str | Path | None = None,
                 chemical_ids: Collection[str] | None = None,
                 nations: Collection[str] | None = None) -> Economy:
    """Load and validate an economy file (default: the shipped one, cached).

    Chemical ids must be those of `chemical_ids` (default: the shipped registry), every one of
    them given; source nations must be in `nations` (default: the shipped nations.csv).
    """
    if path is None and chemical_ids is None and nations is None:
        return _default_economy()
    return _load(ECONOMY_PATH if path is None else Path(path), chemical_ids, nations)


@functools.lru_cache(maxsize=1)
def _default_economy() -> Economy:
    return _load(ECONOMY_PATH, None, None)


# ---------------------------------------------------------------------------------- internals


def _load(path: Path, chemical_ids: Collection[str] | None,
          nations: Collection[str] | None) -> Economy:
    try:
        text = _read_text(path)
        raw = _parse_toml(text, str(path))
    except CalibrationError:
        raise
    except RegistryError as exc:
        raise CalibrationError(str(exc)) from None
    if nations is None:
        nations = load_nations()
    if chemical_ids is None:
        chemical_ids = load_registry().chemicals
    return _Checker(text, str(path), chemical_ids, nations).economy(raw)


_TOP_KEYS = ("notes", "sources", "pen_online", "chemical", "source")
_PEN_KEYS: dict[str, tuple[bool, str]] = {
    # key: (required, example used in the fix)
    "pens_per_year": (True, "pens_per_year = 30000"),
    "participating_nations": (True, "participating_nations = 145"),
    "basis": (True, 'basis = "what was read, with its source"'),
    "sources": (False, 'sources = ["https://..."]'),
}
_CHEMICAL_KEYS: dict[str, tuple[bool, str]] = {
    "id": (True, 'id = "acetic-anhydride"'),
    "licit_kg": (True, "licit_kg = [200.0, 26000.0]"),
    "illicit_kg": (True, "illicit_kg = [5.0, 200.0]"),
    "licit_share": (True, "licit_share = 0.4"),
    "basis": (True, 'basis = "why these numbers, with sources"'),
}
_SOURCE_KEYS: dict[str, tuple[bool, str]] = {
    "nation": (True, 'nation = "CHN"'),
    "share": (True, "share = 0.8"),
    "basis": (True, 'basis = "why this share, with sources"'),
}


class _Checker:
    def __init__(self, text: str, source: str, chemical_ids: Collection[str],
                 nations: Collection[str]) -> None:
        self.toml = _Toml(text, source)
        self.lines = text.splitlines()
        self.chemical_ids = chemical_ids
        self.nations = nations

    def fail(self, row: str, field: str, problem: str, fix: str) -> CalibrationError:
        if row == "pen_online":
            line = self._table_line("pen_online", field)
            where = f"{self.toml.source}:{line}" if line else self.toml.source
            return CalibrationError(f"{where}: pen_online.{field}: {problem}; {fix}")
        return CalibrationError(str(self.toml.fail(row, field, problem, fix)))

    def _table_line(self, table: str, field: str) -> int | None:
        """The line of `field` in the `[table]` table, else of its header."""
        header = re.compile(r"^\s*\[\s*%s\s*\]" % re.escape(table))
        start = next((i for i, line in enumerate(self.lines) if header.match(line)), None)
        if start is None:
            return None
        key = re.compile(r"^\s*%s\s*=" % re.escape(field.split("[")[0]))
        for i in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[i]):
                break
            if key.match(self.lines[i]):
                return i + 1
        return start + 1

    def table_keys(self, row: str, item: object, keys: Mapping[str, tuple[bool, str]],
                   header: str) -> dict:
        if not isinstance(item, dict):
            raise self.fail(row, "", f"expected a table, got {_type_name(item)}",
                            f"write it under its own {header} header")
        for key in item:
            if key not in keys:
                raise self.fail(row, key, "unknown key", f"allowed keys are: {', '.join(keys)}")
        for key, (required, example) in keys.items():
            if required and key not in item:
                raise self.fail(row, key, "missing", f"add {example}")
        return item

    def text(self, row: str, item: dict, key: str, example: str) -> str:
        value = item[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(row, key, f"expected a non-empty string, got {value!r}",
                            f"write it like: {example}")
        return value

    def economy(self, raw: dict) -> Economy:
        for key in raw:
            if key not in _TOP_KEYS:
                raise self.fail("", key, "unknown top-level key",
                                f"allowed top-level keys are: {', '.join(_TOP_KEYS)}")
        notes = raw.get("notes", "")
        if not isinstance(notes, str):
            raise self.fail("", "notes", f"expected a string, got {_type_name(notes)}",
                            'write it like: notes = "what is measured, what is estimated"')
        sources = raw.get("sources", [])
        if not _is_str_list(sources):
            raise self.fail("", "sources", "expected a list of strings",
                            'write it like: sources = ["Title, date, https://..."]')
        for key, header in (("pen_online", "[pen_online]"), ("chemical", "[[chemical]]"),
                            ("source", "[[source]]")):
            if key not in raw:
                raise self.fail("", key, "missing", f"add the {header} table(s)")
        pens, participating, pen_basis = self.pen_online(raw["pen_online"])
        chemicals = self.chemicals(raw["chemical"])
        shares = self.sources(raw["source"])
        return Economy(chemicals=chemicals, source_shares=shares, pens_per_year=pens,
                       participating_nations=participating, sources=tuple(sources),
                       notes=notes, pen_basis=pen_basis)

    def pen_online(self, item: object) -> tuple[int, int, str]:
        row = "pen_online"
        if isinstance(item, list):
            raise self.fail("", "pen_online", "written as [[pen_online]], an array of tables",
                            "write a single [pen_online] table")
        item = self.table_keys(row, item, _PEN_KEYS, "[pen_online]")
        counts = []
        for key, limit in (("pens_per_year", PENS_PER_YEAR_MAX),
                           ("participating_nations", len(self.nations))):
            value = item[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(row, key, f"expected a whole number, got {_type_name(value)}",
                                f"write it like: {_PEN_KEYS[key][1]}")
            if not 0 < value <= limit:
                raise self.fail(row, key, f"{value} is out of range",
                                f"use a whole number above 0 and at most {limit}")
            counts.append(value)
        if "sources" in item and not _is_str_list(item["sources"]):
            raise self.fail(row, "sources", "expected a list of strings",
                            f"write it like: {_PEN_KEYS['sources'][1]}")
        basis = self.text(row, item, "basis", _PEN_KEYS["basis"][1])
        return counts[0], counts[1], basis

    def rows(self, table: str, items: object, keys: Mapping[str, tuple[bool, str]],
             key_field: str, what: str) -> list[tuple[int, str, dict, str]]:
        """The `[[table]]` rows as (index, row name, table, key), each key given once.

        `self.check_<table>_key(row, key)` validates the key; a repeated key is an error.
        """
        if not isinstance(items, list) or not items:
            raise self.fail("", table, f"no [[{table}]] tables",
                            f"add one [[{table}]] table per {what}")
        out: list[tuple[int, str, dict, str]] = []
        row_of: dict[str, int] = {}
        for index, item in enumerate(items):
            row = f"{table}[{index}]"
            item = self.table_keys(row, item, keys, f"[[{table}]]")
            key = getattr(self, f"check_{table}_key")(row, item[key_field])
            if key in row_of:
                raise self.fail(row, key_field, f"duplicate {key_field} {key!r} "
                                f"(also {table}[{row_of[key]}])",
                                f"give each {what} one table, or merge the two")
            row_of[key] = index
            out.append((index, row, item, key))
        return out

    def check_chemical_key(self, row: str, chem_id: object) -> str:
        if chem_id not in self.chemical_ids:
            raise self.fail(row, "id", f"unknown chemical {chem_id!r}",
                            f"use a registered id: {', '.join(sorted(self.chemical_ids))}")
        return str(chem_id)

    def check_source_key(self, row: str, nation: object) -> str:
        if not isinstance(nation, str) or ALPHA3_RE.match(nation) is None:
            raise self.fail(row, "nation", f"{nation!r} is not an ISO 3166 alpha-3 code",
                            'use three capital letters, e.g. nation = "CHN"')
        if nation not in self.nations:
            raise self.fail(row, "nation", f"unknown nation {nation!r}",
                            "use an alpha-3 code listed in nations.csv")
        return nation

    def chemicals(self, items: object) -> dict[str, ChemicalTrade]:
        rows = self.rows("chemical", items, _CHEMICAL_KEYS, "id", "registry chemical")
        out = {chem_id: ChemicalTrade(
                   licit_kg=self.kg_range(row, item, "licit_kg"),
                   illicit_kg=self.kg_range(row, item, "illicit_kg"),
                   licit_share=self.share(row, item, "licit_share"),
                   basis=self.text(row, item, "basis", _CHEMICAL_KEYS["basis"][1]))
               for _, row, item, chem_id in rows}
        missing = [chem_id for chem_id in sorted(self.chemical_ids) if chem_id not in out]
        if missing:
            raise self.fail("", "chemical", f"no [[chemical]] table for {', '.join(missing)}",
                            f'add one for each, e.g. [[chemical]] id = "{missing[0]}"')
        self.share_sum("chemical", "licit_share",
                       [(index, out[chem_id].licit_share) for index, _, _, chem_id in rows])
        return out

    def sources(self, items: object) -> dict[str, float]:
        rows = self.rows("source", items, _SOURCE_KEYS, "nation", "illicit source nation")
        out: dict[str, float] = {}
        for _, row, item, nation in rows:
            out[nation] = self.share(row, item, "share")
            self.text(row, item, "basis", _SOURCE_KEYS["basis"][1])
        self.share_sum("source", "share", [(index, out[n]) for index, _, _, n in rows])
        return out

    def kg_range(self, row: str, item: dict, key: str) -> tuple[float, float]:
        value = item[key]
        example = _CHEMICAL_KEYS[key][1]
        if not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
            raise self.fail(row, key, f"expected [min, max] in kilograms, got {value!r}",
                            f"write it like: {example}")
        low, high = float(value[0]), float(value[1])
        if not 0 < low <= CONSIGNMENT_KG_MAX or not 0 < high <= CONSIGNMENT_KG_MAX:
            raise self.fail(row, key, f"{value!r} has a bound that is not a positive mass",
                            f"use kilograms above 0 and at most {CONSIGNMENT_KG_MAX:g}")
        if low > high:
            raise self.fail(row, key, f"min {low:g} is above max {high:g}",
                            f"swap them: {key} = [{high:g}, {low:g}]")
        return low, high

    def share(self, row: str, item: dict, key: str) -> float:
        value = item[key]
        if not _is_number(value):
            raise self.fail(row, key, f"expected a number, got {_type_name(value)}",
                            f"write a share like: {key} = 0.25")
        if not 0 < value <= 1:
            raise self.fail(row, key, f"{value!r} is outside (0, 1]",
                            "use a share above 0 and at most 1")
        return float(value)

    def share_sum(self, table: str, key: str, rows: list[tuple[int, float]]) -> None:
        total = math.fsum(share for _, share in rows)
        if abs(total - 1.0) > SHARE_SUM_TOLERANCE:
            first = min(index for index, _ in rows)
            raise self.fail(f"{table}[{first}]", key,
                            f"the {key} values of the {len(rows)} [[{table}]] tables "
                            f"sum to {total:.6g}", "make them sum to 1.0")
