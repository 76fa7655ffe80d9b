"""What a live node's disk costs: SQLite commit times for the write-ahead record and blocks.

    python -m scenarios.bench.storage [--blocks N] [--txs N] [--wal-saves N] [--replay-ticks N]

Measures, for `synchronous=FULL` and `NORMAL`, the mean time of `save_wal` and of `save_block`
(each one committed transaction), and the time to open the file again (every block decoded and
checked). Then the restart cost of a real ledger: the baseline scenario runs on SQLite for
`--replay-ticks` ticks, and one nation's file is opened and a `Node` built on it, which replays
every block through the chaincode (what a live node does after SIGKILL, before it catches up).
It writes in a temporary folder, on the file system that holds it: a node's --data folder on
another disk can differ. It reports; it never fails.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from consensus import Step, Vote, WalRecord
from nodes.chain.block import Block, CommittedBlock
from nodes.chain.genesis import Genesis
from nodes.chain.identity import Identity
from nodes.chain.ledger import genesis_hash
from nodes.live.sqlite_storage import SYNCHRONOUS_MODES, SQLiteStorage
from nodes.chain.tx import Transaction

BENCH_CHAIN_ID = "chemtrace-bench"
BLOCKS_MAX = 100_000
REPLAY_TICKS_MAX = 10_000_000


def synthetic_chain(length: int, txs_per_block: int = 2, chain_id: str = BENCH_CHAIN_ID
                    ) -> list[CommittedBlock]:
    """A hash chain of signed-transaction blocks with well-formed certificates. The certificate
    signatures are filler: storage checks a certificate's shape, the node checks signatures."""
    if not 0 <= length <= BLOCKS_MAX:
        raise ValueError(f"length must be 0 to {BLOCKS_MAX}")
    signer = Identity.derive("USA", 1)
    genesis, _ = Genesis.simulated(chain_id, [("USA", 1)], 1)
    prev = genesis_hash(genesis)
    chain = []
    for height in range(1, length + 1):
        txs = tuple(Transaction.create(chain_id, signer, "note", height * 10_000 + i,
                                       f"tx {height}.{i}".encode())
                    for i in range(txs_per_block))
        block = Block.build(height, prev, "USA", height * 10, txs, bytes([height % 256]) * 32)
        certificate = tuple(Vote(Step.PRECOMMIT, height, 0, block.block_id, voter,
                                 bytes([i]) * 64) for i, voter in enumerate(("USA", "MEX")))
        chain.append(CommittedBlock(block, certificate))
        prev = block.block_id
    return chain


def wal_record(height: int, round_: int, value: Block) -> WalRecord:
    """A record as the replica writes it after prevoting `value`: locked on it, one own vote."""
    return WalRecord(height, round_, Step.PREVOTE, value, value.block_id, round_, value,
                     value.block_id, round_,
                     (Vote(Step.PREVOTE, height, round_, value.block_id, "USA"),))


def measure(blocks: int = 200, txs: int = 100, wal_saves: int = 1000) -> dict:
    chain = synthetic_chain(blocks, txs)
    results = {"parameters": {"blocks": blocks, "txs_per_block": txs, "wal_saves": wal_saves}}
    for mode in SYNCHRONOUS_MODES:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "node.db"
            with SQLiteStorage(path, BENCH_CHAIN_ID, synchronous=mode) as storage:
                start = time.perf_counter()
                for i in range(wal_saves):
                    storage.save_wal(wal_record(1, i, chain[0].block))
                wal_ms = (time.perf_counter() - start) * 1e3 / max(wal_saves, 1)
                start = time.perf_counter()
                for committed in chain:
                    storage.save_block(committed)
                block_ms = (time.perf_counter() - start) * 1e3 / max(blocks, 1)
            start = time.perf_counter()
            with SQLiteStorage(path) as reopened:
                if len(reopened.blocks) != blocks:
                    raise RuntimeError(f"reopened {len(reopened.blocks)} blocks of {blocks}")
            open_s = time.perf_counter() - start
        results[mode] = {"save_wal_ms": round(wal_ms, 3), "save_block_ms": round(block_ms, 3),
                         "open_s": round(open_s, 3)}
    return results


def measure_replay(ticks: int) -> dict:
    """Open a nation's SQLite file from a baseline run of `ticks` and rebuild its node."""
    from nodes.chain.identity import VerifyCache
    from nodes.node import Node

    from scenarios.spec.loader import load_scenario
    from scenarios.assemble import build_world

    scenario = load_scenario(Path(__file__).resolve().parents[1] / "library" / "baseline.toml") \
        .with_overrides(ticks_max=ticks)
    with tempfile.TemporaryDirectory() as folder:
        opened: list[SQLiteStorage] = []

        def factory(instance: str) -> SQLiteStorage:
            opened.append(SQLiteStorage(Path(folder) / f"{instance}.db", f"chemtrace/"
                                        f"{scenario.name}", synchronous="NORMAL"))
            return opened[-1]

        world = build_world(scenario, storage_factory=factory)
        world.run()
        for storage in opened:
            storage.close()
        nation = world.nations[0]
        path = Path(folder) / f"{nation}.db"
        start = time.perf_counter()
        with SQLiteStorage(path) as storage:
            open_s = time.perf_counter() - start
            start = time.perf_counter()
            node = Node(world.identities[nation], world.genesis, VerifyCache(), storage,
                        world.node_config, world.workload.new_chaincode())
            replay_s = time.perf_counter() - start
            txs = sum(len(c.block.txs) for c in storage.blocks)
            return {"ticks": ticks, "nation": nation, "blocks": node.ledger.height, "txs": txs,
                    "file_bytes": path.stat().st_size, "open_s": round(open_s, 3),
                    "replay_s": round(replay_s, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.bench.storage",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200, help="blocks to save (default 200)")
    parser.add_argument("--txs", type=int, default=100, help="transactions a block (default 100)")
    parser.add_argument("--wal-saves", type=int, default=1000,
                        help="write-ahead records to save (default 1000)")
    parser.add_argument("--replay-ticks", type=int, default=20_000,
                        help="ticks of the baseline run whose ledger is replayed (default "
                             "20000; 0 skips it)")
    args = parser.parse_args(argv)
    if (not 1 <= args.blocks <= BLOCKS_MAX or not 0 <= args.txs <= 2000 or args.wal_saves < 1
            or not 0 <= args.replay_ticks <= REPLAY_TICKS_MAX):
        parser.error(f"--blocks 1 to {BLOCKS_MAX}, --txs 0 to 2000, --wal-saves at least 1, "
                     f"--replay-ticks 0 to {REPLAY_TICKS_MAX}")
    result = measure(args.blocks, args.txs, args.wal_saves)
    if args.replay_ticks:
        result["replay"] = measure_replay(args.replay_ticks)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
