"""Counterexamples the fuzzer found, kept as permanent regression tests (tests/regressions/).

`tests/regressions/*.toml`: fixed failures. Each must keep its `[expect]` and, when its header
has a `# trace_sha256:` line, give that very trace. `tests/regressions/open/*.toml`: failures of
the honest protocol not fixed yet. Each must still fail, the same way (same trace hash); the day
one passes, this test says so, and the file moves up (see tests/regressions/README.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scenarios.assemble import build_world
from scenarios.spec.loader import load_scenario

HERE = Path(__file__).resolve().parents[1] / "regressions"
FIXED = sorted(HERE.glob("*.toml"))
OPEN = sorted((HERE / "open").glob("*.toml"))
HASH = re.compile(r"^#\s*trace_sha256:\s*([0-9a-f]{64})\s*$", re.M)


def recorded_hash(path: Path) -> str | None:
    m = HASH.search(path.read_text(encoding="utf-8"))
    return m.group(1) if m else None


def test_the_regressions_folder_explains_itself():
    assert (HERE / "README.md").exists()


@pytest.mark.parametrize("path", FIXED, ids=lambda p: p.stem)
def test_regression_keeps_its_expectation_and_trace(path):
    summary = build_world(load_scenario(path)).run()
    assert summary.expect_ok, (path.name, summary.violations[:3])
    want = recorded_hash(path)
    if want is not None:
        assert summary.trace_sha256 == want, f"{path.name}: the run is not the one recorded"


def test_each_open_finding_still_fails_the_same_way():
    # One test over the folder, not one per file: an empty open/ (every finding fixed) is a
    # pass, not a skip.
    for path in OPEN:
        summary = build_world(load_scenario(path)).run()
        assert not summary.expect_ok, (
            f"{path.name} passes now: the bug is fixed. Move it to tests/regressions/ and run "
            f"chemtrace replay tests/regressions/{path.name} --record")
        assert summary.trace_sha256 == recorded_hash(path), path.name


def test_the_readme_lists_every_regression_and_open_finding():
    text = (HERE / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"`open/([\w.-]+\.toml)`", text)) == {p.name for p in OPEN}
    listed = set(re.findall(r"^\| `([\w.-]+\.toml)`", text, re.M))
    assert listed == {p.name for p in FIXED}
