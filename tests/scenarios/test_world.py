"""The simulated world end to end: the library scenarios, crashes, partitions and state sync."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import nations_toml, run_library, run_text

SUMMARY_KEYS = {
    "scenario", "seed", "nations", "heights_committed", "txs_committed", "safety_ok",
    "liveness_ok", "violations", "trace_sha256", "ticks", "wall_s", "txs_per_wall_s",
    "messages_sent", "messages_dropped", "latency_ticks_p50", "latency_ticks_p99",
}


def test_baseline_commits_20_heights_and_1000_txs():
    world, s = run_library("baseline")
    assert SUMMARY_KEYS <= set(s.to_json())
    assert s.nations == 7
    assert s.heights_committed >= 20
    assert s.txs_committed >= 1000
    assert s.safety_ok and s.liveness_ok and s.expect_ok
    assert s.violations == [] and s.evidence == []
    assert 0 < s.latency_ticks_p50 <= s.latency_ticks_p99
    # Every honest nation holds the same chain.
    chains = {n: [b.block.block_id for b in world.storage[n].blocks] for n in world.nations}
    shortest = min(len(c) for c in chains.values())
    assert shortest >= s.heights_committed - 2
    assert len({tuple(c[:shortest]) for c in chains.values()}) == 1


def test_each_signature_is_verified_once_per_process():
    world, s = run_library("baseline", ticks_max=2000)
    # 7 nations receive every vote, proposal and tx; the cache turns that into one check each.
    assert s.signature_cache_hits > 3 * s.signatures_verified


def test_n4_with_one_nation_crashed_for_good_still_commits():
    _, s = run_library("crash-one-of-four")
    assert s.heights_committed >= 10
    assert s.safety_ok and s.liveness_ok and s.expect_ok


def test_n4_with_two_nations_crashed_commits_nothing_and_stays_safe():
    _, s = run_library("crash-two-of-four")
    assert s.heights_committed == 0
    assert s.txs_committed == 0
    assert s.safety_ok is True
    assert s.liveness_ok is False
    assert [v["kind"] for v in s.violations] == ["liveness"]
    assert s.expect_ok is True  # the scenario says liveness = false


def test_healed_partition_lets_the_minority_catch_up_by_state_sync():
    world, s = run_library("partition-heals")
    assert s.safety_ok and s.liveness_ok
    chn = world.nodes["CHN"]
    usa = world.nodes["USA"]
    assert chn.ledger.height >= usa.ledger.height - 2
    synced = [h for t, h in world.commits["CHN"] if t >= 3000]
    assert synced, "CHN committed nothing after the partition healed"
    assert s.dropped_by_reason.get("partition", 0) > 0


def test_healed_partition_uses_sync_not_only_consensus(tmp_path):
    world, s = run_library("partition-heals")
    # The majority went on during the partition; CHN can only have those blocks by state sync.
    usa_height_at_heal = max(h for t, h in world.commits["USA"] if t <= 3000)
    chn_height_at_heal = max((h for t, h in world.commits["CHN"] if t <= 3000), default=0)
    assert usa_height_at_heal > chn_height_at_heal + 5
    for h in range(chn_height_at_heal + 1, usa_height_at_heal + 1):
        assert world.storage["CHN"].blocks[h - 1].block.block_id == \
            world.storage["USA"].blocks[h - 1].block.block_id


def test_crash_restart_recovers_from_disk_without_equivocating():
    world, s = run_library("crash-restart")
    assert s.safety_ok and s.liveness_ok
    assert s.evidence == []
    mex = world.nodes["MEX"]
    assert mex is not None and mex.ledger.height >= world.nodes["USA"].ledger.height - 2


def test_summary_counts_network_faults():
    _, s = run_library("crash-restart")
    assert s.dropped_by_reason["loss"] > 0
    assert s.dropped_by_reason["duplicate"] > 0
    assert s.dropped_by_reason["crashed"] > 0
    assert s.messages_dropped == sum(s.dropped_by_reason.values())


@settings(max_examples=8, deadline=None)
@given(
    crash_from=st.integers(min_value=1, max_value=1500),
    down_ticks=st.integers(min_value=1, max_value=1500),
    nation=st.sampled_from(["USA", "MEX", "CAN", "CHN"]),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_any_crash_window_keeps_safety_and_never_equivocates(crash_from, down_ticks, nation,
                                                             seed):
    text = f"""
[scenario]
name = "crash-prop"
seed = {seed}
ticks_max = {crash_from + down_ticks + 2500}
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
[[behaviour]]
nations = ["{nation}"]
kind = "crash"
from_tick = {crash_from}
until_tick = {crash_from + down_ticks}
[workload]
txs_per_tick = 0.1
[expect]
liveness_ticks_max = 2500
"""
    _, s = run_text(text)
    assert s.safety_ok, s.violations
    assert s.evidence == []
    assert s.liveness_ok, s.liveness


def test_permanent_even_split_stalls_safely():
    text = f"""
[scenario]
name = "split"
seed = 3
ticks_max = 4000
{nations_toml(["USA", "MEX", "CAN", "CHN"])}
[[partition]]
groups = [["USA", "MEX"], ["CAN", "CHN"]]
[expect]
liveness = false
liveness_ticks_max = 2000
"""
    _, s = run_text(text)
    assert s.heights_committed == 0
    assert s.safety_ok and not s.liveness_ok and s.expect_ok


def test_weighted_power_lets_a_heavy_pair_commit_alone():
    text = """
[scenario]
name = "weighted"
seed = 5
ticks_max = 4000
[[nation]]
id = "USA"
power = 3
[[nation]]
id = "MEX"
power = 3
[[nation]]
id = "CAN"
[[nation]]
id = "CHN"
[[behaviour]]
nations = ["CAN", "CHN"]
kind = "crash"
[expect]
liveness_ticks_max = 3000
"""
    # 6 of 8 power is more than 2/3: the two heavy nations commit without the light ones.
    _, s = run_text(text)
    assert s.heights_committed > 5
    assert s.liveness_ok and s.safety_ok


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    n=st.integers(min_value=4, max_value=6),
    loss=st.sampled_from([0.0, 0.02, 0.1]),
    duplicate=st.sampled_from([0.0, 0.05]),
    jitter=st.sampled_from([0, 10, 40]),
    cut_from=st.integers(min_value=0, max_value=1500),
    cut_ticks=st.integers(min_value=1, max_value=2000),
    crash_from=st.integers(min_value=0, max_value=1500),
    crash_ticks=st.integers(min_value=1, max_value=2000),
)
def test_lossy_partitioned_crashing_networks_stay_safe_and_recover(
        seed, n, loss, duplicate, jitter, cut_from, cut_ticks, crash_from, crash_ticks):
    """Safety always; liveness once the partition and the crash are over (loss goes on)."""
    codes = ["USA", "MEX", "CAN", "CHN", "IND", "PAN"][:n]
    gst = max(cut_from + cut_ticks, crash_from + crash_ticks)
    text = f"""
[scenario]
name = "faults"
seed = {seed}
ticks_max = {gst + 4000}
{nations_toml(codes)}
[network]
loss_probability = {loss}
duplicate_probability = {duplicate}
jitter_ticks = {jitter}
[[partition]]
groups = [{codes[:2]!r}]
from_tick = {cut_from}
until_tick = {cut_from + cut_ticks}
[[behaviour]]
nations = ["{codes[-1]}"]
kind = "crash"
from_tick = {crash_from}
until_tick = {crash_from + crash_ticks}
[workload]
txs_per_tick = 0.2
[expect]
liveness_ticks_max = 4000
""".replace("'", '"')
    _, s = run_text(text)
    assert s.safety_ok, s.violations
    assert s.evidence == []
    assert s.liveness_ok, s.liveness


def test_submissions_stop_at_txs_until_tick_and_the_mempools_drain():
    text = ('[scenario]\nname = "drain"\nseed = 3\nticks_max = 3000\n'
            + nations_toml(["USA", "MEX", "CAN", "GTM"])
            + "[workload]\ntxs_per_tick = 2.0\ntxs_until_tick = 1500\n")
    _, s = run_text(text)
    # About 2 per tick until tick 1500, none after; and every one of them committed.
    assert 2 * 1500 * 0.9 < s.txs_submitted < 2 * 1500 * 1.1
    assert s.txs_committed == s.txs_submitted  # no shipments: every tx is a payload
    # Without the key the stream runs to the end, and the last ones are still in the mempools.
    _, s_all = run_text(text.replace("txs_until_tick = 1500\n", ""))
    assert s_all.txs_submitted > 2 * 3000 * 0.9
    assert s_all.txs_committed < s_all.txs_submitted
