"""The live benchmark's TCP_NODELAY measure against a real Mosquitto (the cluster figures are
measured by `chemtrace bench-live`, not timed in tests)."""

from __future__ import annotations

from mqtt_helpers import require_mosquitto
from scenarios.bench.live import nodelay_ping


def test_tcp_nodelay_shortens_a_qos1_round_trip(tmp_path):
    require_mosquitto()
    result = nodelay_ping(tmp_path, pings=30)
    assert result["pings"] == 30
    # Nagle's algorithm holds small packets back for the peer's delayed ACK (tens of ms);
    # with TCP_NODELAY on both ends a loopback round trip is about a millisecond.
    assert 0 < result["median_ms_nodelay"] * 3 < result["median_ms_without"]


def test_restart_bench_ledgers_start_from_their_snapshot_or_replay_every_block(tmp_path):
    """The restart section's ledgers (scenarios/bench/live.py): a `chemtrace node` process on
    the copy with a snapshot replays only the blocks above it, and on the copy without one
    replays them all, reaching the same height. Times are reported by bench-live, not checked."""
    from scenarios.bench.live import build_restart_ledgers, time_node_start

    built = build_restart_ledgers(tmp_path / "restart", (1500,), block_txs=250, snapshot_lag=2)
    paths = built["sizes"][1500]
    assert paths["blocks"] == 6 and paths["txs"] == 1500
    with_snapshot = time_node_start(built["genesis"], built["key"], paths["snapshot"])
    assert with_snapshot["snapshot_height"] == 4 and with_snapshot["replayed_blocks"] == 2
    replay = time_node_start(built["genesis"], built["key"], paths["replay"])
    assert replay["snapshot_height"] == 0 and replay["replayed_blocks"] == 6
