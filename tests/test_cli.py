"""`chemtrace run`: outputs, exit codes and messages."""

from __future__ import annotations

import json

from helpers import LIBRARY, nations_toml

from scenarios.cli import main


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


def test_failed_expectation_exits_1_and_prints_the_reproduce_command(tmp_path, capsys):
    scenario = tmp_path / "stall.toml"
    scenario.write_text(f"""
[scenario]
name = "stall"
ticks_max = 3000
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
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
