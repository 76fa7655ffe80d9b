"""Scenarios: the schema and loader, the simulated world, oracles and the command line."""

from .loader import Behaviour, Partition, Scenario, ScenarioError, load_scenario, parse_scenario
from .oracles import SafetyOracle, judge_liveness
from .rng import Streams
from .schema import SCHEMA
from .trace import Trace
from .world import World


def write_report(world, summary, path):
    """Write report.html (scenarios/report.py); imported on use, as matplotlib is slow to load."""
    from .report import write_report as write
    return write(world, summary, path)

__all__ = [
    "Behaviour", "Partition", "Scenario", "ScenarioError", "load_scenario", "parse_scenario",
    "SafetyOracle", "judge_liveness", "Streams", "SCHEMA", "Trace", "World", "write_report",
]
