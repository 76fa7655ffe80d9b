"""Broker access against a real Mosquitto: logins, the per-nation ACL, and the broker process."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import pwd
import shutil
import stat
import subprocess

import aiomqtt
import pytest
from mqtt_helpers import LIVE_CHAIN_ID, require_mosquitto

from nodes.live.brokerconf import (
    OPERATOR,
    BrokerError,
    BrokerProcess,
    control_topic,
    direct_topic,
    free_port,
    load_broker_config,
    msg_topic,
    password_hash,
    spawn_broker,
    status_topic,
    submit_topic,
    topic_prefix,
    _stop_running_brokers,
    write_broker_config,
)
from nodes.chain.genesis import Genesis

WAIT_S = 5.0
QUIET_S = 0.5
# CONNACK refusals that mean "who are you?": MQTT 3.1.1 codes 4 and 5, MQTT 5 codes 134 and 135.
AUTH_REFUSED = {4, 5, 134, 135}


def _client(broker, user: str | None, password: str | None = None,
            identifier: str | None = None) -> aiomqtt.Client:
    if user is not None and password is None:
        password = broker.config.credentials[user]
    return aiomqtt.Client(broker.config.host, broker.config.port, username=user,
                          password=password, protocol=aiomqtt.ProtocolVersion.V5, timeout=WAIT_S,
                          identifier=identifier)


async def _collect(client: aiomqtt.Client, until_topic: str, quiet_s: float) -> list[str]:
    """Topics received until `until_topic` arrives, then `quiet_s` more (bounded by WAIT_S)."""
    seen: list[str] = []

    async def read() -> None:
        async for message in client.messages:
            seen.append(str(message.topic))
            if str(message.topic) == until_topic:
                return

    await asyncio.wait_for(read(), WAIT_S)
    try:
        await asyncio.wait_for(read(), quiet_s)
    except asyncio.TimeoutError:
        pass
    return seen


def test_the_topic_layout_is_the_documented_one():
    assert topic_prefix("c") == "chemtrace/c/v1"
    assert msg_topic("c", "USA") == "chemtrace/c/v1/USA/msg"
    assert direct_topic("c", "USA", "MEX") == "chemtrace/c/v1/USA/to/MEX"
    assert status_topic("c", "USA") == "chemtrace/c/v1/USA/status"
    assert submit_topic("c", "USA") == "chemtrace/c/v1/submit/USA"
    assert control_topic("c", "USA") == "chemtrace/c/v1/control/USA"


def test_the_docs_state_the_real_message_limits():
    import re

    from helpers import ROOT

    from nodes.live.brokerconf import PACKET_BYTES_MAX
    from nodes.live.transport import PAYLOAD_BYTES_MAX
    text = (ROOT / "docs" / "live.md").read_text()
    for name, value in (("PACKET_BYTES_MAX", PACKET_BYTES_MAX),
                        ("PAYLOAD_BYTES_MAX", PAYLOAD_BYTES_MAX)):
        stated = re.findall(rf"(\d+) MiB \(`{name}`", text)
        assert stated and all(int(n) * 1024 * 1024 == value for n in stated), (name, stated)


def test_password_hash_is_mosquittos_pbkdf2_sha512_format():
    salt = bytes(range(12))
    line = password_hash("secret", salt)
    kind, iterations, salt64, digest64 = line.split("$")[1:]
    assert (kind, iterations) == ("7", "101")
    assert base64.b64decode(salt64) == salt
    assert base64.b64decode(digest64) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101)
    assert password_hash("secret") != password_hash("secret")  # a fresh salt every time


def test_config_files_are_owner_only_and_name_every_nation(tmp_path):
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1), ("MEX", 2)], 1)
    config = write_broker_config(genesis, tmp_path, port=12345, host="127.0.0.1")
    for path in (config.conf_path, config.passwd_path, config.acl_path, config.credentials_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert set(config.credentials) == {"USA", "MEX", "USA-records", "MEX-records", OPERATOR}
    assert len(set(config.credentials.values())) == 5
    conf = config.conf_path.read_text()
    for line in ("listener 12345 127.0.0.1", "allow_anonymous false", "set_tcp_nodelay true",
                 "persistence false", f"password_file {config.passwd_path}",
                 f"acl_file {config.acl_path}"):
        assert line in conf.splitlines(), line
    acl = config.acl_path.read_text()
    assert "user MEX\ntopic write chemtrace/chain-x/v1/MEX/#\ntopic read chemtrace/chain-x/v1/#" \
        in acl
    # The broker's counters ($SYS, e.g. the messages it dropped): the operator's alone.
    assert "sys_interval 2" in conf.splitlines()
    assert acl.count("topic read $SYS/#") == 1
    assert acl.index("topic read $SYS/#") > acl.index(f"user {OPERATOR}")
    for password in config.credentials.values():
        assert password not in config.passwd_path.read_text()
    assert config.url("USA") == f"mqtt://USA:{config.credentials['USA']}@127.0.0.1:12345"
    with pytest.raises(BrokerError, match="no user 'FRA'"):
        config.url("FRA")
    loaded = load_broker_config(tmp_path, genesis)
    assert (loaded.port, loaded.host, loaded.credentials) == (12345, "127.0.0.1",
                                                             config.credentials)


@pytest.mark.parametrize("chain_id", ["chemtrace/sim", "a+b", "a#", "trail\n"])
def test_a_chain_id_that_is_not_one_topic_level_is_refused(tmp_path, chain_id):
    genesis, _ = Genesis.simulated(chain_id, [("USA", 1)], 1)
    with pytest.raises(BrokerError, match=r"field chain_id .*no '/', '\+' or '#'"):
        write_broker_config(genesis, tmp_path, port=1234)
    assert not (tmp_path / "mosquitto.conf").exists()


def test_a_folder_path_that_would_break_the_config_is_refused(tmp_path):
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1)], 1)
    with pytest.raises(BrokerError, match="without control characters"):
        write_broker_config(genesis, tmp_path / "a\nlistener 1 0.0.0.0", port=1234)


def test_own_topic_is_delivered_and_another_nations_topic_is_denied(live_broker):
    own, forged = msg_topic(LIVE_CHAIN_ID, "USA"), msg_topic(LIVE_CHAIN_ID, "MEX")
    outside = "elsewhere/USA/msg"

    async def scenario() -> list[str]:
        async with _client(live_broker, OPERATOR) as watcher, \
                _client(live_broker, "USA") as usa:
            await watcher.subscribe("#", qos=1)
            # Sent first on one connection, so a broker that let them through would deliver them
            # before the own-topic message that ends the wait.
            await usa.publish(forged, b"forged", qos=1)
            await usa.publish(outside, b"outside", qos=1)
            await usa.publish(submit_topic(LIVE_CHAIN_ID, "USA"), b"submit", qos=1)
            await usa.publish(own, b"own", qos=1)
            return await _collect(watcher, own, QUIET_S)

    seen = asyncio.run(scenario())
    assert own in seen, "the nation's own topic must be delivered"
    assert forged not in seen and "elsewhere/USA/msg" not in seen, seen
    assert submit_topic(LIVE_CHAIN_ID, "USA") not in seen, "only operator writes submit/"


def test_operator_writes_submit_and_control_but_not_a_nations_topic(live_broker):
    submit, control = submit_topic(LIVE_CHAIN_ID, "CAN"), control_topic(LIVE_CHAIN_ID, "CAN")
    forged = msg_topic(LIVE_CHAIN_ID, "CAN")

    async def scenario() -> list[str]:
        async with _client(live_broker, "CAN") as can, _client(live_broker, OPERATOR) as op:
            await can.subscribe(f"{topic_prefix(LIVE_CHAIN_ID)}/#", qos=1)
            await op.publish(forged, b"forged", qos=1)
            await op.publish(submit, b"txs", qos=1)
            await op.publish(control, b"partition", qos=1)
            return await _collect(can, control, QUIET_S)

    seen = asyncio.run(scenario())
    assert submit in seen and control in seen
    assert forged not in seen


def test_a_login_cannot_take_another_nations_client_id(live_broker):
    """USA's credentials with MEX node's client id (`chemtrace-MEX`) used to make Mosquitto
    close MEX's session; the broker now replaces every client id with the username."""
    own = msg_topic(LIVE_CHAIN_ID, "MEX")

    async def scenario() -> list[str]:
        async with _client(live_broker, "MEX", identifier="chemtrace-MEX") as mex, \
                _client(live_broker, "CAN") as can:
            await can.subscribe(own, qos=1)
            async with _client(live_broker, "USA", identifier="chemtrace-MEX"):
                await asyncio.sleep(QUIET_S)
                await asyncio.wait_for(mex.publish(own, b"still connected", qos=1), WAIT_S)
                return await _collect(can, own, 0)

    seen = asyncio.run(scenario())
    assert own in seen
    log = live_broker.config.log_path.read_text(errors="replace")
    assert "already connected, closing old connection" not in log, log[-2000:]


def test_a_wrong_password_is_refused_at_connect(live_broker):
    async def connect() -> None:
        async with _client(live_broker, "USA", "not-the-password"):
            pass

    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        asyncio.run(connect())
    assert int(getattr(refused.value.rc, "value", refused.value.rc)) in AUTH_REFUSED


def test_another_nations_password_does_not_log_in_as_this_nation(live_broker):
    async def connect() -> None:
        async with _client(live_broker, "USA", live_broker.config.credentials["MEX"]):
            pass

    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        asyncio.run(connect())
    assert int(getattr(refused.value.rc, "value", refused.value.rc)) in AUTH_REFUSED


def test_anonymous_is_refused_and_the_right_password_gets_in(live_broker):
    async def connect(user: str | None) -> None:
        async with _client(live_broker, user):
            pass

    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        asyncio.run(connect(None))
    assert int(getattr(refused.value.rc, "value", refused.value.rc)) in AUTH_REFUSED
    asyncio.run(connect("CHN"))  # the control: the same broker lets a real credential in


def test_restart_keeps_the_port_and_the_logins(live_broker):
    first = live_broker.process.pid
    live_broker.process.restart()
    assert live_broker.process.running and live_broker.process.pid != first

    async def connect() -> None:
        async with _client(live_broker, "MEX"):
            pass

    asyncio.run(connect())
    assert "mosquitto version" in live_broker.process.log_tail()


def test_a_broker_that_cannot_start_reports_its_log(tmp_path):
    require_mosquitto()
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1)], 1)
    config = write_broker_config(genesis, tmp_path, port=free_port())
    config.conf_path.write_text(config.conf_path.read_text() + "no_such_option 1\n")
    with pytest.raises(BrokerError, match=r"(?s)exited with status .*no_such_option"):
        spawn_broker(config, ready_timeout_s=5.0)


def test_a_taken_port_is_reported(tmp_path, live_broker):
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1)], 1)
    config = write_broker_config(genesis, tmp_path / "second", port=live_broker.config.port)
    with pytest.raises(BrokerError, match="mosquitto"):
        spawn_broker(config, ready_timeout_s=5.0)


def test_brokers_left_running_are_stopped_at_exit(tmp_path):
    require_mosquitto()
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1)], 1)
    broker = spawn_broker(write_broker_config(genesis, tmp_path, port=free_port()))
    process = broker.process
    _stop_running_brokers()  # what atexit runs
    assert process.poll() is not None and not broker.running


def test_the_config_keeps_the_broker_as_the_files_owner(tmp_path):
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1)], 1)
    config = write_broker_config(genesis, tmp_path, port=1883)
    owner = pwd.getpwuid(os.geteuid()).pw_name
    assert f"user {owner}" in config.conf_path.read_text().splitlines()


def test_the_broker_is_stopped_when_the_context_ends(tmp_path):
    require_mosquitto()
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1)], 1)
    config = write_broker_config(genesis, tmp_path, port=free_port())
    with BrokerProcess(config) as broker:
        process = broker.process
        assert broker.running
    assert process.poll() is not None and not broker.running


def test_mosquitto_passwd_accepts_our_password_file(tmp_path, live_broker):
    """The file stays in the format the stock tool edits (an operator may add a user by hand)."""
    tool = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd",
                                                            path="/usr/bin:/usr/sbin")
    if tool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and mosquitto_passwd (Debian's mosquitto package) is missing")
        pytest.skip("mosquitto_passwd is not installed")
    done = subprocess.run([tool, "-b", str(live_broker.config.passwd_path), "EXTRA", "pw"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = live_broker.config.passwd_path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "USA", "MEX", "CAN", "CHN", "USA-records", "MEX-records", "CAN-records", "CHN-records",
        OPERATOR, "EXTRA"]


def test_load_broker_config_refuses_a_folder_without_one(tmp_path):
    genesis, _ = Genesis.simulated("chain-x", [("USA", 1)], 1)
    with pytest.raises(BrokerError, match="chemtrace broker-config --genesis FILE --out DIR"):
        load_broker_config(tmp_path, genesis)
    write_broker_config(genesis, tmp_path, port=1883)
    other, _ = Genesis.simulated("chain-x", [("USA", 1), ("MEX", 1)], 1)
    with pytest.raises(BrokerError, match="do not match the genesis"):
        load_broker_config(tmp_path, other)


def test_find_mosquitto_looks_on_path_then_in_sbin_and_names_the_install_command(
        tmp_path, monkeypatch):
    import nodes.live.brokerconf as brokerconf
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(brokerconf, "MOSQUITTO_DIRS", (str(sbin),))
    with pytest.raises(BrokerError, match="apt-get install -y mosquitto"):
        brokerconf.find_mosquitto()
    fake = sbin / "mosquitto"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert brokerconf.find_mosquitto() == str(fake)
    on_path = tmp_path / "bin"
    on_path.mkdir()
    (on_path / "mosquitto").write_text("#!/bin/sh\n")
    (on_path / "mosquitto").chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path))
    assert brokerconf.find_mosquitto() == str(on_path / "mosquitto")
