"""Every behaviour shows its effect, and honest nations stay safe below 1/3 Byzantine power."""

from __future__ import annotations

import pytest

from helpers import LIBRARY, nations_toml, run_text

from scenarios.assemble import build_world
from scenarios.spec.loader import ScenarioError, load_scenario, parse_scenario
from scenarios.sim.summary import RunSummary

FOUR = ["USA", "MEX", "CAN", "CHN"]
TRADERS = ["CHN", "IND", "MEX", "USA", "CAN", "GTM", "PAN", "HKG", "SGP"]


def consensus(behaviour: str, safety: str = "true", nations=FOUR, ticks: int = 5000,
              extra: str = "", liveness: str = "true") -> RunSummary:
    _, s = run_text(f"""
[scenario]
name = "b"
seed = 3
ticks_max = {ticks}
{nations_toml(nations)}
{behaviour}
{extra}
[workload]
txs_per_tick = 0.2
[expect]
safety = {safety}
liveness = {liveness}
liveness_ticks_max = 4000
""")
    return s


def trade(behaviour: str, shipments: int = 80, seed: int = 5) -> RunSummary:
    _, s = run_text(f"""
[scenario]
name = "d"
seed = {seed}
ticks_max = 14000
{nations_toml(TRADERS)}
{behaviour}
[workload]
txs_per_tick = 0.0
shipments = {shipments}
trade_until_tick = 7000
""")
    return s


def safe_and_live(s: dict) -> None:
    assert s.safety_ok, s.violations
    assert s.liveness_ok, s.liveness
    assert s.expect_ok


def test_equivocate_noisy_below_a_third_is_safe_and_named_in_evidence():
    s = consensus('[[behaviour]]\nnations = ["CAN"]\nkind = "equivocate"')
    safe_and_live(s)
    assert s.byzantine_power_fraction == 0.25
    assert s.evidence and {e["nation"] for e in s.evidence} == {"CAN"}


def test_equivocate_split_at_half_the_power_breaks_agreement_as_expected():
    s = consensus('[[behaviour]]\nnations = ["CAN", "CHN"]\nkind = "equivocate"\n'
                  'params = { mode = "split" }', safety='"any"', liveness='"any"')
    agreement = [v for v in s.violations if v["kind"] == "agreement"]
    assert agreement and all(v["expected"] for v in agreement)
    assert s.expect_ok and not s.unexpected_violations


def test_equivocate_split_below_a_third_cannot_break_agreement():
    s = consensus('[[behaviour]]\nnations = ["CAN", "CHN"]\nkind = "equivocate"\n'
                  'params = { mode = "split" }',
                  nations=["USA", "MEX", "CAN", "CHN", "IND", "PAN", "GTM"])
    assert s.byzantine_power_fraction < 1 / 3
    assert s.safety_ok, s.violations


def test_safety_true_fails_the_run_when_a_violation_happens():
    s = consensus('[[behaviour]]\nnations = ["CAN", "CHN"]\nkind = "equivocate"\n'
                  'params = { mode = "split" }', safety="true")
    assert not s.safety_ok and not s.expect_ok


def test_amnesia_twin_censor_mute_invalid_signature_below_a_third_stay_safe():
    for behaviour in ('kind = "amnesia"', 'kind = "twin"',
                      'kind = "censor"\nparams = { nations = ["MEX"] }', 'kind = "mute"',
                      'kind = "invalid_signature"'):
        s = consensus(f'[[behaviour]]\nnations = ["CAN"]\n{behaviour}')
        safe_and_live(s)
        assert s.byzantine_nations == ["CAN"]


def test_mute_sends_nothing():
    world, s = run_text(f"""
[scenario]
name = "m"
ticks_max = 3000
{nations_toml(FOUR)}
[[behaviour]]
nations = ["CAN"]
kind = "mute"
""")
    assert "CAN" not in world.sent_by_nation and world.suppressed > 0
    assert s.heights_committed > 0


@pytest.mark.parametrize("signatures", ["ed25519", "modelled"])
@pytest.mark.parametrize("behaviour, reason", [
    ('kind = "invalid_signature"', "bad_signature"),  # its own messages, corrupted
    ('kind = "forge_votes"', "bad_signature"),  # proposals and precommits in others' names
    ('kind = "forge_sync"\nparams = { certificate = "forged" }', "bad_certificate"),
    ('kind = "forge_sync"\nparams = { certificate = "stolen" }', "bad_certificate"),
], ids=["corrupted", "forged-votes", "forged-certificate", "stolen-certificate"])
def test_invalid_signatures_are_dropped_and_counted(behaviour, reason, signatures):
    # In both signature modes (issue 19): modelled signatures are forged and corrupted alike.
    s = consensus(f'[[behaviour]]\nnations = ["CAN"]\n{behaviour}',
                  extra=f'[consensus]\nsignatures = "{signatures}"')
    assert s.signatures == signatures
    assert s.dropped_by_reason[reason] > 50


def test_censor_keeps_the_censored_nations_transactions_out_of_its_blocks():
    world, s = run_text(f"""
[scenario]
name = "c"
seed = 3
ticks_max = 5000
{nations_toml(FOUR)}
[[behaviour]]
nations = ["CAN"]
kind = "censor"
params = {{ nations = ["MEX"] }}
[workload]
txs_per_tick = 0.3
""")
    blocks = [b.block for b in world.storage["USA"].blocks]
    by_can = [b for b in blocks if b.proposer == "CAN"]
    assert by_can, "CAN proposed no committed block"
    assert all(tx.signer != "MEX" for b in by_can for tx in b.txs)
    assert any(tx.signer == "MEX" for b in blocks if b.proposer != "CAN" for tx in b.txs)
    assert s.dropped_by_reason.get("invalid_block", 0) >= 0 and s.safety_ok


def test_twin_runs_two_instances_with_one_key():
    world, s = run_text(f"""
[scenario]
name = "t"
seed = 3
ticks_max = 4000
{nations_toml(FOUR)}
[[behaviour]]
nations = ["CAN"]
kind = "twin"
""")
    assert "CAN~" in world.nodes and world.nodes["CAN~"] is not None
    assert world.commits["CAN~"] and world.commits["CAN"]
    assert s.safety_ok


def test_delay_slows_the_nations_messages():
    base = consensus("")
    slow = consensus('[[behaviour]]\nnations = ["CAN", "CHN"]\nkind = "delay"\n'
                     'params = { ticks = 300 }')
    assert slow.byzantine_power_fraction == 0.0
    assert slow.heights_committed < base.heights_committed
    safe_and_live(slow)


def test_crash_with_wipe_restarts_from_nothing_and_syncs():
    world, s = run_text(f"""
[scenario]
name = "w"
seed = 3
ticks_max = 6000
{nations_toml(FOUR)}
[[behaviour]]
nations = ["CAN"]
kind = "crash"
from_tick = 1000
until_tick = 2500
params = {{ wipe = true }}
[expect]
liveness_ticks_max = 3000
""")
    safe_and_live(s)
    restarts = [h for t, h in world.commits["CAN"] if t >= 2500]
    assert restarts and min(restarts) == 1, "the wiped node re-fetches from height 1"
    assert world.nodes["CAN"].ledger.height >= world.nodes["USA"].ledger.height - 2


def test_opt_out_hub_darkens_its_share_of_the_trade():
    base = trade("")
    out = trade('[[behaviour]]\nnations = ["PAN"]\nkind = "opt_out"')
    assert base.domain["traced_complete_pct"] == 100.0
    assert out.nations == len(TRADERS) - 1 and out.nations_opted_out == ["PAN"]
    d = out.domain
    assert d["dark_shipments"] > 0 and d["traced_complete_pct"] < 100
    assert d["coverage_gap_flags"] > 0 and d["false_flags"] == 0


def test_opt_out_records_only_still_votes():
    s = trade('[[behaviour]]\nnations = ["HKG"]\nkind = "opt_out"\n'
              'params = { mode = "records_only" }')
    assert s.nations == len(TRADERS) and s.domain["dark_shipments"] > 0


def test_withheld_replies_let_shipments_through_on_silence():
    s = trade('[[behaviour]]\nnations = ["MEX"]\nkind = "withhold_objection"')
    d = s.domain
    assert d["shipped_on_silence"] > 0 and d["blocked_by_silence"] == 0
    assert d["traced_complete_pct"] == 100.0 and d["rejections_by_reason"] == {}


def test_false_reports_by_an_exporter_leak_unseen_and_by_an_importer_are_caught():
    exporter = trade('[[behaviour]]\nnations = ["CHN"]\nkind = "false_report"\n'
                     'params = { rate = 1.0, under_report_pct = 20 }')
    d = exporter.domain
    assert d["diversions_injected"]["false_report"] > 0
    assert d["diversions_flagged"]["false_report"] == 0 and d["leaked_kg"] > 0
    importer = trade('[[behaviour]]\nnations = ["MEX"]\nkind = "false_report"')
    d = importer.domain
    assert d["diversions_flagged"]["false_report"] == d["diversions_injected"]["false_report"] > 0


def test_collusion_leaks_without_a_flag():
    s = trade('[[behaviour]]\nnations = ["CHN", "MEX"]\nkind = "collude"\n'
              'params = { rate = 1.0 }')
    d = s.domain
    assert d["diversions_injected"]["collusion"] > 0
    assert d["diversions_flagged"]["collusion"] == 0 and d["leaked_kg"] > 0


def test_python_scenario_script_runs_like_toml():
    path = LIBRARY / "opt-out-one-chemical.py"
    a = build_world(load_scenario(path)).run()
    b = build_world(load_scenario(path)).run()
    assert a.trace_sha256 == b.trace_sha256
    d = a.domain
    skipped = d["diversions_injected"]["pan_skips_4_piperidone"]
    # A declared member transit that filed no checkpoint is flagged at receipt, every time.
    assert skipped > 0 and d["diversions_flagged"]["pan_skips_4_piperidone"] == skipped
    assert d["flags_by_kind"]["missing_checkpoint"] == skipped
    assert d["false_flags"] == 0 and a.expect_ok


@pytest.mark.parametrize("body, needle", [
    ("x = 1\n", "must define a function scenario()"),
    ("def scenario():\n    return 3\n", "returned int, not a Scenario"),
    ("raise RuntimeError('boom')\n", "the script raised RuntimeError: boom"),
    ("from scenarios.api import CustomBehaviour, parse_scenario, with_custom\n"
     "def scenario():\n    return with_custom(parse_scenario('[scenario]\\nname=\"x\"\\n"
     "[[nation]]\\nid=\"USA\"\\n'), CustomBehaviour(['ZZZ']))\n", "unknown nation 'ZZZ'"),
])
def test_script_errors_name_the_file_and_the_fix(tmp_path, body, needle):
    path = tmp_path / "study.py"
    path.write_text(body)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert str(path) in str(exc.value) and needle in str(exc.value)


@pytest.mark.parametrize("behaviour, needles", [
    ('kind = "crash"\nparams = { wipe = "yes" }', ["behaviour[0].params.wipe", "expected bool"]),
    ('kind = "censor"', ["behaviour[0].params.nations", "missing required param"]),
    ('kind = "censor"\nparams = { nations = ["ZZZ"] }', ["params.nations", "unknown nation"]),
    ('kind = "mute"\nparams = { loud = true }', ["params.loud", "Params of mute are: none"]),
    ('kind = "delay"\nparams = { ticks = 0 }', ["params.ticks", "below the minimum"]),
    ('kind = "opt_out"\nfrom_tick = 10', ["opt_out applies to the whole run"]),
    ('kind = "equivocate"\nparams = { mode = "loud" }', ["params.mode", "noisy, split"]),
])
def test_behaviour_errors(behaviour, needles):
    text = f'[scenario]\nname = "x"\n{nations_toml(FOUR)}[[behaviour]]\nnations = ["CAN"]\n' \
           f'{behaviour}\n'
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "study.toml")
    for needle in needles:
        assert needle in str(exc.value), str(exc.value)
