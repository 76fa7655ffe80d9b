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
