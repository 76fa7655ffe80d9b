"""The reports in a real headless browser: Debian's Chromium (`.ci/run` installs it where it is
missing) opens each report.html, and each renders with no console error and shows its sections.

A control page with a script error checks that a console error would be seen at all. Skipped
where Chromium is missing, but failed under CI=true, where it must run (as the MQTT tests)."""

from __future__ import annotations

import re

import pytest

from helpers import render_in_chromium as render
from helpers import run_library, small_sweep_spec

from scenarios.report.run import SECTIONS, write_report

def test_a_script_error_shows_in_the_console(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p>"
                    "<script>throw new Error('report-control-error')</script></body></html>")
    _, console = render(page, tmp_path / "profile")
    assert any("report-control-error" in line for line in console), console


def _sections(dom: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', dom)


def test_the_run_report_renders_with_every_section_and_no_console_error(tmp_path):
    world, summary = run_library("partition-heals", ticks_max=5000)
    path = write_report(world, summary, tmp_path / "report.html")
    dom, console = render(path, tmp_path / "profile")
    assert console == []
    assert _sections(dom) == [key for key, _ in SECTIONS]
    assert dom.count("<svg") >= 5 and "chemtrace report: partition-heals" in dom


def test_the_weak_links_and_sweep_reports_render_with_no_console_error(tmp_path):
    from scenarios.cli.main import main
    spec = small_sweep_spec(tmp_path, "[0.0, 0.05]")
    assert main(["sweep", spec, "--out", str(tmp_path / "sweep")]) == 0
    dom, console = render(tmp_path / "sweep" / "report.html", tmp_path / "profile")
    assert console == [] and _sections(dom) == ["conclusion", "plot", "table"]
    assert main(["weak-links", "opt-out-hub", "--k", "1", "--transit-only", "--out",
                 str(tmp_path / "weak")]) == 0
    dom, console = render(tmp_path / "weak" / "report.html", tmp_path / "profile")
    assert console == []
    assert _sections(dom) == ["conclusion", "ranking", "structure", "graph", "consensus"]
