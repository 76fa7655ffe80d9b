"""`chemtrace run`: outputs, exit codes and messages."""

from __future__ import annotations

import json

from helpers import LIBRARY, nations_toml

from scenarios.cli.main import main


def test_run_writes_summary_and_trace_and_exits_0(tmp_path, capsys):
    # 5,000 ticks: the liveness window after GST (tick 0); a shorter run leaves it not judged.
    code = main(["run", str(LIBRARY / "baseline.toml"), "--ticks-max", "5000", "--out",
                 str(tmp_path)])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ticks"] == 5000 and summary["seed"] == 7
    assert (tmp_path / "trace.jsonl").stat().st_size > 0
    out = capsys.readouterr().out
    assert "heights committed" in out and summary["trace_sha256"] in out


def test_a_modelled_run_says_so_in_its_table_summary_and_trace(tmp_path, capsys):
    scenario = tmp_path / "modelled.toml"
    nations = nations_toml(["USA", "MEX", "CAN", "CHN"])
    scenario.write_text(f'[scenario]\nname = "m"\nticks_max = 1500\n{nations}\n'
                        f'[consensus]\nsignatures = "modelled"\n')
    main(["run", str(scenario), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "signatures" in out and "modelled (not Ed25519" in out
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["signatures"] == "modelled"
    end = (tmp_path / "out" / "trace.jsonl").read_text().splitlines()[-1]
    assert json.loads(end)["signatures"] == "modelled"
    main(["run", str(LIBRARY / "baseline.toml"), "--ticks-max", "1500", "--out",
          str(tmp_path / "ed")])
    assert "signatures" not in capsys.readouterr().out


def test_run_json_prints_the_summary_alone_on_stdout(tmp_path, capsys):
    code = main(["run", "baseline", "--ticks-max", "5000", "--out", str(tmp_path), "--json"])
    printed = capsys.readouterr()
    assert code == 0
    assert json.loads(printed.out) == json.loads((tmp_path / "summary.json").read_text())
    assert "heights committed" not in printed.out + printed.err  # no table
    assert "trace sha256" in printed.err and "wrote" in printed.err


def test_seed_override_and_default_out_folder(tmp_path, monkeypatch, capsys):
    """The default folder is named after the file (not [scenario].name), one new folder per
    run with runs/latest pointing at it: running twice keeps both."""
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "my-baseline.toml"  # [scenario].name stays "baseline"
    copy.write_text((LIBRARY / "baseline.toml").read_text())
    for _ in range(2):
        assert main(["run", str(copy), "--ticks-max", "5000", "--seed", "9", "--quiet"]) == 0
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["latest", "my-baseline-9-1",
                                                      "my-baseline-9-2"]
    for name in ("my-baseline-9-1", "my-baseline-9-2"):
        assert json.loads((runs / name / "summary.json").read_text())["seed"] == 9
    assert (runs / "latest").resolve() == (runs / "my-baseline-9-2").resolve()
    assert "wrote runs/my-baseline-9-2/summary.json" in capsys.readouterr().out


def two_of_four_down(name: str, ticks_max: int, expect: str, window: int = 1000) -> str:
    """A four-nation scenario with CAN and CHN crashed from the start: nothing commits."""
    return f"""
[scenario]
name = "{name}"
ticks_max = {ticks_max}
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
[[behaviour]]
nations = ["CAN", "CHN"]
kind = "crash"
[expect]
{expect}
liveness_ticks_max = {window}
"""


def test_failed_expectation_exits_1_and_prints_the_reproduce_command(tmp_path, capsys):
    scenario = tmp_path / "stall.toml"
    scenario.write_text(two_of_four_down("stall", 3000, "liveness = true"))
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


HALF_DOWN_LATE = f"""
[scenario]
name = "half-down"
ticks_max = 2000
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
[[behaviour]]
nations = ["CAN", "CHN"]
kind = "crash"
from_tick = 600
[workload]
txs_per_tick = 0.1
[expect]
liveness = true
liveness_ticks_max = 5000
"""


def test_a_run_too_short_to_judge_liveness_says_not_judged_and_exits_1(tmp_path, capsys):
    """Two of four nations down for good from tick 600, after some commits, and a run shorter
    than the liveness window after that: whether the nations left go on committing is past the
    run's end. It used to say "liveness ok" and exit 0; it says "not judged", how much longer to
    run, and exits 1. Run that long and the verdict is "stalled"."""
    scenario = tmp_path / "half-down.toml"
    scenario.write_text(HALF_DOWN_LATE)
    assert main(["run", str(scenario), "--out", str(tmp_path / "short")]) == 1
    captured = capsys.readouterr()
    summary = json.loads((tmp_path / "short" / "summary.json").read_text())
    assert summary["heights_committed"] > 0
    assert summary["liveness_verdict"] == "not judged" and summary["liveness_ok"] is None
    assert "run 8,600 more ticks (--ticks-max 10600)" in summary["liveness"]
    assert "not judged" in captured.out and "liveness ok" not in captured.out
    assert "liveness not judged" in captured.err and "--ticks-max 10600" in captured.err
    assert main(["run", str(scenario), "--out", str(tmp_path / "long"), "--ticks-max", "10600",
                 "--quiet"]) == 1
    summary = json.loads((tmp_path / "long" / "summary.json").read_text())
    assert summary["liveness_verdict"] == "stalled" and summary["liveness_ok"] is False


def test_an_absent_latency_is_explained_not_shown_as_none(tmp_path, capsys):
    scenario = tmp_path / "idle.toml"
    scenario.write_text(two_of_four_down("idle", 300, "liveness = false", window=100))
    main(["run", str(scenario), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "None" not in out
    assert "absent: no transaction submitted in this run was committed" in out
    assert "liveness" in out and "stalled" in out


def test_a_run_of_custody_records_alone_does_not_say_nothing_was_committed(tmp_path, capsys):
    """opt-out-hub has no synthetic load (txs_per_tick = 0): its committed transactions are
    custody records, which are not timed, so the latency is absent for that reason."""
    main(["run", "opt-out-hub", "--ticks-max", "3000", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["txs_committed"] > 0 and summary["latency_ticks_p50"] is None
    out = capsys.readouterr().out
    assert "no transaction submitted in this run was committed" not in out
    assert "absent: no synthetic load committed (custody records are not timed)" in out


def test_scenario_errors_keep_their_table_names(tmp_path, capsys):
    """The loader's messages quote `[scenario]`; printed with Rich markup on, the brackets and
    the name between them vanished ("Allowed keys in  are ...")."""
    scenario = tmp_path / "colour.toml"
    scenario.write_text('[scenario]\nname = "x"\ncolour = 1\n[[nation]]\nid = "USA"\n')
    assert main(["run", str(scenario), "--quiet"]) == 2
    assert "Allowed keys in [scenario] are" in capsys.readouterr().err


def test_a_binary_or_non_utf8_file_exits_2_with_one_line_in_run_and_replay(tmp_path, capsys):
    for name, data in (("nul.toml", b"ab\x00cd"), ("latin.toml", b"name = \"caf\xe9\"\n"),
                       ("random.toml", bytes(range(256)))):
        path = tmp_path / name
        path.write_bytes(data)
        for command in ("run", "replay"):
            assert main([command, str(path)]) == 2, (name, command)
            err = capsys.readouterr().err
            assert err.startswith(f"error: {path}: ") and err.count("\n") == 1, err
            assert "Traceback" not in err and "TOML text file" in err


def test_overrides_are_held_to_the_schema_bounds(tmp_path, capsys):
    assert main(["run", str(LIBRARY / "baseline.toml"), "--ticks-max", str(10**12),
                 "--out", str(tmp_path)]) == 2
    assert "--ticks-max 1000000000000: out of range" in capsys.readouterr().err
    assert main(["run", str(LIBRARY / "baseline.toml"), "--seed", str(2**64),
                 "--out", str(tmp_path)]) == 2
    assert "--seed" in capsys.readouterr().err
    assert not (tmp_path / "summary.json").exists()


def test_version_module_entry_and_library_scenarios_by_name(tmp_path, capsys, monkeypatch):
    import subprocess
    import sys

    import pytest
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("chemtrace ")
    # `python -m chemtrace` from any folder (the installed one-module shim, chemtrace.py).
    proc = subprocess.run([sys.executable, "-m", "chemtrace", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("chemtrace "), proc.stderr
    monkeypatch.chdir(tmp_path)  # no baseline.toml here: the name finds the library's
    assert main(["run", "baseline", "--ticks-max", "5000", "--quiet", "--out",
                 str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["scenario"] == "baseline"


def four_nations(name: str, ticks_max: int) -> str:
    """A scenario file's [scenario] table and four nations, with a liveness window the run
    covers, to append behaviours to."""
    return f"""
[scenario]
name = "{name}"
ticks_max = {ticks_max}
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
[expect]
liveness_ticks_max = 100
"""


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
    assert written == ["a/b/c/runs/escape-0-1/summary.json"]  # named after the file
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


def test_the_readme_command_overview_lists_every_command_once():
    """README's "Commands" table names each command of the parser (keys, genesis,
    broker-config and node too), in no other order than its own."""
    import re
    from pathlib import Path

    from scenarios.cli.main import build_parser
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([a-z-]+)[^`]*` \|", section, re.M)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(listed) == sorted(sub.choices)
    assert len(listed) == len(set(listed))
