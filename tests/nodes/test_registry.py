"""The shipped reference data (chemicals, nations, lanes) and the loader that validates it.

README.md ("The precursor ledger") and nodes/data/README.md: every chemical has a CAS number with a valid check digit, an HS code, its
1988 Convention table and date, national control status with effective dates (USA, CHN, MEX, CAN
at least) and a maximum yield; nations are ISO 3166 alpha-3; lanes are cited and their shares
sum to 1 per source. A broken file is refused with a message naming file, row, field and fix.
"""

from __future__ import annotations

import importlib.resources
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scenarios
from nodes.app.registry import (
    CHEMICALS_PATH,
    NATIONS_PATH,
    REGIONS,
    RegistryError,
    cas_check_digit,
    cas_check_digit_ok,
    load_lanes,
    load_nations,
    load_registry,
    parse_lanes,
    un_members,
)

LANES_PATH = Path(scenarios.__file__).resolve().parent / "data" / "lanes.toml"


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def nations():
    return load_nations()


@pytest.fixture(scope="module")
def lanes():
    return load_lanes(LANES_PATH)


def reference_check_digit(digits: str) -> int:
    """The CAS rule written out independently: weights 1, 2, 3... from the rightmost digit."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        total += (position + 1) * int(digit)
    return total % 10


# ------------------------------------------------------------------------------ CAS check digit


def test_cas_check_digit_known_answers() -> None:
    # Water, 7732-18-5: 8*1 + 1*2 + 2*3 + 3*4 + 7*5 + 7*6 = 105, check digit 5.
    assert cas_check_digit("773218") == 5
    assert cas_check_digit_ok("7732-18-5")
    assert not cas_check_digit_ok("7732-18-6")
    assert not cas_check_digit_ok("7732185")
    assert not cas_check_digit_ok("7-18-5")  # the first part has 2 to 7 digits
    assert not cas_check_digit_ok("12345678-18-5")


@given(st.text("0123456789", min_size=2, max_size=7), st.text("0123456789", min_size=2,
                                                               max_size=2))
def test_any_digits_with_their_computed_check_digit_validate(first: str, second: str) -> None:
    check = reference_check_digit(first + second)
    assert cas_check_digit_ok(f"{first}-{second}-{check}")


@given(st.text("0123456789", min_size=2, max_size=7),
       st.text("0123456789", min_size=2, max_size=2), st.integers(1, 9))
def test_changing_the_check_digit_invalidates(first: str, second: str, delta: int) -> None:
    wrong = (reference_check_digit(first + second) + delta) % 10
    assert not cas_check_digit_ok(f"{first}-{second}-{wrong}")


@given(st.one_of(st.text(max_size=20), st.none(), st.integers()))
def test_cas_check_never_raises(value) -> None:
    assert cas_check_digit_ok(value) in (True, False)


# ------------------------------------------------------------------------------ shipped chemicals


def test_every_shipped_cas_check_digit_is_valid(registry) -> None:
    assert registry.chemicals
    for chemical in registry.chemicals.values():
        digits = chemical.cas.replace("-", "")
        assert reference_check_digit(digits[:-1]) == int(digits[-1]), chemical.id
        assert cas_check_digit_ok(chemical.cas), chemical.id
        assert registry.by_cas[chemical.cas] is chemical


# id: (CAS, 1988 Convention table, date it took effect), as the README's registry lists them.
DESIGN_CHEMICALS = {
    "npp": ("39742-60-4", "I", "2017"),
    "4-anpp": ("21409-26-7", "I", "2017"),
    "4-ap": ("23056-29-3", "I", "2022-11-23"),
    "1-boc-4-ap": ("125541-22-2", "I", "2022-11-23"),
    "norfentanyl": ("1609-66-1", "I", "2022-11-23"),
    "4-piperidone": ("41661-47-6", "I", "2024-12-03"),
    "1-boc-4-piperidone": ("79099-07-3", "I", "2024-12-03"),
    "acetic-anhydride": ("108-24-7", "I", "2001"),
    "propionyl-chloride": ("79-03-8", "", ""),
    "aniline": ("62-53-3", "", ""),
}


@pytest.mark.parametrize("chem_id", sorted(DESIGN_CHEMICALS))
def test_design_chemical_is_registered_with_its_dates(registry, chem_id: str) -> None:
    cas, table, effective = DESIGN_CHEMICALS[chem_id]
    chemical = registry.chemicals[chem_id]
    assert registry.is_registered(chem_id)
    assert chemical.cas == cas
    assert chemical.convention_table == table
    assert chemical.convention_effective.startswith(effective)
    if not effective:
        assert chemical.convention_effective == ""
    for nation in ("USA", "CHN", "MEX", "CAN"):
        assert nation in chemical.national, (chem_id, nation)


def test_china_scheduled_the_2022_trio_on_1_september_2024(registry) -> None:
    for chem_id in ("4-ap", "1-boc-4-ap", "norfentanyl"):
        assert registry.chemicals[chem_id].national["CHN"].effective == "2024-09-01"
        assert not registry.controlled_in(chem_id, "CHN", "2024-08-31")
        assert registry.controlled_in(chem_id, "CHN", "2024-09-01")


def test_mexico_rows_without_a_national_instrument_are_watched_not_dated(registry) -> None:
    # No Mexican instrument naming these was found: the registry must not borrow the Convention
    # date as a national listing (it used to).
    for chem_id in ("1-boc-4-ap", "norfentanyl", "4-piperidone", "1-boc-4-piperidone"):
        control = registry.chemicals[chem_id].national["MEX"]
        assert (control.status, control.effective) == ("watched", ""), chem_id
        assert not registry.controlled_in(chem_id, "MEX", "2099-01-01")
    assert registry.controlled_in("4-ap", "MEX", "2021-05-13")  # DOF acuerdo of 13 May 2021


def test_convention_dates_that_were_stand_ins_are_no_longer_used(registry) -> None:
    # 2001-03-29 was the last day of CND 44, not an effective date; a listing takes effect 180
    # days after the Secretary-General's communication, so it cannot precede 2001-09-25.
    assert registry.chemicals["acetic-anhydride"].convention_effective >= "2001-09-25"
    # Propionyl chloride: 2026-03-10 is the Federal Register publication date, not the effective date.
    assert registry.chemicals["propionyl-chloride"].national["USA"].effective > "2026-03-10"


def test_dual_use_and_uncontrolled_rows(registry) -> None:
    assert registry.chemicals["acetic-anhydride"].dual_use
    aniline = registry.chemicals["aniline"]
    assert {c.status for c in aniline.national.values()} == {"uncontrolled"}
    assert not any(registry.controlled_in("aniline", n, "2099-01-01") for n in aniline.national)


def test_every_chemical_is_cited_and_has_a_yield_basis(registry) -> None:
    for chemical in registry.chemicals.values():
        assert chemical.names and chemical.yield_basis.strip(), chemical.id
        assert 0 < chemical.yield_max <= 10, chemical.id
        assert any("https://" in s or "http://" in s for s in chemical.sources), chemical.id
        assert re.fullmatch(r"\d{4}\.\d{2}", chemical.hs_code), chemical.id


# Molecular formulas (free bases), written out here independently of the data file's prose.
FORMULAS = {
    "npp": "C13H17NO", "4-anpp": "C19H24N2", "4-ap": "C11H16N2", "1-boc-4-ap": "C16H24N2O2",
    "norfentanyl": "C14H20N2O", "4-piperidone": "C5H9NO", "1-boc-4-piperidone": "C10H17NO3",
    "acetic-anhydride": "C4H6O3", "propionyl-chloride": "C3H5ClO", "aniline": "C6H7N",
    "fentanyl": "C22H28N2O", "acetylfentanyl": "C21H26N2O",
}
ATOMIC_WEIGHTS = {"C": 12.011, "H": 1.008, "N": 14.007, "O": 15.999, "Cl": 35.45}  # IUPAC


def molar_mass(formula: str) -> float:
    return sum(ATOMIC_WEIGHTS[element] * int(count or 1)
               for element, count in re.findall(r"([A-Z][a-z]?)(\d*)", formula))


def test_every_step_yield_is_its_molar_mass_ratio(registry) -> None:
    """1 mol of input gives at most 1 mol of product: yield = M(product) / M(input)."""
    steps = registry.transformations
    for needed in [("npp", "4-anpp"), ("4-anpp", "fentanyl"), ("4-ap", "4-anpp"),
                   ("4-piperidone", "npp"), ("1-boc-4-piperidone", "npp"), ("1-boc-4-ap", "4-ap"),
                   ("norfentanyl", "fentanyl"), ("acetic-anhydride", "acetylfentanyl"),
                   ("propionyl-chloride", "fentanyl"), ("aniline", "4-anpp")]:
        assert needed in steps, needed
    for (source, product), step in steps.items():
        expected = molar_mass(FORMULAS[product]) / molar_mass(FORMULAS[source])
        assert abs(step.yield_max - expected) <= 0.005 * expected, (source, product, expected)
        assert FORMULAS[source] in step.yield_basis and FORMULAS[product] in step.yield_basis
        assert any("https://" in s for s in step.sources), (source, product)
    assert steps[("4-piperidone", "npp")].yield_max == pytest.approx(203.28 / 99.13, rel=1e-3)


def test_every_registered_hs_code_is_watched(registry) -> None:
    # A registered chemical declared under an unwatched code would dodge the `unregistered` flag.
    for chemical in registry.chemicals.values():
        assert registry.is_watched(chemical.hs_code), (chemical.id, chemical.hs_code)


def test_controlled_in_semantics(registry) -> None:
    assert registry.controlled_in("4-anpp", "USA", "2010-08-30")
    assert not registry.controlled_in("4-anpp", "USA", "2010-08-29")
    assert not registry.controlled_in("4-piperidone", "CHN", "2099-01-01")  # watched only
    assert not registry.controlled_in("npp", "GTM", "2099-01-01")  # no data: not known controlled
    with pytest.raises(KeyError, match="unknown chemical id"):
        registry.controlled_in("fentanyl", "USA", "2024-01-01")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        registry.controlled_in("npp", "USA", "1 May 2024")


def test_data_files_ship_inside_the_packages() -> None:
    base = importlib.resources.files("nodes") / "data"
    assert (base / "chemicals.toml").is_file() and (base / "nations.csv").is_file()
    assert (importlib.resources.files("scenarios") / "data" / "lanes.toml").is_file()
    assert CHEMICALS_PATH.is_file() and NATIONS_PATH.is_file()


# ------------------------------------------------------------------------------ shipped nations


def test_all_iso_entries_and_exactly_193_un_members(nations) -> None:
    assert len(nations) == 249
    assert sum(n.un_member for n in nations.values()) == 193
    members = un_members()
    assert len(members) == 193 and members == sorted(members)
    assert {"USA", "CHN", "MEX", "CAN", "IND", "GTM", "PAN", "SSD"} <= set(members)
    for code in ("TWN", "HKG", "MAC", "VAT", "PSE"):
        assert code in nations and not nations[code].un_member
    assert all(n.region in REGIONS for n in nations.values())
    assert nations["MEX"].region == "north_america"
    assert nations["GTM"].region == "central_america"


# ------------------------------------------------------------------------------ shipped lanes


def test_lanes_load_and_shares_sum_to_one_per_source(lanes) -> None:
    totals: dict[str, float] = {}
    for lane in lanes:
        totals.setdefault(lane.from_, 0.0)
        totals[lane.from_] += lane.share
    assert set(totals) >= {"CHN", "IND"}
    for source, total in totals.items():
        assert math.isclose(total, 1.0, abs_tol=1e-6), source


def test_lanes_follow_the_public_reports(lanes, registry) -> None:
    destinations = {lane.to for lane in lanes}
    assert {"MEX", "USA", "CAN"} <= destinations
    transits = {code for lane in lanes for code in lane.via}
    assert {"GTM", "PAN"} <= transits  # not likely consortium members: where dark hops happen
    share_to = {}
    for lane in lanes:
        if lane.from_ == "CHN":
            share_to[lane.to] = share_to.get(lane.to, 0.0) + lane.share
    assert max(share_to, key=share_to.get) == "MEX"  # Mexico the main destination
    for lane in lanes:
        assert lane.basis.strip() and lane.chemicals, lane
        assert all(registry.is_registered(c) for c in lane.chemicals)
        assert lane.path[0] == lane.from_ and lane.path[-1] == lane.to


def test_lanes_file_says_shares_are_estimates() -> None:
    import tomllib
    raw = tomllib.loads(LANES_PATH.read_text(encoding="utf-8"))
    assert "not measured" in raw["notes"].lower() or "estimate" in raw["notes"].lower()
    text = " ".join(raw["sources"]) + raw["basis"]
    for needle in ("ODNI", "DEA", "CBP", "Lazaro Cardenas", "monomethylamine"):
        assert needle in text, needle


def test_scenario_lanes_need_only_from_to_share(nations, registry) -> None:
    items = [{"from": "CHN", "to": "MEX", "via": ["PAN"], "share": 0.4},
             {"from": "CHN", "to": "USA", "share": 0.6}]
    parsed = parse_lanes(items, "scenario.toml", nations, registry.chemicals)
    assert [lane.path for lane in parsed] == [("CHN", "PAN", "MEX"), ("CHN", "USA")]
    assert parsed[1].via == () and parsed[1].chemicals == () and parsed[1].basis == ""


# ------------------------------------------------------------------------------ broken files


def shipped(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def mutate(text: str, old: str, new: str) -> str:
    assert old in text, f"test setup: {old!r} not in the file"
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# (old, new, the message must contain each of these: row.field, problem, fix)
CHEMICAL_ERRORS = {
    "cas-check-digit": ('cas = "39742-60-4"', 'cas = "39742-60-5"',
                        ["chemical[0].cas", "check digit of '39742-60-5' should be 4",
                         "fix the CAS number"]),
    "cas-format": ('cas = "39742-60-4"', 'cas = "39742604"',
                   ["chemical[0].cas", "not shaped like a CAS number", '"39742-60-4"']),
    "unknown-key": ('id = "4-anpp"', 'id = "4-anpp"\ncolour = "red"',
                    ["chemical[1].colour", "unknown key", "allowed keys are"]),
    "missing-key": ('cas = "125541-22-2"\n', "",
                    ["chemical[3].cas", "missing", 'add cas = "39742-60-4"']),
    "duplicate-id": ('id = "4-anpp"', 'id = "npp"',
                     ["chemical[1].id", "duplicate id 'npp' (also chemical[0])",
                      "give each chemical its own id"]),
    "duplicate-cas": ('cas = "21409-26-7"', 'cas = "39742-60-4"',
                      ["chemical[1].cas", "duplicate CAS number", "merge the two"]),
    "hs-format": ('hs_code = "2933.37"', 'hs_code = "293337"',
                  ["chemical[0].hs_code", "not an HS subheading", '"NNNN.NN"']),
    "convention-table": ('convention_table = "I"', 'convention_table = "III"',
                         ["chemical[0].convention_table", "unknown table 'III'",
                          'use "I" or "II"']),
    "convention-date": ('convention_effective = "2017-10-18"',
                        'convention_effective = "2017-13-01"',
                        ["chemical[0].convention_effective", "not an ISO date", '"YYYY-MM-DD"']),
    "convention-date-unlisted": ('convention_effective = ""', 'convention_effective = "2020-01-01"',
                                 ["chemical[8].convention_effective", "in no Convention table",
                                  'write convention_effective = ""']),
    "national-date": ('national.CHN = { status = "controlled", effective = "2024-09-01" }',
                      'national.CHN = { status = "controlled", effective = "2024-9-1" }',
                      ["chemical[2].national.CHN.effective", "not an ISO date",
                       '"YYYY-MM-DD"']),
    "yield-not-positive": ("yield_max = 1.655", "yield_max = 0.0",
                           ["chemical[0].yield_max", "out of range", "above 0"]),
    "yield-not-number": ("yield_max = 1.655", 'yield_max = "1.655"',
                         ["chemical[0].yield_max", "expected a number", "yield_max = 1.655"]),
    "status": ('national.USA = { status = "controlled", effective = "2007-04-23" }',
               'national.USA = { status = "banned", effective = "2007-04-23" }',
               ["chemical[0].national.USA.status", "unknown status 'banned'",
                "use one of: controlled, watched, uncontrolled"]),
    "uncontrolled-with-date": ('national.USA = { status = "uncontrolled", effective = "" }',
                               'national.USA = { status = "uncontrolled", '
                               'effective = "2020-01-01" }',
                               ["chemical[9].national.USA.effective", "uncontrolled status",
                                'write effective = ""']),
    "required-nation-missing": ('national.MEX = { status = "controlled", '
                                'effective = "2017-07-18" }\n', "",
                                ["chemical[0].national.MEX", "missing",
                                 "every chemical states its status in CAN, CHN, MEX, USA"]),
    "unknown-nation": ('national.CAN = { status = "controlled", effective = "2016-11-30" }',
                       'national.CAN = { status = "controlled", effective = "2016-11-30" }\n'
                       'national.XYZ = { status = "watched", effective = "" }',
                       ["chemical[0].national.XYZ", "unknown nation 'XYZ'", "nations.csv"]),
    "national-unknown-key": ('national.USA = { status = "controlled", effective = "2007-04-23" }',
                             'national.USA = { status = "controlled", effective = "2007-04-23",'
                             ' since = "2007" }',
                             ["chemical[0].national.USA.since", "unknown key",
                              "only status and effective"]),
    "watched-hs-code": ('"2933.39",  # other', '"2933-39",  # other',
                        ["watched_hs_codes[0]", "not an HS subheading", '"NNNN.NN"']),
    "step-unknown-input": ('input = "4-piperidone"', 'input = "4-piperidinone"',
                           ["transformation[0].input", "unknown chemical '4-piperidinone'",
                            "use a registered id"]),
    "step-unknown-product": ('product = "npp"', 'product = "heroin"',
                             ["transformation[0].product", "unknown product 'heroin'",
                              "end product"]),
    "step-duplicate": ('input = "1-boc-4-piperidone"\nproduct = "npp"',
                       'input = "4-piperidone"\nproduct = "npp"',
                       ["transformation[1].product", "duplicate step 4-piperidone -> npp",
                        "(also transformation[0])"]),
    "step-yield-range": ("yield_max = 2.051", "yield_max = 101.0",
                         ["transformation[0].yield_max", "out of range", "at most 100"]),
    "step-missing-basis": ('yield_basis = "N-phenethylation: 1 mol 4-piperidone', 'notes = "',
                           ["transformation[0].yield_basis", "missing", "add yield_basis"]),
    "unknown-top-level-key": ("watched_hs_codes = [", 'colour = "red"\nwatched_hs_codes = [',
                              ["colour", "unknown top-level key", "allowed top-level keys"]),
}


@pytest.mark.parametrize("case", sorted(CHEMICAL_ERRORS))
def test_chemicals_error_names_file_row_field_and_fix(tmp_path: Path, case: str) -> None:
    old, new, expected = CHEMICAL_ERRORS[case]
    broken = tmp_path / "chemicals.toml"
    broken.write_text(mutate(shipped(CHEMICALS_PATH), old, new), encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(broken)
    message = str(info.value)
    assert message.startswith(str(broken)), message
    for needle in expected:
        assert needle in message, (needle, message)


def test_chemicals_error_gives_the_line(tmp_path: Path) -> None:
    text = mutate(shipped(CHEMICALS_PATH), 'cas = "21409-26-7"', 'cas = "21409-26-8"')
    broken = tmp_path / "chemicals.toml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(broken)
    line = line_of(text, 'cas = "21409-26-8"')
    assert str(info.value).startswith(f"{broken}:{line}: chemical[1].cas: "), str(info.value)


def test_chemicals_not_toml(tmp_path: Path) -> None:
    broken = tmp_path / "chemicals.toml"
    broken.write_text(shipped(CHEMICALS_PATH) + "\n[[chemical]\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"chemicals\.toml: not valid TOML .*fix the syntax"):
        load_registry(broken)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"nope\.toml: cannot read the file .*check the path"):
        load_registry(tmp_path / "nope.toml")


HEADER = "alpha3,name,un_member,region\n"
NATION_ERRORS = {
    "comment-line": ("# ISO 3166-1\n" + HEADER + "MEX,Mexico,1,north_america\n",
                     ["line 1: header", "expected alpha3,name,un_member,region",
                      "no comment lines"]),
    "region": (HEADER + "MEX,Mexico,1,north_america\nGTM,Guatemala,1,latin_america\n",
               ["line 3: region", "unknown region 'latin_america'", "use one of:"]),
    "duplicate": (HEADER + "MEX,Mexico,1,north_america\nMEX,Mexico,1,north_america\n",
                  ["line 3: alpha3", "duplicate 'MEX' (also line 2)", "list each nation once"]),
    "alpha3": (HEADER + "Mex,Mexico,1,north_america\n",
               ["line 2: alpha3", "not an ISO 3166 alpha-3 code", "three capital letters"]),
    "un-member": (HEADER + "MEX,Mexico,yes,north_america\n",
                  ["line 2: un_member", "'yes' is not 0 or 1", "write 1 for a UN member"]),
    "field-count": (HEADER + "COD,Congo, The Democratic Republic of the,1,africa\n",
                    ["line 2: row", "5 fields, expected 4", "quote names with commas"]),
    "empty-name": (HEADER + "MEX, ,1,north_america\n",
                   ["line 2: name", "empty", "short name"]),
}


@pytest.mark.parametrize("case", sorted(NATION_ERRORS))
def test_nations_error_names_file_line_field_and_fix(tmp_path: Path, case: str) -> None:
    text, expected = NATION_ERRORS[case]
    broken = tmp_path / "nations.csv"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_nations(broken)
    message = str(info.value)
    assert message.startswith(f"{broken}: "), message
    for needle in expected:
        assert needle in message, (needle, message)


def lanes_file(*lanes: str) -> str:
    return 'basis = "test"\n' + "".join(f"\n[[lane]]\n{lane}\n" for lane in lanes)


LANE_ERRORS = {
    "unknown-nation": (lanes_file('from = "XYZ"\nto = "MEX"\nshare = 1.0'),
                       ["lane[0].from", "unknown nation 'XYZ'", "nations.csv"]),
    "not-alpha3": (lanes_file('from = "chn"\nto = "MEX"\nshare = 1.0'),
                   ["lane[0].from", "not an ISO 3166 alpha-3 code", "three capital letters"]),
    "share-sum": (lanes_file('from = "CHN"\nto = "MEX"\nshare = 0.5',
                             'from = "CHN"\nto = "USA"\nshare = 0.4'),
                  ["lane[0].share", "from 'CHN' (lane[0], lane[1]) sum to 0.9",
                   "make them sum to 1.0"]),
    "share-range": (lanes_file('from = "CHN"\nto = "MEX"\nshare = 1.5'),
                    ["lane[0].share", "outside (0, 1]", "at most 1"]),
    "share-zero": (lanes_file('from = "CHN"\nto = "MEX"\nshare = 1.0',
                              'from = "CHN"\nto = "USA"\nshare = 0'),
                   ["lane[1].share", "outside (0, 1]", "above 0"]),
    "via-has-endpoint": (lanes_file('from = "CHN"\nto = "MEX"\nvia = ["MEX"]\nshare = 1.0'),
                         ["lane[0].via[0]", "'MEX' is the lane's own destination",
                          "only the nations in between"]),
    "via-twice": (lanes_file('from = "CHN"\nto = "MEX"\nvia = ["PAN", "PAN"]\nshare = 1.0'),
                  ["lane[0].via[1]", "'PAN' listed twice", "each transit once"]),
    "unknown-chemical": (lanes_file('from = "CHN"\nto = "MEX"\nshare = 0.5',
                                    'from = "CHN"\nto = "USA"\nshare = 0.5\n'
                                    'chemicals = ["fentanyl"]'),
                         ["lane[1].chemicals[0]", "unknown chemical 'fentanyl'",
                          "use a registered id"]),
    "missing-share": (lanes_file('from = "CHN"\nto = "MEX"'),
                      ["lane[0].share", "missing", "add share = 0.4"]),
    "unknown-key": (lanes_file('from = "CHN"\nto = "MEX"\nshare = 1.0\nmode = "sea"'),
                    ["lane[0].mode", "unknown key", "allowed keys are"]),
    "same-route": (lanes_file('from = "CHN"\nto = "MEX"\nshare = 0.5',
                              'from = "CHN"\nto = "MEX"\nshare = 0.5'),
                   ["lane[1].via", "same route as lane[0] (CHN -> MEX)", "merge the two lanes"]),
    "from-is-to": (lanes_file('from = "MEX"\nto = "MEX"\nshare = 1.0'),
                   ["lane[0].to", "same nation as from", "pick another destination"]),
    "no-lanes": ('basis = "nothing"\n', ["lane", "missing", "add at least one [[lane]]"]),
}


@pytest.mark.parametrize("case", sorted(LANE_ERRORS))
def test_lanes_error_names_file_row_field_and_fix(tmp_path: Path, registry, nations,
                                                   case: str) -> None:
    text, expected = LANE_ERRORS[case]
    broken = tmp_path / "lanes.toml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_lanes(broken, nations, registry)
    message = str(info.value)
    assert message.startswith(str(broken)), message
    for needle in expected:
        assert needle in message, (needle, message)
