"""The typed run summary and the kinds: `to_json()` is today's `summary.json`, kinds are strings."""

from __future__ import annotations

import dataclasses
import json

import pytest

from helpers import LIBRARY, run_library

from nodes.wire.messages import MessageKind
from scenarios.sim.summary import RunSummary
from scenarios.spec.loader import parse_scenario
from scenarios.spec.schema import BEHAVIOURS, BYZANTINE_KINDS, CORRUPT_KINDS, BehaviourKind

# The keys of summary.json, in the order World.summary() has always written them.
FIGURES = [
    "domain", "scenario", "source", "seed", "nations", "nations_opted_out", "byzantine_nations",
    "byzantine_power_fraction", "unexpected_violations", "ticks", "ticks_run",
    "heights_committed", "txs_committed", "txs_submitted", "safety_ok", "liveness_ok",
    "liveness", "expect", "expect_ok", "violations", "evidence", "wall_s", "txs_per_wall_s",
    "txs_per_sim_tick", "messages_sent", "messages_delivered", "messages_dropped",
    "dropped_by_reason", "bytes_sent", "latency_ticks_p50", "latency_ticks_p99",
    "signatures_verified", "signature_cache_hits", "events", "liveness_verdict", "signatures",
    "coverage",
]


def test_a_run_summary_is_frozen_and_its_json_has_every_figure_then_the_trace_keys():
    world, s = run_library("baseline", ticks_max=1000)
    assert isinstance(s, RunSummary)
    out = s.to_json()
    assert list(out) == FIGURES + ["trace_sha256", "trace_lines"]
    assert out["trace_sha256"] == s.trace_sha256 == world.trace.sha256
    json.dumps(out)  # JSON-ready as it is
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.expect_ok = False  # type: ignore[misc]
    before_run = world.summary().to_json()
    assert "trace_sha256" not in before_run and "trace_lines" not in before_run


def test_optional_keys_appear_only_when_set():
    _, s = run_library("baseline", ticks_max=500)
    marked = s.replace(expect_ok=True, reference_failed=True, reproduce="chemtrace run x")
    out = marked.to_json()
    assert out["reference_failed"] is True and out["reproduce"] == "chemtrace run x"
    assert "live" not in out and "exception" not in out
    assert s.reference_failed is None and "reference_failed" not in s.to_json()


def test_a_run_that_raises_is_a_typed_failure():
    scenario = parse_scenario((LIBRARY / "baseline.toml").read_text())
    s = RunSummary.of_exception(scenario, ValueError("boom"))
    assert not s.expect_ok and s.unexpected_violations and s.trace_sha256 is None
    assert s.exception == "ValueError: boom"
    assert s.violations == [{"kind": "exception", "expected": False,
                             "reason": "ValueError: boom"}]


def test_behaviour_kinds_are_the_schema_kinds_and_compare_as_strings():
    assert [k.value for k in BehaviourKind] == list(BEHAVIOURS)
    assert set(BYZANTINE_KINDS) | set(CORRUPT_KINDS) <= set(BehaviourKind)
    assert BehaviourKind.CRASH == "crash" and json.dumps(BehaviourKind.OPT_OUT) == '"opt_out"'
    assert f"{BehaviourKind.FORGE_SYNC}" == "forge_sync"


def test_a_loaded_behaviour_has_an_enum_kind():
    text = (LIBRARY / "crash-one-of-four.toml").read_text()
    kinds = {b.kind for b in parse_scenario(text).behaviours}
    assert kinds == {BehaviourKind.CRASH}
    assert all(type(k) is BehaviourKind for k in kinds)


def test_message_kinds_are_the_names_traces_hold():
    assert [k.value for k in MessageKind] == ["proposal", "prevote", "precommit", "txs",
                                               "sync_request", "sync_response"]
    assert json.dumps({MessageKind.TXS: MessageKind.PREVOTE}) == '{"txs": "prevote"}'
