"""`chemtrace run`: outputs, exit codes and messages."""

from __future__ import annotations

import json

from helpers import LIBRARY, nations_toml

from scenarios.cli.main import main


def test_run_writes_summary_and_trace_and_exits_0(tmp_path, capsys):
    code = main(["run", str(LIBRARY / "baseline.toml"), "--ticks-max", "2000", "--out",
                 str(tmp_path)])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ticks"] == 2000 and summary["seed"] == 7
    assert (tmp_path / "trace.jsonl").stat().st_size > 0
    out = capsys.readouterr().out
    assert "heights committed" in out and summary["trace_sha256"] in out


def test_seed_override_and_default_out_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(LIBRARY / "baseline.toml"), "--ticks-max", "500", "--seed", "9",
                 "--quiet"]) == 0
    summary = json.loads((tmp_path / "runs" / "baseline-9" / "summary.json").read_text())
    assert summary["seed"] == 9


def four_nations(name: str, ticks_max: int) -> str:
    """A scenario file's [scenario] table and four nations, to append behaviours to."""
    return f"""
[scenario]
name = "{name}"
ticks_max = {ticks_max}
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
"""


def test_failed_expectation_exits_1_and_prints_the_reproduce_command(tmp_path, capsys):
    scenario = tmp_path / "stall.toml"
    scenario.write_text(four_nations("stall", 3000) + """
[[behaviour]]
nations = ["CAN", "CHN"]
kind = "crash"
[expect]
liveness = true
liveness_ticks_max = 1000
""")
    code = main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "expectation failed" in err
    assert f"chemtrace run {scenario} --seed 0 --ticks-max 3000" in err


def test_bad_scenario_file_exits_2_naming_file_key_and_fix(tmp_path, capsys):
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[scenario]\nname = "x"\nticks_max = "many"\n[[nation]]\nid = "USA"\n')
    assert main(["run", str(scenario), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(scenario) in err and "scenario.ticks_max" in err and "ticks_max = 20000" in err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def test_bad_command_line_exits_2(capsys):
    import pytest
    with pytest.raises(SystemExit) as exc:
        main(["run", str(LIBRARY / "baseline.toml"), "--seed", "minus"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["fly"])
    assert exc.value.code == 2


def test_an_unexpected_violation_is_reported_as_a_bug_with_the_reproduce_command(tmp_path,
                                                                                 capsys):
    """A custom behaviour that equivocates but does not declare itself Byzantine: the oracles
    see a violation below 1/3 Byzantine power, which the protocol forbids, so the run says BUG,
    exits 1 and prints the command that reproduces it."""
    script = tmp_path / "hidden.py"
    script.write_text('''
from scenarios.api import CustomBehaviour, parse_scenario, with_custom
from scenarios.faults.behaviours import EquivocatingHooks

TOML = """
[scenario]
name = "hidden"
seed = 3
ticks_max = 3000
[[nation]]
id = "USA"
[[nation]]
id = "MEX"
[[nation]]
id = "CAN"
[[nation]]
id = "CHN"
[[behaviour]]
nations = ["CAN"]
kind = "equivocate"
params = { mode = "split" }
[expect]
safety = "any"
"""

class Hidden(CustomBehaviour):
    byzantine = False  # lies about itself: its equivocation is not counted as Byzantine power
    params = {"mode": "split"}
    def node_hooks(self, nation, shared):
        return EquivocatingHooks(self, shared)

def scenario():
    return with_custom(parse_scenario(TOML, __file__), Hidden(["CHN"]))
''')
    code = main(["run", str(script), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["byzantine_power_fraction"] == 0.25
    assert any(v["kind"] == "agreement" and v["expected"] is False
               for v in summary["violations"]), summary["violations"]
    assert code == 1
    assert "BUG" in err and f"chemtrace run {script} --seed 3 --ticks-max 3000" in err


# ---------------------------------------------------------------- the CLI package's structure


def _imports_within(package_dir, package: str) -> dict[str, set[str]]:
    """Every import (at top level or inside a function) of each module of `package` that names
    another module of `package`; `from P import M` counts as importing P.M when M is a module."""
    import ast

    modules = {(package if p.stem == "__init__" else f"{package}.{p.stem}"): p
               for p in sorted(package_dir.glob("*.py"))}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = (name if path.stem == "__init__" else name.rpartition(".")[0]).split(".")
                    base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def visit(n: str) -> None:
        state[n] = "open"
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return cycles


def test_the_cli_package_has_no_import_cycle_and_no_command_module_imports_main():
    from pathlib import Path

    import scenarios.cli

    graph = _imports_within(Path(scenarios.cli.__file__).parent, "scenarios.cli")
    assert "scenarios.cli.args" in graph and "scenarios.cli.run" in graph
    assert _cycles(graph) == []
    assert [m for m, deps in graph.items() if "scenarios.cli.main" in deps] == ["scenarios.cli"]


def test_the_import_walk_finds_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = _imports_within(pkg, "pkg")
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    assert _cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_exit_codes_and_every_command_belongs_to_one_group():
    from scenarios.cli.args import ExitCode
    from scenarios.cli.main import GROUPS, build_parser

    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0), ("EXPECTATION_FAILED", 1), ("USAGE", 2), ("INTERRUPTED", 130)]
    names = [name for group in GROUPS for name in group.COMMANDS]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == names  # each registered once, in the order --help lists them


def test_a_scenario_name_cannot_lead_the_default_output_folder_out_of_runs(tmp_path,
                                                                        monkeypatch):
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    scenario = work / "escape.toml"
    scenario.write_text(four_nations("../../../x", 300))
    assert main(["run", str(scenario), "--quiet"]) == 0
    written = sorted(p.relative_to(tmp_path).as_posix()
                     for p in tmp_path.rglob("summary.json"))
    assert written == ["a/b/c/runs/-..-..-x-0/summary.json"]
    assert not (tmp_path / "x-0").exists()


def test_replay_refuses_an_unregistered_node_class_before_importing_it(tmp_path, monkeypatch,
                                                                       capsys):
    marker = tmp_path / "imported"
    (tmp_path / "planted_module.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "class Hooks:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    replay = tmp_path / "replay.toml"
    replay.write_text(f"# node_class: planted_module:Hooks\n# trace_sha256: {'0' * 64}\n"
                      + four_nations("planted", 300))
    assert main(["replay", str(replay)]) == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "planted_module:Hooks is not a registered node class" in err
    assert "nodes.node:Node" in err
