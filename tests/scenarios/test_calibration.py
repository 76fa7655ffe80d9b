"""The calibration file (scenarios/data/economy.toml) and its loader, scenarios/trade/calibration.py.

The shipped file loads and agrees with the registry; every malformed file is refused with a message
that names the file and line, the row, the field, the problem and the fix; any valid file
round-trips (a hypothesis property).
"""

from __future__ import annotations

import math

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.app.registry import load_nations, load_registry
from scenarios.trade.calibration import (
    ECONOMY_PATH,
    CalibrationError,
    ChemicalTrade,
    Economy,
    load_economy,
)

NATIONS = load_nations()

# ------------------------------------------------------------------------------ the shipped file


def test_shipped_economy_loads_and_covers_the_registry() -> None:
    economy = load_economy()
    assert isinstance(economy, Economy)
    assert load_economy() is economy  # cached
    assert set(economy.chemicals) == set(load_registry().chemicals)
    assert math.isclose(sum(c.licit_share for c in economy.chemicals.values()), 1.0)
    assert math.isclose(sum(economy.source_shares.values()), 1.0)
    assert economy.pens_per_year == 30000 and economy.participating_nations == 145
    assert economy.sources and all("https://" in s or "http://" in s for s in economy.sources)
    for chem_id, trade in economy.chemicals.items():
        assert 0 < trade.licit_kg[0] <= trade.licit_kg[1], chem_id
        assert 0 < trade.illicit_kg[0] <= trade.illicit_kg[1], chem_id
        assert trade.basis.strip(), chem_id


def test_shipped_economy_matches_the_domain() -> None:
    economy = load_economy()
    # Licit bulk chemicals move in tonnes; the fentanyl precursors licitly in kilograms.
    for bulk in ("acetic-anhydride", "aniline"):
        assert economy.chemicals[bulk].licit_kg[1] >= 20_000
    for fine in ("npp", "4-anpp", "4-ap", "1-boc-4-ap", "norfentanyl", "4-piperidone",
                 "1-boc-4-piperidone"):
        assert economy.chemicals[fine].licit_kg[1] <= 200
    # The DOJ January 2025 case: 20 kg of 1-boc-4-piperidone is inside the illicit range.
    low, high = economy.chemicals["1-boc-4-piperidone"].illicit_kg
    assert low <= 20 <= high
    # China well above India.
    assert economy.source_shares["CHN"] > 2 * economy.source_shares["IND"]


def test_explicit_path_is_not_the_cached_object() -> None:
    assert load_economy(ECONOMY_PATH) == load_economy()
    assert load_economy(ECONOMY_PATH) is not load_economy()


# ------------------------------------------------------------------------------ malformed files

IDS = ("npp", "aniline")

BASE = """\
notes = "test file"
sources = ["https://example.org/a"]

[pen_online]
pens_per_year = 30000
participating_nations = 145
basis = "read"

[[chemical]]
id = "npp"
licit_kg = [1.0, 100.0]
illicit_kg = [5.0, 500.0]
licit_share = 0.4
basis = "estimate"

[[chemical]]
id = "aniline"
licit_kg = [200.0, 25000.0]
illicit_kg = [200.0, 25000.0]
licit_share = 0.6
basis = "estimate"

[[source]]
nation = "CHN"
share = 0.8
basis = "estimate"

[[source]]
nation = "IND"
share = 0.2
basis = "estimate"
"""


def test_the_base_file_is_valid(tmp_path) -> None:
    path = tmp_path / "economy.toml"
    path.write_text(BASE)
    economy = load_economy(path, chemical_ids=IDS, nations=NATIONS)
    assert economy.chemicals["npp"] == ChemicalTrade((1.0, 100.0), (5.0, 500.0), 0.4, "estimate")
    assert economy.source_shares == {"CHN": 0.8, "IND": 0.2}


# name: (old text, new text (the first occurrence is replaced), where the error must point:
# (the text of that line, which occurrence) or None for no line, fragments of the message)
BAD = {
    "unknown-top-key": ('notes = "test file"', 'notes = "test file"\nyear = 2024',
                        ("year = 2024", 0),
                        ["year: unknown top-level key", "allowed top-level keys are"]),
    "unknown-table": ('[[chemical]]\nid = "aniline"', '[[other]]\nid = "aniline"', None,
                      ["other: unknown top-level key"]),
    "unknown-chemical-key": ("licit_share = 0.4", 'licit_share = 0.4\nunit = "kg"',
                             ('unit = "kg"', 0),
                             ["chemical[0].unit: unknown key", "allowed keys are: id,"]),
    "unknown-pen-key": ("pens_per_year = 30000", "pens_per_year = 30000\nlight = 870",
                        ("light = 870", 0), ["pen_online.light: unknown key"]),
    "unknown-chemical": ('id = "npp"', 'id = "fentanyl"', ('id = "fentanyl"', 0),
                         ["chemical[0].id: unknown chemical 'fentanyl'",
                          "use a registered id: aniline, npp"]),
    "duplicate-chemical": ('id = "aniline"', 'id = "npp"', ('id = "npp"', 1),
                           ["chemical[1].id: duplicate id 'npp' (also chemical[0])",
                            "give each registry chemical one table, or merge the two"]),
    "min-above-max": ("licit_kg = [1.0, 100.0]", "licit_kg = [100.0, 1.0]",
                      ("licit_kg = [100.0, 1.0]", 0),
                      ["chemical[0].licit_kg: min 100 is above max 1",
                       "swap them: licit_kg = [1, 100]"]),
    "non-positive": ("illicit_kg = [5.0, 500.0]", "illicit_kg = [0, 500.0]",
                     ("illicit_kg = [0, 500.0]", 0),
                     ["chemical[0].illicit_kg: [0, 500.0] has a bound that is not a positive mass",
                      "use kilograms above 0"]),
    "not-a-range": ("illicit_kg = [5.0, 500.0]", "illicit_kg = 50", ("illicit_kg = 50", 0),
                    ["chemical[0].illicit_kg: expected [min, max] in kilograms, got 50",
                     "write it like: illicit_kg = [5.0, 200.0]"]),
    "share-above-one": ("licit_share = 0.6", "licit_share = 1.6", ("licit_share = 1.6", 0),
                        ["chemical[1].licit_share: 1.6 is outside (0, 1]",
                         "use a share above 0 and at most 1"]),
    "share-zero": ("share = 0.2", "share = 0", ("share = 0", 0),
                   ["source[1].share: 0 is outside (0, 1]"]),
    "licit-shares-sum": ("licit_share = 0.6", "licit_share = 0.5", ("licit_share = 0.4", 0),
                         ["chemical[0].licit_share: the licit_share values of the 2 [[chemical]] "
                          "tables sum to 0.9", "make them sum to 1.0"]),
    "source-shares-sum": ("share = 0.8", "share = 0.7", ("share = 0.7", 0),
                          ["source[0].share: the share values of the 2 [[source]] tables sum to "
                           "0.9", "make them sum to 1.0"]),
    "duplicate-nation": ('nation = "IND"', 'nation = "CHN"', ('nation = "CHN"', 1),
                         ["source[1].nation: duplicate nation 'CHN' (also source[0])",
                          "give each illicit source nation one table, or merge the two"]),
    "unknown-nation": ('nation = "IND"', 'nation = "XYZ"', ('nation = "XYZ"', 0),
                       ["source[1].nation: unknown nation 'XYZ'", "listed in nations.csv"]),
    "not-alpha3": ('nation = "IND"', 'nation = "india"', ('nation = "india"', 0),
                   ["source[1].nation: 'india' is not an ISO 3166 alpha-3 code"]),
    "missing-basis": ('share = 0.2\nbasis = "estimate"\n', "share = 0.2\n", ("[[source]]", 1),
                      ["source[1].basis: missing", 'add basis = "why this share, with sources"']),
    "pens-not-int": ("pens_per_year = 30000", "pens_per_year = 3e4", ("pens_per_year = 3e4", 0),
                     ["pen_online.pens_per_year: expected a whole number, got a number"]),
    "nations-out-of-range": ("participating_nations = 145", "participating_nations = 0",
                             ("participating_nations = 0", 0),
                             ["pen_online.participating_nations: 0 is out of range"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_file_is_refused_with_file_line_row_field_and_fix(tmp_path, name: str) -> None:
    old, new, where, fragments = BAD[name]
    assert old in BASE, name
    text = BASE.replace(old, new, 1)
    path = tmp_path / "economy.toml"
    path.write_text(text)
    with pytest.raises(CalibrationError) as info:
        load_economy(path, chemical_ids=IDS, nations=NATIONS)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (name, message)
    if where is None:
        assert message.startswith(f"{path}: "), (name, message)
    else:
        needle, occurrence = where
        lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.strip() == needle]
        assert message.startswith(f"{path}:{lines[occurrence]}: "), (name, message)
    assert isinstance(info.value, ValueError)


def test_a_registry_chemical_without_a_table_is_named(tmp_path) -> None:
    path = tmp_path / "economy.toml"
    path.write_text(BASE)
    with pytest.raises(CalibrationError, match=r"economy\.toml: chemical: no \[\[chemical\]\] "
                       r"table for 4-ap; add one for each, e\.g\. \[\[chemical\]\] id = \"4-ap\""):
        load_economy(path, chemical_ids=(*IDS, "4-ap"), nations=NATIONS)


def test_unreadable_and_invalid_toml_are_calibration_errors(tmp_path) -> None:
    with pytest.raises(CalibrationError, match="cannot read the file"):
        load_economy(tmp_path / "absent.toml", chemical_ids=IDS, nations=NATIONS)
    path = tmp_path / "economy.toml"
    path.write_text("notes = \n")
    with pytest.raises(CalibrationError, match="not valid TOML"):
        load_economy(path, chemical_ids=IDS, nations=NATIONS)


def test_pen_online_written_as_an_array_of_tables_is_refused(tmp_path) -> None:
    path = tmp_path / "economy.toml"
    path.write_text(BASE.replace("[pen_online]", "[[pen_online]]"))
    with pytest.raises(CalibrationError, match=r"pen_online: written as \[\[pen_online\]\]"):
        load_economy(path, chemical_ids=IDS, nations=NATIONS)


# ------------------------------------------------------------------------------ round trip

SOURCE_NATIONS = sorted(NATIONS)
KG = st.floats(min_value=1e-3, max_value=1e7, allow_nan=False, allow_infinity=False)


@st.composite
def economies(draw) -> dict:
    ids = draw(st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,11}", fullmatch=True),
                        min_size=1, max_size=8, unique=True))
    nations = draw(st.lists(st.sampled_from(SOURCE_NATIONS), min_size=1, max_size=5, unique=True))

    def shares(n: int) -> list[float]:
        weights = draw(st.lists(st.integers(1, 1000), min_size=n, max_size=n))
        return [w / sum(weights) for w in weights]

    def kg_range() -> list[float]:
        return sorted(draw(st.lists(KG, min_size=2, max_size=2)))

    return {
        "notes": draw(st.text(max_size=40)),
        "sources": draw(st.lists(st.text(max_size=20), max_size=3)),
        "pen_online": {"pens_per_year": draw(st.integers(1, 10_000_000)),
                       "participating_nations": draw(st.integers(1, len(NATIONS))),
                       "basis": "read"},
        "chemical": [{"id": chem_id, "licit_kg": kg_range(), "illicit_kg": kg_range(),
                      "licit_share": share, "basis": f"basis of {chem_id}"}
                     for chem_id, share in zip(ids, shares(len(ids)))],
        "source": [{"nation": nation, "share": share, "basis": "estimate"}
                   for nation, share in zip(nations, shares(len(nations)))],
    }


@settings(max_examples=60, deadline=None)
@given(economies())
def test_any_valid_file_round_trips(tmp_path_factory, data: dict) -> None:
    path = tmp_path_factory.mktemp("economy") / "economy.toml"
    path.write_text(tomli_w.dumps(data))
    ids = [row["id"] for row in data["chemical"]]
    economy = load_economy(path, chemical_ids=ids, nations=NATIONS)
    assert economy.pens_per_year == data["pen_online"]["pens_per_year"]
    assert economy.participating_nations == data["pen_online"]["participating_nations"]
    assert economy.notes == data["notes"] and economy.sources == tuple(data["sources"])
    assert economy.chemicals == {
        row["id"]: ChemicalTrade(tuple(row["licit_kg"]), tuple(row["illicit_kg"]),
                                 row["licit_share"], row["basis"])
        for row in data["chemical"]}
    assert economy.source_shares == {row["nation"]: row["share"] for row in data["source"]}
