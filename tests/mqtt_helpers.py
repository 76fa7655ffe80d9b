"""Fixtures for tests that need a real Mosquitto broker.

`live_broker` (registered in tests/conftest.py, so any test can ask for it by name) starts our
own Mosquitto on a free loopback port, configured by `nodes.live.brokerconf.write_broker_config` for a
small genesis, and stops it after the test. It yields a `LiveBroker`:

    def test_something(live_broker):
        live_broker.process      # BrokerProcess: .restart(), .stop(), .log_tail(), .pid
        live_broker.config       # BrokerConfig: .host, .port, .credentials, .url("USA")
        live_broker.genesis      # Genesis of USA, MEX, CAN, CHN (power 1 each), chain_id below
        live_broker.identities   # {"USA": Identity, ...}: the keys matching the genesis
        live_broker.key_dir      # folder of NATION.key files (mode 0600) for `chemtrace node`
        live_broker.genesis_path # the genesis as a JSON file

It never touches the broker already listening on 1883. Without mosquitto installed the test is
skipped locally, but fails under CI=true: there the MQTT tests must run (`.ci/run` installs
Debian's mosquitto).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodes.live.brokerconf import (
    BrokerConfig,
    BrokerError,
    BrokerProcess,
    find_mosquitto,
    free_port,
    spawn_broker,
    write_broker_config,
)
from nodes.chain.genesis import Genesis
from nodes.chain.identity import Identity
from nodes.live.keyfile import key_path, make_key_dir, write_key

LIVE_CHAIN_ID = "chemtrace-test"
LIVE_NATIONS = ("USA", "MEX", "CAN", "CHN")
LIVE_SEED = 7


@dataclass(frozen=True, slots=True)
class LiveBroker:
    process: BrokerProcess
    config: BrokerConfig
    genesis: Genesis
    identities: dict[str, Identity]
    key_dir: Path
    genesis_path: Path


def require_mosquitto() -> str:
    """The mosquitto path, or skip the test (fail it under CI=true, where it must run)."""
    try:
        return find_mosquitto()
    except BrokerError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {exc}")
        pytest.skip(str(exc))
        raise  # unreachable: skip raises


def start_live_broker(directory: Path, nations=LIVE_NATIONS, chain_id: str = LIVE_CHAIN_ID
                      ) -> LiveBroker:
    require_mosquitto()
    genesis, identities = Genesis.simulated(chain_id, [(n, 1) for n in nations], LIVE_SEED)
    key_dir = make_key_dir(directory / "keys")
    for nation, identity in identities.items():
        write_key(key_path(key_dir, nation), nation, identity)
    genesis_path = directory / "genesis.json"
    genesis_path.write_text(genesis.to_json() + "\n")
    config = write_broker_config(genesis, directory / "broker", port=free_port())
    try:
        process = spawn_broker(config)
    except BrokerError:
        # Another process may have taken the free port between free_port() and the bind.
        config = write_broker_config(genesis, directory / "broker", port=free_port())
        process = spawn_broker(config)
    return LiveBroker(process, config, genesis, identities, key_dir, genesis_path)


@pytest.fixture
def live_broker(tmp_path: Path):
    broker = start_live_broker(tmp_path)
    try:
        yield broker
    finally:
        broker.process.stop()


# A four-nation live scenario: format with name, seed, ticks, extra (tables added after
# [workload]) and window (the liveness bound, in ticks).
FOUR = """
[scenario]
name = "{name}"
seed = {seed}
ticks_max = {ticks}

[[nation]]
id = "USA"

[[nation]]
id = "MEX"

[[nation]]
id = "CAN"

[[nation]]
id = "CHN"

[workload]
txs_per_tick = 0.2
{extra}

[expect]
safety = true
liveness = true
liveness_ticks_max = {window}
"""


WAIT_S_MAX = 20.0


async def until(predicate, what: str, wait_s: float = WAIT_S_MAX) -> None:
    """Wait until `predicate()` holds, polling every 20 ms; fail naming `what` after `wait_s`."""
    import asyncio
    import time

    deadline = time.monotonic() + wait_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def live_runtimes(broker: LiveBroker, nations, clock, **transport_kw) -> dict:
    """In-process live runtimes of `nations` on `broker`, each logged in as its nation and
    publishing its status every 0.2 s; `transport_kw` go to each `Transport`."""
    from nodes import Node, VerifyCache
    from nodes.live.runtime import LiveRuntime
    from nodes.live.transport import BrokerUrl, Topics, Transport

    g, cfg = broker.genesis, broker.config
    topics = Topics(g.chain_id)
    return {n: LiveRuntime(Node(broker.identities[n], g, VerifyCache()),
                           Transport(BrokerUrl(cfg.host, cfg.port, n, cfg.credentials[n]),
                                     topics, n, g.codes, **transport_kw),
                           clock, status_every_s=0.2)
            for n in nations}


async def stop_runtimes(runtimes: dict, tasks) -> None:
    import asyncio

    for runtime in runtimes.values():
        runtime.stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
