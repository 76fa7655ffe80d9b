"""Every check of valid() and of a synced block's certificate has an adversary that exercises
it, and a mutant without it dies.

`nodes.node.VALIDITY_CHECKS` names the checks `Node.validity_fault` makes; the `invalid_block`
behaviour (scenarios/faults/adversaries.py) proposes a block that breaks one of them and passes
the rest; each `no_<check>_check` mutant (scenarios/faults/mutants.py) makes every check but
that one. `nodes.chain.ledger.CERTIFICATE_CHECKS` names the checks of `certificate_error` a
mutant may remove one at a time; the `forge_sync` behaviour has a certificate mode that fails
each alone. tests/scenarios/test_mutants.py runs each mutant against its adversary; here the
pieces are held to each other.
"""

from __future__ import annotations

import inspect
import re

import pytest
from helpers import nations_toml

from consensus import Step
from nodes import certificate_error
from nodes.chain.ledger import CERTIFICATE_CHECKS
from nodes.node import VALIDITY_CHECKS, Node
from scenarios.assemble import build_world
from scenarios.faults.adversaries import CERTIFICATE_MODES, ForgeSyncHooks, invalid_block
from scenarios.faults.mutants import MUTANTS, SkipsCertificateCheck, SkipsValidityCheck
from scenarios.spec.loader import Behaviour, BehaviourKind, parse_scenario
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


# ---------------------------------------------------------------- the certificate's checks

# The forge_sync certificate mode that fails each removable check of certificate_error alone.
BREAKS = {"cert_signature": "forged", "cert_power": "own"}


def test_the_removable_certificate_checks_are_the_ones_the_function_skips():
    made = re.findall(r'"(cert_\w+)" not in skipped', inspect.getsource(certificate_error))
    assert tuple(made) == CERTIFICATE_CHECKS == tuple(BREAKS)
    assert set(BREAKS.values()) <= set(CERTIFICATE_MODES)
    skipping = {m.check: m for m in MUTANTS.values() if issubclass(m, SkipsCertificateCheck)}
    assert tuple(sorted(skipping)) == tuple(sorted(CERTIFICATE_CHECKS))
    for check, mutant in skipping.items():
        assert mutant.skipped_checks == frozenset({check})


@pytest.mark.parametrize("check", CERTIFICATE_CHECKS)
def test_a_forged_sync_certificate_fails_that_check_alone(node, check):
    """The fabricated block's certificate in the mode for `check` is refused by the honest
    check and accepted with `check` skipped; the block itself passes valid()."""
    forger = Behaviour(("USA",), BehaviourKind.FORGE_SYNC, 0, None,
                       {"certificate": BREAKS[check]})
    height = node.ledger.height + 1
    fabricated = ForgeSyncHooks(forger)._fabricate(node, height)
    assert fabricated is not None and node.validity_fault(height, fabricated.block) is None
    assert all(v.step is Step.PRECOMMIT and v.height == height for v in fabricated.certificate)

    def error(skipped=()):
        return certificate_error(node.chain_id, node.validators, node._keys, node.verifier,
                                 fabricated.block, fabricated.certificate, skipped)

    assert error() is not None
    assert error(frozenset({check})) is None
