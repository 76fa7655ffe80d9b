"""scripts/peer_bench.py: chemtrace beside the peer BFT simulator. The peer itself is not in
the repository; a stand-in with its interface (config.js, simulator.js with runOnce, reset and
simulationResults) checks the driver's counting, and chemtrace's side runs for real, briefly."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "peer_bench.py"

FAKE_CONFIG = "module.exports = { nodeNum: 16, protocol: 'pbft', networkDelay: {} };\n"
# Each run "decides" once, and records what the driver set in the config.
FAKE_SIMULATOR = """
'use strict';
const fs = require('fs');
class Simulator {
    constructor(config) { this.config = config; this.simulationResults = []; }
    runOnce() {
        const c = this.config;
        fs.writeFileSync('seen.json', JSON.stringify(
            [c.nodeNum, c.protocol, c.networkDelay.mean, c.networkDelay.std, c.logToFile]));
        const until = Date.now() + 2;
        while (Date.now() < until) {}
        this.simulationResults.push({ latency: 1 });
    }
    reset() {}
}
module.exports = Simulator;
"""


def _load():
    spec = importlib.util.spec_from_file_location("peer_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_peer(tmp_path) -> Path:
    peer = tmp_path / "peer"
    (peer / "node_modules").mkdir(parents=True)
    (peer / "config.js").write_text(FAKE_CONFIG)
    (peer / "simulator.js").write_text(FAKE_SIMULATOR)
    return peer


def test_the_driver_sets_the_common_workload_and_counts_decisions(fake_peer, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js: the peer simulator needs it")
    bench = _load()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    pbft = bench.peer_rate(fake_peer, "pbft", 16, 0.2, node, scratch)
    import json
    seen = json.loads((scratch / "cwd" / "seen.json").read_text())
    assert seen == [16, "pbft", 0.02, 0, False]
    hotstuff = bench.peer_rate(fake_peer, "hotstuff-NS", 4, 0.2, node, scratch)
    assert json.loads((scratch / "cwd" / "seen.json").read_text())[:2] == [4, "hotstuff-NS"]
    # About one run per 2 ms; a HotStuff-NS run is 100 decisions.
    assert 50 < pbft < 600 and 50 * 100 < hotstuff < 600 * 100
    assert not (fake_peer / "log").exists() and not (fake_peer / "seen.json").exists()


def test_a_table_with_the_peer_and_without(fake_peer, monkeypatch, capsys):
    bench = _load()
    monkeypatch.setitem(bench.CHEMTRACE_TICKS, 4, 300)
    rows = bench.measure((4,), 1, None, 0.1, "node", say=lambda _: None)
    assert rows[0]["n"] == 4 and rows[0]["chemtrace_per_s"] > 0
    assert rows[0]["chemtrace_modelled_per_s"] > 0
    assert "| 4 |" in bench.table(rows, with_peer=False)
    rows[0].update({"pbft_per_s": 1000.0, "hotstuff-NS_per_s": 4000.0, "chemtrace_per_s": 500.0,
                    "chemtrace_modelled_per_s": 2000.0, "ratio_to_pbft": 0.5,
                    "ratio_to_pbft_modelled": 2.0, "ratio_to_hotstuff_ns_modelled": 0.5})
    assert "| 4 | 1,000 | 4,000 | 500 | 2,000 | 0.5 | 2 | 0.5 |" in bench.table(rows,
                                                                               with_peer=True)
    with pytest.raises(SystemExit):
        bench.main(["--peer", str(fake_peer.parent), "--sizes", "4"])  # not a checkout
    assert "simulator.js" in capsys.readouterr().err


def test_without_a_peer_it_says_how_to_get_it(monkeypatch, capsys):
    bench = _load()
    monkeypatch.setitem(bench.CHEMTRACE_TICKS, 4, 300)
    assert bench.main(["--sizes", "4", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "git clone https://github.com/csienslab/BFT-Simulator" in out
    assert "| 4 |" in out and "PBFT" not in out


def test_the_modelled_column_runs_modelled_signatures():
    bench = _load()
    scenario = bench.chemtrace_scenario(4, "modelled")
    assert scenario.consensus["signatures"] == "modelled"
    assert bench.chemtrace_scenario(4).consensus.get("signatures", "ed25519") == "ed25519"
