"""Shared test helpers: paths to the library and a quick way to run a scenario in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.assemble import build_world
from scenarios.sim.world import World
from scenarios.sim.summary import RunSummary
from scenarios.spec.loader import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "scenarios" / "library"


def run_library(name: str, **overrides) -> tuple[World, RunSummary]:
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(**overrides)
    world = build_world(scenario)
    return world, world.run()


def run_text(text: str, **overrides) -> tuple[World, RunSummary]:
    world = build_world(parse_scenario(text, "<test>").with_overrides(**overrides))
    return world, world.run()


def nations_toml(codes: list[str]) -> str:
    return "\n".join(f'[[nation]]\nid = "{c}"\n' for c in codes)


@pytest.fixture
def library() -> Path:
    return LIBRARY
