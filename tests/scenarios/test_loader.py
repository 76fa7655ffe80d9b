"""Scenario files: every error names the file, the line, the key path and the fix."""

from __future__ import annotations

import pytest

from helpers import LIBRARY

from scenarios.spec.loader import ScenarioError, load_scenario, parse_scenario
from scenarios.spec.schema import SCHEMA

GOOD = """[scenario]
name = "t"
seed = 3

[[nation]]
id = "USA"

[[nation]]
id = "MEX"
power = 2
"""


def _error(text: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "study.toml")
    return str(exc.value)


def test_defaults_fill_every_optional_key():
    s = parse_scenario(GOOD, "study.toml")
    assert s.nations == (("USA", 1), ("MEX", 2))
    assert s.ticks_max == 20_000 and s.network["latency_ticks"] == 20
    assert s.expect == {"safety": True, "liveness": True, "liveness_ticks_max": 5000,
                        "liveness_heights": 0, "prompt_decisions": False}


def test_every_library_scenario_loads():
    files = sorted(LIBRARY.glob("*.toml"))
    assert len(files) >= 5
    for f in files:
        load_scenario(f)
        assert f.read_text().startswith("# Question:"), f"{f.name} needs a header comment"


@pytest.mark.parametrize("text, needles", [
    (GOOD + "\n[network]\nlatency = 5\n",
     ["study.toml:13", "network.latency", "unknown key", "latency_ticks"]),
    (GOOD + "\n[weather]\nrain = true\n",
     ["study.toml:12", "weather", "unknown table", "Allowed tables"]),
    (GOOD.replace("seed = 3", 'seed = "three"'),
     ["study.toml:3", "scenario.seed", "expected int", "seed = 7"]),
    (GOOD + '\n[[behaviour]]\nnations = ["CAN"]\nkind = "crash"\n',
     ["behaviour[0].nations", "unknown nation 'CAN'", "MEX, USA"]),
    (GOOD + '\n[[behaviour]]\nnations = ["USA"]\nkind = "crash"\nfrom_tick = 500\nuntil_tick = 100\n',
     ["study.toml:16", "behaviour[0].until_tick", "not after from_tick", "larger than from_tick"]),
    (GOOD + '\n[[behaviour]]\nnations = ["USA"]\nkind = "explode"\n',
     ["behaviour[0].kind", "unknown value 'explode'", "crash"]),
    (GOOD + '\n[[partition]]\ngroups = [["USA"], ["USA"]]\n',
     ["partition[0].groups", "two groups"]),
    (GOOD + '\n[network]\nloss_probability = 1.5\n',
     ["network.loss_probability", "above the maximum 1.0"]),
    (GOOD.replace('id = "MEX"', 'id = "Mexico"'),
     ["nation[1].id", "ISO 3166 alpha-3", 'id = "MEX"']),
    (GOOD.replace('id = "MEX"', 'id = "USA"'), ["nation[1].id", "listed twice"]),
    ('[[nation]]\nid = "USA"\n', ["scenario", "missing required table", 'name = "baseline"']),
    ('[scenario]\nname = "x"\n', ["nation", "missing required table", 'id = "USA"']),
    ('[scenario]\nname = "x"\n[[nation]]\npower = 2\n', ["nation[0].id", "missing required key"]),
    ("[scenario\n", ["study.toml", "not valid TOML"]),
])
def test_error_messages(text, needles):
    message = _error(text)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_every_schema_key_has_doc_and_example():
    for table in SCHEMA.values():
        for name, key in table.keys.items():
            assert key.doc and name in key.example


def test_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")


def test_reference_doc_matches_the_schema():
    from helpers import ROOT
    from scenarios.spec.schema import reference_markdown
    doc = (ROOT / "docs" / "scenario-reference.md").read_text()
    assert doc == reference_markdown(), (
        "docs/scenario-reference.md is stale: run "
        "python -m scenarios.spec.schema > docs/scenario-reference.md")
    for table in SCHEMA.values():
        for key in table.keys:
            assert f"| `{key}` |" in doc


def test_every_library_scenario_round_trips_through_the_toml_writer():
    import dataclasses
    from scenarios.spec.dump import scenario_to_toml
    for f in sorted(LIBRARY.glob("*.toml")):
        s = load_scenario(f)
        text = scenario_to_toml(s, header="a header\nof two lines")
        assert text.startswith("# a header\n# of two lines\n")
        again = parse_scenario(text, str(f))
        assert dataclasses.replace(again, source=s.source) == s, f.name


# The forms fuzz counterexamples are written in (tomli-w): inline tables, arrays of inline tables
# and dotted keys. Each error still names the file, the line, the table, the key and the fix.
@pytest.mark.parametrize("text, needles", [
    ('nation = [{ id = "USA" }, { id = "MEX", powr = 3 }]\n\n[scenario]\nname = "x"\n',
     ["study.toml:1:", "nation[1].powr", "unknown key", "Allowed keys in [[nation]]", "power"]),
    ('nation = [\n  { id = "USA" },\n  { id = "MEX", powr = 3 },\n]\n[scenario]\nname = "x"\n',
     ["study.toml:3:", "nation[1].powr", "Allowed keys in [[nation]]"]),
    ('network.loss_probability = 2\n[scenario]\nname = "x"\n[[nation]]\nid = "USA"\n',
     ["study.toml:1:", "network.loss_probability", "above the maximum 1.0",
      "Use a value from 0.0 to 1.0"]),
    (GOOD + '\n[network]\nlatency_ticks = 5\nlink = [{ from = "USA", to = "CAN", '
     'latency_ticks = 3 }]\n', ["study.toml:14:", "network.link[0].to", "unknown nation 'CAN'",
                                "Use one of the [[nation]] ids"]),
    (GOOD + '\n[[behaviour]]\nnations = ["USA"]\nkind = "crahs"\n\nkinds = 1\n',
     ["study.toml:16:", "behaviour[0].kinds", "Allowed keys in [[behaviour]] are"]),
    (GOOD + '\n[[behaviour]]\nnations = ["USA"]\nkind = "crash"\n\nparams.bogus = 1\n',
     ["study.toml:16:", "behaviour[0].params.bogus", "unknown param", "Params of crash"]),
    (GOOD + '\n[[behaviour]]\nnations = ["USA"]\nkind = "crash"\nparams = { wipe = "yes" }\n',
     ["study.toml:15:", "behaviour[0].params.wipe", "expected bool"]),
    ('scenario = { name = "x", seed = "7" }\nnation = [{ id = "USA" }]\n',
     ["study.toml:1:", "scenario.seed", "expected int", "seed = 7"]),
])
def test_inline_tables_and_dotted_keys_have_line_numbers(text, needles):
    message = _error(text)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_a_table_defined_only_by_a_deeper_header_points_at_that_header():
    """`[[network.link]]` alone defines [network]: an error about `network` (found by the
    library's live-lossy-link.toml) names the header's line, not none."""
    from scenarios.spec.locate import key_lines
    lines = key_lines('[scenario]\nname = "x"\n\n[[network.link]]\nfrom = "A"\n\n[a.b.c]\nd = 1\n')
    assert lines[("network",)] == 4 and lines[("network", "link", 0, "from")] == 5
    assert lines[("a",)] == lines[("a", "b")] == lines[("a", "b", "c")] == 7


def test_key_lines_of_every_library_scenario_find_each_key():
    """The scanner reads every library file and its tomli-w round trip (inline and dotted forms)
    and finds a line for each key tomllib reads."""
    import tomllib

    import tomli_w

    from scenarios.spec.locate import key_lines

    def paths(value, prefix=()):
        if isinstance(value, dict):
            for k, v in value.items():
                yield prefix + (k,)
                yield from paths(v, prefix + (k,))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, v in enumerate(value):
                yield from paths(v, prefix + (i,))

    for f in sorted(LIBRARY.glob("*.toml")):
        for text in (f.read_text(), tomli_w.dumps(tomllib.loads(f.read_text()))):
            lines = key_lines(text)
            missing = [p for p in paths(tomllib.loads(text)) if p not in lines]
            assert not missing, f"{f.name}: no line for {missing[:3]}"
