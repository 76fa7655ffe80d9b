"""Scenarios: the schema and loader, the simulated world, oracles and the command line."""

from .loader import Behaviour, Partition, Scenario, ScenarioError, load_scenario, parse_scenario
from .oracles import SafetyOracle, judge_liveness
from .rng import Streams
from .schema import SCHEMA
from .trace import Trace
from .world import World

__all__ = [
    "Behaviour", "Partition", "Scenario", "ScenarioError", "load_scenario", "parse_scenario",
    "SafetyOracle", "judge_liveness", "Streams", "SCHEMA", "Trace", "World",
]
