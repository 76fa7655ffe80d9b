"""`chemtrace schema`: the scenario format as a JSON Schema, for editors, equal to the committed
docs/scenario.schema.json and accepting exactly what the loader's tables accept."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from helpers import LIBRARY

from scenarios.cli.main import main
from scenarios.spec.json_schema import schema_text

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "scenario.schema.json"


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_equals_the_generated_one():
    assert COMMITTED.read_text() == schema_text(), (
        "docs/scenario.schema.json is stale: run `chemtrace schema --out "
        "docs/scenario.schema.json`")


def test_schema_command_prints_it_and_writes_it(tmp_path, capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(schema_text())
    out = tmp_path / "s.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert out.read_text() == schema_text()


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.toml")), ids=lambda p: p.name)
def test_every_library_scenario_is_valid(path):
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in _validator().iter_errors(tomllib.loads(path.read_text()))]
    assert not errors, errors


@pytest.mark.parametrize("text, where", [
    ('nation = [{ id = "USA", powr = 3 }]\n[scenario]\nname = "x"\n', ["nation", 0]),
    ('network.loss_probability = 2\n[scenario]\nname = "x"\n', ["network", "loss_probability"]),
    ('[scenario]\nseed = 1\n', ["scenario"]),  # name is required
    ('[scenario]\nname = "x"\n[[behaviour]]\nnations = ["USA"]\nkind = "crash"\n'
     'params = { wipe = "yes" }\n', ["behaviour", 0, "params", "wipe"]),
    ('[scenario]\nname = "x"\n[[behaviour]]\nnations = ["USA"]\nkind = "mute"\n'
     'params = { wipe = true }\n', ["behaviour", 0, "params"]),  # mute takes no params
    ('[scenario]\nname = "x"\n[expect]\nsafety = "maybe"\n', ["expect", "safety"]),
    ('[scenario]\nname = "x"\n[weather]\n', []),
])
def test_schema_rejects_what_the_loader_rejects(text, where):
    errors = list(_validator().iter_errors(tomllib.loads(text)))
    assert errors, f"accepted: {text!r}"
    assert [list(e.absolute_path) for e in errors] == [where]


def test_completion_script_completes_commands_and_flags(tmp_path, capsys):
    """The bash script, sourced in a real bash, offers the commands and each command's flags."""
    import shutil
    import subprocess
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "chemtrace.bash"
    script.write_text(capsys.readouterr().out)
    bash = shutil.which("bash")
    assert bash

    def complete(*words: str) -> list[str]:
        words_ = " ".join(f"'{w}'" for w in words)
        out = subprocess.run(
            [bash, "-c", f"source {script}; COMP_WORDS=({words_}); "
             f"COMP_CWORD={len(words) - 1}; _shtab_chemtrace; printf '%s\\n' \"${{COMPREPLY[@]}}\""],
            capture_output=True, text=True, check=True).stdout
        return out.split()

    assert complete("chemtrace", "we") == ["weak-links"]
    assert "schema" in complete("chemtrace", "")
    assert complete("chemtrace", "fuzz", "--qu") == ["--quiet"]
    # file names for a scenario, a sweep spec and a --json-file
    (tmp_path / "my-study.toml").write_text("")
    assert f"{tmp_path}/my-study.toml" in complete("chemtrace", "run", f"{tmp_path}/my-")
    assert f"{tmp_path}/my-study.toml" in complete("chemtrace", "sweep", f"{tmp_path}/my-")
    assert f"{tmp_path}/my-study.toml" in complete("chemtrace", "bench", "--json-file",
                                                    f"{tmp_path}/my-")
