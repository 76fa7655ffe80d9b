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
