"""Every check of valid() has an adversary that exercises it, and a mutant without it dies.

`nodes.node.VALIDITY_CHECKS` names the checks `Node.validity_fault` makes; the `invalid_block`
behaviour (scenarios/faults/adversaries.py) proposes a block that breaks one of them and passes
the rest; each `no_<check>_check` mutant (scenarios/faults/mutants.py) makes every check but
that one. tests/scenarios/test_mutants.py runs each mutant against its adversary; here the
pieces are held to each other.
"""

from __future__ import annotations

import inspect
import re

import pytest
from helpers import nations_toml

from nodes.node import VALIDITY_CHECKS, Node
from scenarios.assemble import build_world
from scenarios.faults.adversaries import invalid_block
from scenarios.faults.mutants import MUTANTS, SkipsValidityCheck
from scenarios.spec.loader import parse_scenario
from scenarios.spec.schema import BEHAVIOURS, BYZANTINE_KINDS

SCENARIO = f"""
[scenario]
name = "validity"
seed = 3
ticks_max = 1500
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
[workload]
txs_per_tick = 0.05
"""


def test_the_names_are_the_checks_the_function_makes_in_its_order():
    """Walks the source of valid(): a check added without a name (and so without an adversary
    and a mutant) fails here."""
    made = re.findall(r'on\("(\w+)"\)', inspect.getsource(Node.validity_fault))
    assert tuple(dict.fromkeys(made)) == VALIDITY_CHECKS


def test_the_adversary_can_break_every_check_and_the_fuzzer_draws_it():
    choices = BEHAVIOURS["invalid_block"][1]["check"].choices
    assert tuple(choices) == ("cycle", *VALIDITY_CHECKS)
    assert "invalid_block" in BYZANTINE_KINDS


def test_there_is_a_mutant_without_each_check_and_nothing_else_changed():
    skipping = {m.check: m for m in MUTANTS.values() if issubclass(m, SkipsValidityCheck)}
    assert tuple(sorted(skipping)) == tuple(sorted(VALIDITY_CHECKS))
    for check, mutant in skipping.items():
        assert mutant.skipped_checks == frozenset({check})
        assert not mutant.shares_application  # its valid() is not the honest one


@pytest.fixture(scope="module")
def node() -> Node:
    """USA's node after 1,500 ticks of a four-nation run: a chain with transactions."""
    world = build_world(parse_scenario(SCENARIO, "<test>"))
    world.run()
    node = world.nodes["USA"]
    assert node.ledger.height >= 3 and any(
        node.ledger.get(h).block.txs for h in range(1, node.ledger.height + 1))
    return node


@pytest.mark.parametrize("check", VALIDITY_CHECKS)
def test_the_adversary_block_fails_that_check_alone(node, check):
    """The honest node refuses the adversary's block for exactly that check; the mutant that
    skips it accepts the block: nothing else is wrong with it."""
    height = node.ledger.height + 1
    honest = node.build_block(height)
    assert node.validity_fault(height, honest) is None
    broken = invalid_block(node, honest, check)
    assert broken is not None
    assert node.validity_fault(height, broken) == check
    hooks = node.hooks
    try:
        node.hooks = MUTANTS[f"no_{check}_check"]()
        assert node.validity_fault(height, broken) is None
    finally:
        node.hooks = hooks
