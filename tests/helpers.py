"""Shared test helpers: paths to the library and a quick way to run a scenario in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.assemble import build_world
from scenarios.sim.world import World
from scenarios.sim.summary import RunSummary
from scenarios.spec.loader import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "scenarios" / "library"


def run_library(name: str, **overrides) -> tuple[World, RunSummary]:
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(**overrides)
    world = build_world(scenario)
    return world, world.run()


def run_text(text: str, **overrides) -> tuple[World, RunSummary]:
    world = build_world(parse_scenario(text, "<test>").with_overrides(**overrides))
    return world, world.run()


def nations_toml(codes: list[str]) -> str:
    return "\n".join(f'[[nation]]\nid = "{c}"\n' for c in codes)


@pytest.fixture
def library() -> Path:
    return LIBRARY


def write_real_store(path: Path, genesis, identities: dict, me: str, blocks: int = 3,
                     signer=None) -> list:
    """A node's SQLite store holding `blocks` committed blocks as a running node writes them: each
    with a transaction signed by another nation and a certificate of real precommits, committed
    through `me`'s Node by state sync. Returns the committed blocks."""
    from consensus import Step, Vote
    from nodes import Node, Transaction, VerifyCache
    from nodes.chain.block import Block, CommittedBlock
    from nodes.live.sqlite_storage import SQLiteStorage
    from nodes.wire.messages import encode_sync_response, vote_signed_bytes

    others = [n for n in genesis.codes if n != me]
    responder, voters = others[0], others
    with SQLiteStorage(path, genesis.chain_id, nation=me, genesis_hash=genesis.hash,
                       signer=signer) as storage:
        node = Node(identities[me], genesis, VerifyCache(), storage)
        node.start(0)
        for height in range(1, blocks + 1):
            tx = Transaction.create(genesis.chain_id, identities[responder], "note", height,
                                    b"stored %d" % height)
            block = Block.build(height, node.ledger.tip_hash, responder, height, (tx,),
                                node.chaincode.state.root)
            certificate = tuple(
                Vote(Step.PRECOMMIT, height, 0, block.block_id, v, identities[v].sign(
                    vote_signed_bytes(genesis.chain_id,
                                      Vote(Step.PRECOMMIT, height, 0, block.block_id, v))))
                for v in voters)
            node.on_bytes(encode_sync_response(genesis.chain_id, responder,
                                               [CommittedBlock(block, certificate)],
                                               identities[responder].sign), height)
        assert node.ledger.height == blocks, node.dropped
        return list(node.ledger.blocks)


class ReportPage:
    """A report.html parsed as a reader sees it: the text of each <section id=...> (outside its
    plots), its tables as rows of cell texts, and its inline SVGs as XML elements."""

    def __init__(self, text: str) -> None:
        import re
        import xml.etree.ElementTree as ET
        from html.parser import HTMLParser

        self.html = text
        self.svgs: dict[str, list] = {}  # section id -> its <svg> roots
        for m in re.finditer(r'<section id="([^"]+)">(.*?)</section>', text, re.S):
            self.svgs[m.group(1)] = [ET.fromstring(s) for s in
                                     re.findall(r"<svg.*?</svg>", m.group(2), re.S)]
        page = self

        class Parser(HTMLParser):
            def __init__(self) -> None:
                super().__init__(convert_charrefs=True)
                self.section, self.in_svg = None, 0
                page.text, page.tables = {}, {}
                self.row: list | None = None
                self.cell: list | None = None

            def handle_starttag(self, tag, attrs):
                if tag == "section":
                    self.section = dict(attrs).get("id")
                    page.text[self.section], page.tables[self.section] = "", []
                elif tag == "svg":
                    self.in_svg += 1
                elif tag == "table" and self.section:
                    page.tables[self.section].append([])
                elif tag == "tr" and self.section:
                    self.row = []
                elif tag in ("td", "th") and self.row is not None:
                    self.cell = []

            def handle_endtag(self, tag):
                if self.section and not self.in_svg:
                    page.text[self.section] += "\n"  # cells and lines do not run together
                if tag == "svg":
                    self.in_svg -= 1
                elif tag in ("td", "th") and self.cell is not None:
                    self.row.append("".join(self.cell).strip())
                    self.cell = None
                elif tag == "tr" and self.row is not None:
                    page.tables[self.section][-1].append(self.row)
                    self.row = None
                elif tag == "section":
                    self.section = None

            def handle_data(self, data):
                if self.in_svg or self.section is None:
                    return
                page.text[self.section] += data
                if self.cell is not None:
                    self.cell.append(data)

        Parser().feed(text)


SMALL = f"""
[scenario]
name = "small"
seed = 1
ticks_max = 2500
{nations_toml(["CHN", "MEX", "USA", "CAN"])}
[workload]
txs_per_tick = 0.1
shipments = 4
trade_until_tick = 800
[[lane]]
from = "CHN"
to = "MEX"
share = 1.0
"""


def small_sweep_spec(tmp_path: Path, values: str) -> str:
    """A sweep spec of network.loss_probability over `values` (a TOML array) on SMALL, two
    seeds: a sweep of a few seconds."""
    (tmp_path / "small.toml").write_text(SMALL)
    spec = tmp_path / "spec.toml"
    spec.write_text(f"""
[sweep]
scenario = "small.toml"
seeds = [1, 2]
metric = "heights_committed"
[[sweep.param]]
path = "network.loss_probability"
values = {values}
""")
    return str(spec)


# ------------------------------------------------------------------ reports in a browser

BROWSERS = ("chromium", "chromium-browser")
RENDER_TIMEOUT_S = 120


def _browser() -> str:
    import os
    import shutil

    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        message = "no Chromium on PATH (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    return found


def render_in_chromium(path: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM Chromium built from `path`, and the console messages it logged. Skipped where
    Chromium is missing, but failed under CI=true, where it must run (as the MQTT tests)."""
    import subprocess
    proc = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=2000", "--dump-dom", path.resolve().as_uri()],
        capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console
