"""The live transport's shim (nodes/live/shim.py): each effect of the network model on its own,
deterministic under a seed and drawn as the simulated network draws; a Byzantine sender's wire
faults; and the transport applying both (no broker: `Transport.accept` is driven directly)."""

from __future__ import annotations

import asyncio
import random

import pytest

from nodes.live.shim import LinkParams, LinkShim, SenderFaults, Window, link_seed
from nodes.live import transport
from nodes.live.transport import BrokerUrl, Topics, Transport

from scenarios.sim.network import Network

TICK_MS = 2.0
N = 4000


def draws(link: LinkParams, seed: int = 3, n: int = N, peer: str = "MEX") -> list[list[float]]:
    shim = LinkShim("USA", {peer: link}, seed, TICK_MS)
    return [shim.arrivals(peer) for _ in range(n)]


def test_an_idle_or_unlisted_link_delivers_at_once_and_draws_nothing():
    shim = LinkShim("USA", {"MEX": LinkParams(), "CAN": LinkParams(loss_probability=1.0)}, 1,
                    TICK_MS)
    assert shim.arrivals("MEX") == [0.0] and shim.arrivals("CHN") == [0.0]
    assert shim.arrivals("CAN") == [] and shim.lost == {"CAN": 1}
    assert set(shim.links) == {"CAN"}


def test_latency_and_jitter_alone_delay_within_the_band_and_lose_nothing():
    got = draws(LinkParams(latency_ticks=20, jitter_ticks=10))
    assert all(len(a) == 1 for a in got)
    ticks = [round(a[0] * 1000 / TICK_MS) for a in got]
    assert min(ticks) == 10 and max(ticks) == 30  # the whole band is drawn, nothing beyond
    assert abs(sum(ticks) / len(ticks) - 20) < 0.5
    assert len(set(ticks)) == 21


def test_loss_alone_drops_its_share_and_delays_nothing():
    got = draws(LinkParams(loss_probability=0.2))
    lost = sum(1 for a in got if a == [])
    assert 0.17 < lost / N < 0.23
    assert {tuple(a) for a in got if a} == {(TICK_MS / 1000,)}  # the one-tick floor, as simulated


def test_duplication_alone_sends_two_copies_of_its_share():
    got = draws(LinkParams(latency_ticks=5, duplicate_probability=0.3))
    assert all(len(a) in (1, 2) for a in got)
    share = sum(1 for a in got if len(a) == 2) / N
    assert 0.26 < share < 0.34
    assert all(d == 5 * TICK_MS / 1000 for a in got for d in a)


def test_reordering_alone_holds_its_share_back_up_to_four_latencies():
    got = draws(LinkParams(latency_ticks=10, reorder_probability=0.25))
    delays = [a[0] for a in got]
    base = 10 * TICK_MS / 1000
    held = [d for d in delays if d > base]
    assert 0.21 < len(held) / N < 0.29
    assert max(held) <= 5 * base + 1e-9 and min(delays) == base
    # held-back messages overtake later ones: the arrival order is not the send order
    arrive = sorted(range(N), key=lambda i: i * 0.001 + delays[i])
    assert arrive != list(range(N))


def test_draws_are_seeded_per_link_and_match_the_simulated_network():
    link = LinkParams(latency_ticks=20, jitter_ticks=10, loss_probability=0.1,
                      duplicate_probability=0.1, reorder_probability=0.1)
    assert draws(link, seed=9) == draws(link, seed=9)
    assert draws(link, seed=9) != draws(link, seed=10)
    # Another link's traffic does not move this link's stream.
    shim = LinkShim("USA", {"MEX": link, "CAN": link}, 9, TICK_MS)
    mixed = []
    for _ in range(200):
        shim.arrivals("CAN")
        mixed.append(shim.arrivals("MEX"))
    assert mixed == draws(link, seed=9, n=200)
    # The same stream in the simulated network gives the same arrivals, in ticks.
    config = {"latency_ticks": 20, "jitter_ticks": 10, "loss_probability": 0.1,
              "duplicate_probability": 0.1, "reorder_probability": 0.1}
    net = Network(config, (), ("USA", "MEX"), random.Random(link_seed(9, "MEX", "USA")))
    simulated = [[t - 1000 for t in net.arrivals("MEX", "USA", 1000)] for _ in range(500)]
    live = [[round(d * 1000 / TICK_MS) for d in a] for a in draws(link, seed=9, n=500)]
    assert live == simulated


def test_a_link_takes_the_settings_of_the_epoch_the_clock_is_in():
    now = [0]
    shim = LinkShim("USA", {"MEX": ((0, LinkParams(5)), (100, LinkParams(5, 0, 1.0)),
                                    (200, LinkParams()))}, 1, TICK_MS, lambda: now[0])
    assert shim.arrivals("MEX") == [5 * TICK_MS / 1000]
    now[0] = 150
    assert shim.arrivals("MEX") == [] and shim.lost == {"MEX": 1}
    now[0] = 250
    assert shim.arrivals("MEX") == [0.0]  # idle again: delivered at once, nothing drawn
    # A link idle in every epoch is no link at all.
    assert LinkShim("USA", {"MEX": ((0, LinkParams()), (9, LinkParams()))}, 1, TICK_MS).links == {}


def test_link_params_check_their_ranges():
    with pytest.raises(ValueError, match="loss_probability"):
        LinkParams(loss_probability=1.5)
    with pytest.raises(ValueError, match="latency_ticks"):
        LinkParams(latency_ticks=-1)
    assert LinkParams.from_json(LinkParams(3, 1, 0.5).to_json()) == LinkParams(3, 1, 0.5)
    with pytest.raises(ValueError, match="a link must be"):
        LinkParams.from_json({"latency": 3})


def test_sender_faults_mute_corrupt_and_delay_in_their_windows():
    now = [0]
    faults = SenderFaults(lambda: now[0], TICK_MS, seed=1, mute=(Window(100, 200),),
                          corrupt=((Window(300, None), 1.0),), delay=((Window(0, 100), 50),))
    assert faults.outbound(b"abc") == [(50 * TICK_MS / 1000, b"abc")]
    now[0] = 150
    assert faults.outbound(b"abc") == [] and faults.muted == 1
    now[0] = 250
    assert faults.outbound(b"abc") == [(0.0, b"abc")]
    now[0] = 300
    assert faults.outbound(b"abc") == [(0.0, b"abb")] and faults.corrupted == 1
    half = SenderFaults(lambda: 0, TICK_MS, seed=4, corrupt=((Window(), 0.5),))
    flipped = sum(half.outbound(b"x")[0][1] != b"x" for _ in range(2000))
    assert 900 < flipped < 1100


# ---------------------------------------------------------------- the transport applies them

NATIONS = ("USA", "MEX", "CAN", "CHN")


def _transport(**kw) -> Transport:
    return Transport(BrokerUrl("127.0.0.1", 1), Topics("c"), "USA", NATIONS, **kw)


def _inbox(t: Transport) -> list:
    out = []
    while (item := t.inbox.pop(urgent=True)) is not None or (
            item := t.inbox.pop(urgent=False)) is not None:
        out.append(item.nation)
    return out


def test_transport_loses_holds_and_duplicates_per_link():
    async def go():
        shim = LinkShim("USA", {"MEX": LinkParams(loss_probability=1.0),
                                "CAN": LinkParams(latency_ticks=25),
                                "CHN": LinkParams(duplicate_probability=1.0)}, 2, TICK_MS)
        t = _transport(shim=shim)
        topics = t.topics
        t.accept(topics.msg("MEX"), b"\x01vote")
        t.accept(topics.msg("CAN"), b"\x01vote")
        t.accept(topics.to("CHN", "USA"), b"\x01sync")
        assert t.dropped == {"link_loss": 1}
        assert _inbox(t) == [] and t.held == 3  # CAN's for 50 ms, CHN's two for one tick
        await asyncio.sleep(0.02)
        assert _inbox(t) == ["CHN", "CHN"]
        await asyncio.sleep(0.05)
        assert _inbox(t) == ["CAN"] and t.held == 0
        # submissions and control are not links: the shim leaves them alone
        t.accept(topics.submit("USA"), b"\x01")
        assert t.held == 0
        # a flood is not held beyond the bound: the excess is dropped and counted
        t.held = transport.HELD_MESSAGES_MAX
        t.accept(topics.msg("CAN"), b"\x01vote")
        assert t.dropped["held_full"] == 1
        t.held = 0
    asyncio.run(go())


def test_transport_applies_sender_faults_and_a_twins_half():
    async def go():
        now = [0]
        faults = SenderFaults(lambda: now[0], TICK_MS, mute=(Window(10, None),),
                              delay=((Window(0, 10), 10),))
        t = _transport(faults=faults, talk_to=("CAN",))
        t.send_all(b"vote")
        assert t.outbox_len() == 0 and t.held == 1  # delayed 20 ms
        await asyncio.sleep(0.04)
        # a twin's broadcast goes to its half only, as a direct message
        assert [topic for topic, _, _ in t._out_urgent] == [t.topics.to("USA", "CAN")]
        t.send_to("MEX", b"sync")
        assert t.dropped == {"twin_other_half_out": 1}
        now[0] = 10
        t.send_all(b"vote")
        t.publish_status(b"{}")  # a muted node still tells the driver its status
        assert len(t._out_urgent) == 2 and faults.muted == 1
        t.accept(t.topics.msg("MEX"), b"\x01")
        assert t.dropped["twin_other_half"] == 1
    asyncio.run(go())
