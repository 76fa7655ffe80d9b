"""`chemtrace keys`, `chemtrace genesis`, `chemtrace broker-config` and the key file format."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from nodes.chain.genesis import Genesis
from nodes.chain.identity import Identity
from nodes.live.keyfile import KeyFileError, read_key, read_public, write_key, write_public
from scenarios.cli.main import main

NATIONS = "USA,MEX,CAN,CHN"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _keys(tmp_path, capsys, nations=NATIONS):
    assert main(["keys", "--nations", nations, "--out", str(tmp_path / "keys")]) == 0
    return capsys.readouterr().out


def test_keys_writes_one_owner_only_file_per_nation(tmp_path, capsys):
    out = _keys(tmp_path, capsys)
    assert _mode(tmp_path / "keys") == 0o700
    for code in NATIONS.split(","):
        path = tmp_path / "keys" / f"{code}.key"
        assert _mode(path) == 0o600
        nation, identity = read_key(path)
        assert nation == code and identity.name == code
        assert f"{path} and {code}.pub (public key {identity.public_key.hex()})" in out
        public = tmp_path / "keys" / f"{code}.pub"
        assert _mode(public) == 0o644 and read_public(public) == (code, identity.public_key)
        assert "seed_hex" not in public.read_text()
    seeds = {json.loads((tmp_path / "keys" / f"{c}.key").read_text())["seed_hex"]
             for c in NATIONS.split(",")}
    assert len(seeds) == 4, "every nation gets its own random key"


def test_keys_refuses_to_overwrite_without_force(tmp_path, capsys):
    _keys(tmp_path, capsys, "USA")
    before = (tmp_path / "keys" / "USA.key").read_text()
    assert main(["keys", "--nations", "MEX,USA", "--out", str(tmp_path / "keys")]) == 2
    err = capsys.readouterr().err
    assert "USA.key" in err and "--force" in err
    assert (tmp_path / "keys" / "USA.key").read_text() == before
    assert not (tmp_path / "keys" / "MEX.key").exists(), "a refusal leaves nothing half made"
    assert main(["keys", "--nations", "USA", "--out", str(tmp_path / "keys"), "--force"]) == 0
    assert (tmp_path / "keys" / "USA.key").read_text() != before
    assert _mode(tmp_path / "keys" / "USA.key") == 0o600


@pytest.mark.parametrize("nations, fragment", [
    ("usa", "'usa' is not an ISO 3166 alpha-3 code"),
    ("USA,USA", "listed twice"),
    (",", "at least one code"),
])
def test_keys_refuses_bad_nation_lists(tmp_path, capsys, nations, fragment):
    assert main(["keys", "--nations", nations, "--out", str(tmp_path / "k")]) == 2
    assert fragment in capsys.readouterr().err


def test_a_group_or_world_readable_key_is_refused_naming_the_fix(tmp_path):
    path = write_key(tmp_path / "USA.key", "USA", Identity.generate("USA"))
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match=rf"readable by group or others \(mode 0640\); run "
                                           rf"`chmod 600 {path}`"):
        read_key(path)
    os.chmod(path, 0o600)
    assert read_key(path)[0] == "USA"


@pytest.mark.parametrize("content, fragment", [
    ("not json", "JSON expected"),
    ("[]", "a JSON object"),
    ('{"nation": "usa", "seed_hex": "00", "public_key_hex": "00"}', "field 'nation'"),
    ('{"nation": "USA", "seed_hex": "zz", "public_key_hex": "00"}', "field 'seed_hex'"),
    ('{"nation": "USA", "seed_hex": "' + "11" * 32 + '", "public_key_hex": "' + "22" * 32 + '"}',
     "does not match 'seed_hex'"),
])
def test_damaged_key_files_are_refused_naming_file_and_field(tmp_path, content, fragment):
    path = tmp_path / "USA.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(content)
    with pytest.raises(KeyFileError, match=str(path)) as refused:
        read_key(path)
    assert fragment in str(refused.value)


def test_a_missing_key_file_says_how_to_make_one(tmp_path):
    with pytest.raises(KeyFileError, match="chemtrace keys"):
        read_key(tmp_path / "nope.key")


def test_write_key_round_trips_the_identity(tmp_path):
    identity = Identity.derive("MEX", 3)
    nation, back = read_key(write_key(tmp_path / "MEX.key", "MEX", identity))
    assert nation == "MEX" and back.public_key == identity.public_key
    assert back.sign(b"x") == identity.sign(b"x")
    with pytest.raises(KeyFileError, match="signs as 'MEX', not 'USA'"):
        write_key(tmp_path / "USA.key", "USA", identity)


def test_genesis_from_key_files_loads_with_the_keys_and_powers(tmp_path, capsys):
    _keys(tmp_path, capsys)
    out = tmp_path / "genesis.json"
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out", str(out),
                 "--chain-id", "trial-1", "--power", "USA=3,MEX=2"]) == 0
    assert "chain trial-1" in capsys.readouterr().out
    genesis = Genesis.load(out)
    assert genesis.chain_id == "trial-1"
    assert genesis.codes == ("CAN", "CHN", "MEX", "USA")
    assert dict(genesis.validators.powers) == {"CAN": 1, "CHN": 1, "MEX": 2, "USA": 3}
    for code in genesis.codes:
        assert genesis.public_key(code) == read_key(tmp_path / "keys" / f"{code}.key")[1] \
            .public_key
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("extra, fragment", [
    (["--chain-id", "a/b"], "field chain_id 'a/b'"),
    (["--chain-id", "a+b"], "no '/', '+' or '#'"),
    (["--power", "USA=0"], "USA=0"),
    (["--power", "FRA=2"], "'FRA' has no key file"),
    (["--power", "USA"], "NATION=WEIGHT"),
])
def test_genesis_refuses_bad_options(tmp_path, capsys, extra, fragment):
    _keys(tmp_path, capsys, "USA,MEX")
    code = main(["genesis", "--keys", str(tmp_path / "keys"), "--out", str(tmp_path / "g.json"),
                 *extra])
    assert code == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "g.json").exists()


def test_genesis_refuses_a_missing_folder_a_misnamed_and_an_exposed_key(tmp_path, capsys):
    assert main(["genesis", "--keys", str(tmp_path / "none"), "--out", str(tmp_path / "g")]) == 2
    assert "chemtrace keys" in capsys.readouterr().err
    _keys(tmp_path, capsys, "USA,MEX")
    os.chmod(tmp_path / "keys" / "MEX.key", 0o644)
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out", str(tmp_path / "g")]) == 2
    assert "chmod 600" in capsys.readouterr().err
    os.chmod(tmp_path / "keys" / "MEX.key", 0o600)
    os.rename(tmp_path / "keys" / "MEX.key", tmp_path / "keys" / "CAN.key")
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out", str(tmp_path / "g")]) == 2
    assert "rename it to MEX.key" in capsys.readouterr().err


def test_broker_config_writes_the_four_files(tmp_path, capsys):
    _keys(tmp_path, capsys)
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out",
                 str(tmp_path / "g.json")]) == 0
    assert main(["broker-config", "--genesis", str(tmp_path / "g.json"), "--out",
                 str(tmp_path / "broker"), "--port", "18830"]) == 0
    out = capsys.readouterr().out
    for name in ("mosquitto.conf", "passwd", "acl", "credentials.json"):
        path = tmp_path / "broker" / name
        assert f"wrote {path.resolve()}" in out and _mode(path) == 0o600
    creds = json.loads((tmp_path / "broker" / "credentials.json").read_text())
    assert sorted(creds) == ["CAN", "CAN-records", "CHN", "CHN-records", "MEX", "MEX-records",
                             "USA", "USA-records", "operator"]
    assert "listener 18830 127.0.0.1" in (tmp_path / "broker" / "mosquitto.conf").read_text()


def test_broker_config_says_where_mosquitto_is(tmp_path, capsys, monkeypatch):
    """The printed command names the mosquitto found off PATH (as /usr/sbin on Debian), or
    says how to install it."""
    import nodes.live.brokerconf as brokerconf
    _keys(tmp_path, capsys)
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out",
                 str(tmp_path / "g.json")]) == 0
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "mosquitto").write_text("#!/bin/sh\n")
    (sbin / "mosquitto").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    monkeypatch.setattr(brokerconf, "MOSQUITTO_DIRS", (str(sbin),))
    args = ["broker-config", "--genesis", str(tmp_path / "g.json"), "--out", str(tmp_path / "b")]
    capsys.readouterr()
    assert main(args) == 0
    conf = (tmp_path / "b" / "mosquitto.conf").resolve()
    assert f"start the broker with: {sbin / 'mosquitto'} -c {conf}" in capsys.readouterr().out
    monkeypatch.setattr(brokerconf, "MOSQUITTO_DIRS", ())
    assert main(args) == 0
    assert ("start the broker with: mosquitto (not installed here: apt-get install -y mosquitto "
            f"puts it in /usr/sbin) -c {conf}") in capsys.readouterr().out


def test_broker_config_refuses_a_simulated_chain_id_and_a_bad_genesis(tmp_path, capsys):
    genesis, _ = Genesis.simulated("chemtrace/baseline", [("USA", 1)], 1)
    (tmp_path / "g.json").write_text(genesis.to_json())
    assert main(["broker-config", "--genesis", str(tmp_path / "g.json"), "--out",
                 str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "g.json") in err and "chain_id" in err
    (tmp_path / "g.json").write_text("{}")
    assert main(["broker-config", "--genesis", str(tmp_path / "g.json"), "--out",
                 str(tmp_path / "b")]) == 2
    assert str(tmp_path / "g.json") in capsys.readouterr().err
    genesis, _ = Genesis.simulated("chemtrace-x", [("USA", 1)], 1)
    (tmp_path / "g.json").write_text(genesis.to_json())
    assert main(["broker-config", "--genesis", str(tmp_path / "g.json"), "--out",
                 str(tmp_path / "b"), "--port", "70000"]) == 2
    assert "--port must be 1 to 65535" in capsys.readouterr().err
    assert not (tmp_path / "b" / "credentials.json").exists()


def test_genesis_from_public_halves_alone(tmp_path, capsys):
    """The multi-host way: each nation sends only NATION.pub; no seed leaves its host."""
    _keys(tmp_path, capsys)
    public_dir = tmp_path / "received"
    public_dir.mkdir()
    for code in NATIONS.split(","):
        (public_dir / f"{code}.pub").write_text((tmp_path / "keys" / f"{code}.pub").read_text())
    assert main(["genesis", "--keys", str(public_dir), "--out", str(tmp_path / "g.json")]) == 0
    genesis = Genesis.load(tmp_path / "g.json")
    for code in NATIONS.split(","):
        assert genesis.public_key(code) == read_key(tmp_path / "keys" / f"{code}.key")[1] \
            .public_key


def test_genesis_refuses_a_pub_that_disagrees_with_its_key(tmp_path, capsys):
    _keys(tmp_path, capsys, "USA,MEX")
    write_public(tmp_path / "keys" / "USA.pub", "USA", Identity.generate("USA").public_key,
                 overwrite=True)
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out", str(tmp_path / "g")]) == 2
    assert "USA.key and USA.pub hold different keys" in capsys.readouterr().err


@pytest.mark.parametrize("content, fragment", [
    ('{"nation": "USA"}', "field 'public_key_hex'"),
    ('{"nation": "USA\\n", "public_key_hex": "' + "11" * 32 + '"}', "field 'nation'"),
    ("x" * 5000, "too large"),
])
def test_damaged_public_files_are_refused(tmp_path, content, fragment):
    (tmp_path / "USA.pub").write_text(content)
    with pytest.raises(KeyFileError, match=str(tmp_path / "USA.pub")) as refused:
        read_public(tmp_path / "USA.pub")
    assert fragment in str(refused.value)


def test_a_power_in_other_digits_is_refused_cleanly(tmp_path, capsys):
    _keys(tmp_path, capsys, "USA")
    assert main(["genesis", "--keys", str(tmp_path / "keys"), "--out", str(tmp_path / "g"),
                 "--power", "USA=\u00b2"]) == 2
    assert "NATION=WEIGHT" in capsys.readouterr().err


@pytest.mark.parametrize("content, needle", [
    (b'{"chain_id": ', ":1: not valid JSON (column 14"),
    (b"{}", "no 'nations' key"),
    (b"\xff\xfe", "not text in UTF-8"),
])
def test_broker_config_explains_a_bad_genesis_file(tmp_path, capsys, content, needle):
    genesis = tmp_path / "genesis.json"
    genesis.write_bytes(content)
    assert main(["broker-config", "--genesis", str(genesis), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {genesis}") and needle in err
    assert "chemtrace genesis --keys DIR --out FILE" in err


def test_cluster_refuses_a_folder_holding_another_runs_state_or_starts_clean(tmp_path, capsys):
    """A second `chemtrace cluster` into the same folder reopened the first run's SQLite files
    under new keys and reported false safety violations. Such a folder is refused (before any
    process starts), unless --clean deletes that state; by default each run gets its own."""
    from scenarios.cluster.driver import _claim_out_dir
    out = tmp_path / "live"
    (out / "nodes" / "USA").mkdir(parents=True)
    (out / "nodes" / "USA" / "chain.sqlite").write_bytes(b"old")
    (out / "genesis.json").write_text("{}")
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "library" / "live-four.toml"
    assert main(["cluster", str(scenario), "--broker", "spawn", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {out}: holds another run's state (nodes, genesis.json)" in err
    assert "--clean" in err and (out / "nodes" / "USA" / "chain.sqlite").exists()
    assert _claim_out_dir(out, clean=True) == ["nodes", "genesis.json"]
    assert not (out / "nodes").exists() and not (out / "genesis.json").exists()
    assert _claim_out_dir(out, clean=False) == []


def test_a_node_refuses_another_nations_store_and_another_genesis_with_exit_2(tmp_path,
                                                                             capsys):
    from nodes.live.sqlite_storage import SQLiteStorage
    _keys(tmp_path, capsys)
    keys, g1, g2 = tmp_path / "keys", tmp_path / "g1.json", tmp_path / "g2.json"
    assert main(["genesis", "--keys", str(keys), "--out", str(g1), "--chain-id", "c1"]) == 0
    assert main(["genesis", "--keys", str(keys), "--out", str(g2), "--chain-id", "c1",
                 "--power", "USA=2"]) == 0
    data = tmp_path / "usa-data"
    data.mkdir()
    genesis = Genesis.load(g1)
    SQLiteStorage(data / "node.sqlite", "c1", nation="USA", genesis_hash=genesis.hash).close()
    capsys.readouterr()

    def node(genesis_path, nation) -> int:
        # No broker listens on port 1; each refusal comes before any connection, and without
        # one --parent-pid (a process that is not our parent) stops the node at once.
        return main(["node", "--genesis", str(genesis_path), "--key", str(keys / f"{nation}.key"),
                     "--broker", f"mqtt://{nation}:x@127.0.0.1:1", "--data", str(data),
                     "--parent-pid", str(os.getppid() + 1)])

    assert node(g1, "MEX") == 2
    assert "is USA's node's, and this key is MEX's" in capsys.readouterr().err
    assert node(g2, "USA") == 2
    assert "written under another genesis" in capsys.readouterr().err


def test_a_node_on_a_store_with_a_forged_signature_exits_2_and_serves_nothing(tmp_path, capsys):
    import sqlite3

    from helpers import write_real_store

    _keys(tmp_path, capsys)
    keys, genesis_path = tmp_path / "keys", tmp_path / "genesis.json"
    assert main(["genesis", "--keys", str(keys), "--out", str(genesis_path),
                 "--chain-id", "c1"]) == 0
    genesis = Genesis.load(genesis_path)
    ids = {n: read_key(keys / f"{n}.key")[1] for n in genesis.codes}
    data = tmp_path / "usa-data"
    data.mkdir()
    store = data / "node.sqlite"
    blocks = write_real_store(store, genesis, ids, "USA", 2, signer=ids["USA"])
    # Block 2's transaction signature, one byte flipped on disk (its id leaves signatures out).
    db = sqlite3.connect(store)
    (raw,) = db.execute("SELECT block FROM blocks WHERE height = 2").fetchone()
    at = raw.index(blocks[1].block.txs[0].signature)
    db.execute("UPDATE blocks SET block = ? WHERE height = 2",
               (raw[:at] + bytes([raw[at] ^ 0x80]) + raw[at + 1:],))
    db.commit()
    db.close()
    capsys.readouterr()
    code = main(["node", "--genesis", str(genesis_path), "--key", str(keys / "USA.key"),
                 "--broker", "mqtt://USA:x@127.0.0.1:1", "--data", str(data),
                 "--parent-pid", str(os.getppid() + 1)])
    assert code == 2
    err = capsys.readouterr().err
    assert "stored block 2 fails its check: transaction 0" in err, err
    assert "has a bad signature; the store is damaged and is not served" in err
    assert not (data / "ledger.export").exists()  # never exported, never synced to a peer


def test_bench_live_json_prints_the_results_alone_and_json_file_writes_them(tmp_path, capsys,
                                                                         monkeypatch):
    """The CLI's outputs of bench-live (the clusters themselves are measured in
    docs/live.md): --json on stdout without the table, --json-file to a file."""
    import scenarios.bench.live as bench_live
    run = {"txs_per_s": 900.0, "txs_per_s_whole_run": 800.0, "offered_txs_per_s": 1000.0,
           "heights": 50, "txs_committed": 4000}
    restart = {"sizes": [{"txs": 100_000, "blocks": 50, "snapshot_ready_s": 1.1,
                          "replay_ready_s": 1.6}]}
    result = {"throughput": {"4": run, "7": run}, "recovery": {"recovery_s": 1.5},
              "tcp_nodelay": {"median_ms_nodelay": 0.2, "median_ms_without": 40.0},
              "restart": restart}
    calls = []

    def fake(quick, sections, restart_sizes):
        calls.append((sections, restart_sizes))
        return {k: v for k, v in result.items() if k in sections}

    monkeypatch.setattr(bench_live, "run_bench_live", fake)
    file = tmp_path / "live.json"
    assert main(["bench-live", "--json", "--json-file", str(file)]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out) == result == json.loads(file.read_text())
    assert "committed txs per second" not in printed.err and f"wrote {file}" in printed.err
    assert main(["bench-live"]) == 0
    out = capsys.readouterr().out
    assert "4 nations: committed txs per second" in out
    assert "restart, 100,000 txs (50 blocks)" in out and "1.10 / 1.60" in out
    # --only runs the sections named; --restart-sizes reaches the restart section.
    assert main(["bench-live", "--only", "restart", "--restart-sizes", "5000,20000"]) == 0
    assert calls[-1] == (("restart",), (5000, 20000))
    assert "committed txs per second" not in capsys.readouterr().out
