"""SQLite persistence: the write-ahead record's bytes, reopening, corruption, the simulated world
on SQLite, and SIGKILL in the middle of a stream of saves."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from helpers import LIBRARY, ROOT
from hypothesis import given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from hypothesis import strategies as st

from consensus import Proposal, Step, Vote, WalRecord
from nodes import Genesis, MemoryStorage, Node, VerifyCache
from nodes.chain.block import Block, CommittedBlock
from nodes.chain.codec import pack, unpack
from nodes.chain.ledger import genesis_hash
from nodes.wire.records import (
    RecordError,
    decode_certificate,
    decode_wal,
    encode_certificate,
    encode_wal,
)
from nodes.live.sqlite_storage import SQLiteStorage
from nodes.chain.storage import StorageError
from scenarios.assemble import build_world
from scenarios.spec.loader import load_scenario
from scenarios.bench.storage import BENCH_CHAIN_ID, synthetic_chain, wal_record

CHAIN = BENCH_CHAIN_ID


def chain_of(length: int, txs_per_block: int = 2) -> list[CommittedBlock]:
    return synthetic_chain(length, txs_per_block, CHAIN)


POOL = [c.block for c in chain_of(3)]
hashes = st.binary(min_size=32, max_size=32)
signatures = st.sampled_from([b"", b"\x07" * 64])
blocks = st.sampled_from(POOL)
rounds = st.integers(0, 50)


@st.composite
def wal_records(draw) -> WalRecord:
    height = draw(st.integers(1, 2**40))
    locked = draw(st.none() | blocks)
    valid = draw(st.none() | blocks)
    own: list = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            block = draw(blocks)
            own.append(Proposal(height, draw(rounds), block, block.block_id,
                                draw(st.integers(-1, 0)), "USA", draw(signatures)))
        else:
            own.append(Vote(draw(st.sampled_from([Step.PREVOTE, Step.PRECOMMIT])), height,
                            draw(rounds), draw(st.none() | hashes), "USA", draw(signatures)))
    justifying: list = []
    for _ in range(draw(st.integers(0, 6))):  # others' messages are always signed
        if draw(st.booleans()):
            block = draw(blocks)
            justifying.append(Proposal(height, draw(rounds), block, block.block_id, -1, "MEX",
                                       b"\x09" * 64))
        else:
            justifying.append(Vote(Step.PREVOTE, height, draw(rounds), draw(hashes),
                                   draw(st.sampled_from(["MEX", "CAN"])), b"\x08" * 64))
    return WalRecord(height, draw(rounds), draw(st.sampled_from(list(Step))),
                     locked, locked.block_id if locked else None,
                     draw(st.integers(-1, 50)) if locked else -1,
                     valid, valid.block_id if valid else None,
                     draw(st.integers(-1, 50)) if valid else -1, tuple(own), tuple(justifying))


# --------------------------------------------------------------------------- byte formats


@settings(max_examples=150, deadline=None)
@given(wal_records())
def test_wal_record_round_trips(record):
    data = encode_wal(record)
    assert decode_wal(CHAIN, data) == record
    assert encode_wal(decode_wal(CHAIN, data)) == data, "the encoding is canonical"


def test_a_record_of_format_1_without_justifying_messages_still_reads():
    """Stores written before the record kept the polka behind a lock (format 1, 12 fields)
    open as before, with no justifying messages."""
    block = POOL[0]
    own = (Vote(Step.PREVOTE, 1, 0, block.block_id, "USA"),)
    record = WalRecord(1, 0, Step.PRECOMMIT, block, block.block_id, 0, block, block.block_id, 0,
                       own)
    raw = list(unpack(encode_wal(record), bytes_max=1 << 20))
    assert raw[0] == 2 and raw[12] == ()
    old = pack((1, *raw[1:12]))
    assert decode_wal(CHAIN, old) == record
    with pytest.raises(RecordError, match="format 2 with 13 fields"):
        decode_wal(CHAIN, pack((2, *raw[1:12])))


def test_justifying_messages_must_be_signed():
    block = POOL[0]
    unsigned = WalRecord(1, 0, Step.PRECOMMIT, block, block.block_id, 0, block,
                         block.block_id, 0, (), (Vote(Step.PREVOTE, 1, 0, block.block_id, "MEX"),))
    with pytest.raises(RecordError, match="a signature is 64 bytes"):
        decode_wal(CHAIN, encode_wal(unsigned))


def test_a_block_shared_by_lock_valid_value_and_proposal_is_stored_once():
    block = POOL[0]
    record = WalRecord(1, 0, Step.PRECOMMIT, block, block.block_id, 0, block, block.block_id, 0,
                       (Proposal(1, 0, block, block.block_id, -1, "USA"),))
    assert len(encode_wal(record)) < len(block.encoded) + 200


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_decode_into_anything_but_a_record_error(data):
    with pytest.raises(RecordError):
        decode_wal(CHAIN, data)


@settings(max_examples=300, deadline=None)
@given(wal_records(), st.data())
def test_damaged_records_decode_or_raise_record_error_only(record, data):
    raw = bytearray(encode_wal(record))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_wal(CHAIN, bytes(raw))
    except RecordError:
        return
    assert isinstance(decoded, WalRecord)


def test_a_record_from_another_chain_is_refused():
    record = WalRecord(1, 0, Step.PROPOSE, POOL[0], POOL[0].block_id, 0, None, None, -1, ())
    with pytest.raises(RecordError, match="tx_root"):
        decode_wal("another-chain", encode_wal(record))


def test_a_value_that_is_not_a_block_cannot_be_persisted():
    with pytest.raises(RecordError, match="must be a Block"):
        encode_wal(WalRecord(1, 0, Step.PROPOSE, "v", b"\x00" * 32, 0, None, None, -1, ()))


def test_certificate_round_trips():
    committed = chain_of(1)[0]
    block = committed.block
    assert decode_certificate(1, block.block_id, encode_certificate(committed.certificate)) \
        == committed.certificate
    with pytest.raises(RecordError, match="certificate of block 1"):
        decode_certificate(1, block.block_id, b"\xc1")


# --------------------------------------------------------------------------- the database


def _record(height: int, round_: int = 0) -> WalRecord:
    return wal_record(height, round_, POOL[0])


def test_reopen_restores_blocks_and_the_write_ahead_record(tmp_path):
    path = tmp_path / "node.db"
    chain = chain_of(5)
    with SQLiteStorage(path, CHAIN) as storage:
        for committed in chain:
            storage.save_block(committed)
        storage.save_wal(_record(6, 0))
        storage.save_wal(_record(6, 2))
        assert storage.writes == 7
    with SQLiteStorage(path) as reopened:  # the chain id comes from the file
        assert reopened.chain_id == CHAIN
        assert reopened.blocks == chain
        assert reopened.wal == _record(6, 2)
        assert reopened.state_root_after(1) == chain[1].block.app_hash
        assert reopened.state_root_after(5) is None


def test_a_new_database_is_empty_and_wipe_empties_it(tmp_path):
    with SQLiteStorage(tmp_path / "node.db", CHAIN) as storage:
        assert storage.blocks == [] and storage.wal is None
        storage.save_block(chain_of(1)[0])
        storage.save_wal(_record(2))
        storage.wipe()
        assert storage.blocks == [] and storage.wal is None
    with SQLiteStorage(tmp_path / "node.db", CHAIN) as storage:
        assert storage.blocks == [] and storage.wal is None
        storage.save_block(chain_of(1)[0])  # heights start again at 1


def test_saves_that_break_the_chain_are_refused_and_change_nothing(tmp_path):
    chain, other = chain_of(3), chain_of(3, txs_per_block=1)
    with SQLiteStorage(tmp_path / "node.db", CHAIN) as storage:
        with pytest.raises(StorageError, match="expects block 1, got 2"):
            storage.save_block(chain[1])
        storage.save_block(chain[0])
        with pytest.raises(StorageError, match="does not extend the stored tip"):
            storage.save_block(other[1])
        assert storage.blocks == chain[:1]
    with SQLiteStorage(tmp_path / "node.db", CHAIN) as storage:
        assert storage.blocks == chain[:1]


def test_chain_id_is_required_for_a_new_file_and_checked_for_an_old_one(tmp_path):
    path = tmp_path / "node.db"
    with pytest.raises(StorageError, match="a new database needs the chain id"):
        SQLiteStorage(path)
    SQLiteStorage(path, CHAIN).close()
    with pytest.raises(StorageError, match=f"{path}: the database belongs to chain "
                                           f"'{CHAIN}', not 'other'"):
        SQLiteStorage(path, "other")


def test_the_store_is_bound_to_its_nation_and_genesis(tmp_path):
    path = tmp_path / "node.db"
    genesis, _ = Genesis.simulated(CHAIN, [("USA", 1)], 1)  # synthetic_chain's
    other, _ = Genesis.simulated(CHAIN, [("USA", 2)], 1)
    with SQLiteStorage(path, CHAIN, nation="USA", genesis_hash=genesis.hash) as storage:
        storage.save_block(synthetic_chain(1)[0])
    with SQLiteStorage(path, CHAIN, nation="USA", genesis_hash=genesis.hash) as again:
        assert len(again.blocks) == 1
    with pytest.raises(StorageError, match="the database is USA's node's, and this key is "
                                           "MEX's; give each nation's node its own --data"):
        SQLiteStorage(path, CHAIN, nation="MEX", genesis_hash=genesis.hash)
    with pytest.raises(StorageError, match="written under another genesis"):
        SQLiteStorage(path, CHAIN, nation="USA", genesis_hash=other.hash)


def test_a_store_without_a_recorded_genesis_is_checked_by_its_first_block(tmp_path):
    path = tmp_path / "node.db"
    with SQLiteStorage(path, CHAIN) as storage:  # as a store written before the binding
        storage.save_block(synthetic_chain(1)[0])
    genesis, _ = Genesis.simulated(CHAIN, [("USA", 2)], 1)  # synthetic_chain's has power 1
    with pytest.raises(StorageError, match="block 1 does not start from this genesis"):
        SQLiteStorage(path, CHAIN, nation="USA", genesis_hash=genesis.hash)


def test_a_second_process_cannot_open_a_database_in_use(tmp_path):
    path = tmp_path / "node.db"
    with SQLiteStorage(path, CHAIN):
        probe = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                from nodes.live.sqlite_storage import SQLiteStorage
                from nodes.chain.storage import StorageError
                try:
                    SQLiteStorage({str(path)!r})
                except StorageError as exc:
                    print(exc)
            """)], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert "in use by another process" in probe.stdout, probe.stdout + probe.stderr
    SQLiteStorage(path).close()  # free again once the first closed it


def _damage(path, sql: str, params=()) -> None:
    db = sqlite3.connect(path)
    db.execute(sql, params)
    db.commit()
    db.close()


@pytest.mark.parametrize("sql, params, fragment", [
    ("DELETE FROM blocks WHERE height = 2", (), "height 2 is missing"),
    ("UPDATE blocks SET block = ? WHERE height = 2", (b"\x93\x01\x02",), "block 2"),
    ("UPDATE blocks SET block_id = ? WHERE height = 3", (b"\x00" * 32,), "does not hash"),
    ("UPDATE blocks SET certificate = ? WHERE height = 1", (b"\xff",), "certificate of block 1"),
    ("UPDATE wal SET record = ?", (b"\x00",), "wal: write-ahead record"),
    ("UPDATE meta SET value = '9' WHERE key = 'schema_version'", (), "database format 9"),
])
def test_damaged_databases_are_refused_naming_the_file_and_the_fix(tmp_path, sql, params,
                                                                  fragment):
    path = tmp_path / "node.db"
    with SQLiteStorage(path, CHAIN) as storage:
        for committed in chain_of(3):
            storage.save_block(committed)
        storage.save_wal(_record(4))
    _damage(path, sql, params)
    with pytest.raises(StorageError) as refused:
        SQLiteStorage(path, CHAIN)
    message = str(refused.value)
    assert message.startswith(str(path)) and fragment in message, message


def test_a_missing_folder_and_a_bad_mode_are_refused_clearly(tmp_path):
    with pytest.raises(StorageError, match="cannot open the database.*--data folder exists"):
        SQLiteStorage(tmp_path / "no-such-folder" / "node.db", CHAIN)
    with pytest.raises(ValueError, match="synchronous must be one of"):
        SQLiteStorage(tmp_path / "node.db", CHAIN, synchronous="OFF")


def test_a_closed_storage_refuses_saves(tmp_path):
    storage = SQLiteStorage(tmp_path / "node.db", CHAIN)
    storage.close()
    with pytest.raises(StorageError, match="the storage is closed"):
        storage.save_wal(_record(1))
    assert storage.wal is None


def test_a_save_that_fails_in_sqlite_raises_naming_the_file_and_keeps_memory_unchanged(
        tmp_path):
    with SQLiteStorage(tmp_path / "node.db", CHAIN) as storage:
        storage.save_wal(_record(1, 0))
        storage._db.execute("DROP TABLE wal")  # any failure inside SQLite: disk full, I/O...
        with pytest.raises(StorageError, match=f"{tmp_path / 'node.db'}: cannot save"):
            storage.save_wal(_record(1, 1))
        assert storage.wal == _record(1, 0)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "node.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=f"{path}: not a chemtrace node database"):
        SQLiteStorage(path, CHAIN)


def test_recovery_refuses_blocks_whose_app_hash_the_replayed_state_does_not_match():
    genesis, identities = Genesis.simulated(CHAIN, [("USA", 1)], 1)
    storage = MemoryStorage()
    block = Block.build(1, genesis_hash(genesis), "USA", 0, (), b"\x01" * 32)
    storage.save_block(CommittedBlock(block, ()))
    with pytest.raises(StorageError, match="differs from block 1's app hash"):
        Node(identities["USA"], genesis, VerifyCache(), storage)


class StorageAgainstMemory(RuleBasedStateMachine):
    """Any sequence of saves, wipes and reopenings leaves the file holding what MemoryStorage,
    the model, holds."""

    BLOCKS = chain_of(12, txs_per_block=1)

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="chemtrace-sqlite-")
        self.path = Path(self.folder) / "node.db"
        self.storage = SQLiteStorage(self.path, CHAIN, synchronous="NORMAL")
        self.model = MemoryStorage()

    @precondition(lambda self: len(self.model.blocks) < len(self.BLOCKS))
    @rule()
    def save_next_block(self) -> None:
        committed = self.BLOCKS[len(self.model.blocks)]
        self.storage.save_block(committed)
        self.model.save_block(committed)

    @rule(record=wal_records())
    def save_wal(self, record: WalRecord) -> None:
        self.storage.save_wal(record)
        self.model.save_wal(record)

    @rule()
    def wipe(self) -> None:
        self.storage.wipe()
        self.model.wipe()

    @rule()
    def reopen(self) -> None:
        self.storage.close()
        self.storage = SQLiteStorage(self.path, CHAIN, synchronous="NORMAL")

    @invariant()
    def file_matches_the_model(self) -> None:
        assert self.storage.blocks == self.model.blocks
        assert self.storage.wal == self.model.wal

    def teardown(self) -> None:
        self.storage.close()
        shutil.rmtree(self.folder, ignore_errors=True)


StorageAgainstMemory.TestCase.settings = settings(max_examples=40, stateful_step_count=20,
                                                  deadline=None)
test_storage_against_memory = StorageAgainstMemory.TestCase


# --------------------------------------------------------------------------- the simulated world


@pytest.mark.parametrize("name, ticks_max", [("crash-restart", 6000), ("crash-wipe", 5000)])
def test_the_world_on_sqlite_gives_the_same_trace_as_on_memory(tmp_path, name, ticks_max):
    scenario = load_scenario(LIBRARY / f"{name}.toml").with_overrides(ticks_max=ticks_max)
    memory = build_world(scenario).run()
    opened: list[SQLiteStorage] = []

    def sqlite_factory(instance: str) -> SQLiteStorage:
        # NORMAL: durability against power loss is not what this test is about.
        opened.append(SQLiteStorage(tmp_path / f"{instance}.db", f"chemtrace/{scenario.name}",
                                    synchronous="NORMAL"))
        return opened[-1]

    world = build_world(scenario, storage_factory=sqlite_factory)
    on_sqlite = world.run()
    for storage in opened:
        storage.close()
    assert on_sqlite.heights_committed > 3
    assert on_sqlite.trace_sha256 == memory.trace_sha256
    for nation in world.nations:  # and the files hold what the nodes saved
        with SQLiteStorage(tmp_path / f"{nation}.db") as reopened:
            assert reopened.blocks == world.storage[nation].blocks
            assert reopened.wal == world.storage[nation].wal
            # A node restarted on the file replays it (checking every app hash) to the same state.
            node = Node(world.identities[nation], world.genesis, VerifyCache(), reopened,
                        world.node_config, world.workload.new_chaincode())
            assert node.ledger.height == len(reopened.blocks)
            assert node.chaincode.state.root == world.nodes[nation].chaincode.state.root


# --------------------------------------------------------------------------- SIGKILL


CHILD = """
import sys
from consensus import Step, Vote, WalRecord
from nodes.live.sqlite_storage import SQLiteStorage
from scenarios.bench.storage import BENCH_CHAIN_ID, synthetic_chain

storage = SQLiteStorage(sys.argv[1], BENCH_CHAIN_ID)
for committed in synthetic_chain(2000, txs_per_block=1):
    h = committed.block.height
    for round_ in range(3):
        vote = Vote(Step.PREVOTE, h + 1, round_, None, "USA")
        storage.save_wal(WalRecord(h + 1, round_, Step.PREVOTE, None, None, -1, None, None, -1,
                                   (vote,)))
        print("wal", h + 1, round_, flush=True)
    storage.save_block(committed)
    print("block", h, flush=True)
"""


def test_sigkill_mid_stream_keeps_every_save_that_returned(tmp_path):
    path = tmp_path / "node.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True, cwd=ROOT)
    last_block, last_wal = 0, None
    try:
        for line in child.stdout:
            kind, *numbers = line.split()
            if kind == "block":
                last_block = int(numbers[0])
            else:
                last_wal = (int(numbers[0]), int(numbers[1]))
            if last_block >= 25:
                break
        child.send_signal(signal.SIGKILL)  # while it is still saving
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with SQLiteStorage(path, CHAIN) as storage:
        # Everything reported as saved is there; at most the one save in flight beyond it.
        assert last_block <= len(storage.blocks) <= last_block + 1
        assert storage.blocks == chain_of(len(storage.blocks), txs_per_block=1)
        assert storage.wal is not None
        assert (storage.wal.height, storage.wal.round) >= last_wal


def test_the_storage_benchmark_reports_both_modes(capsys):
    from scenarios.bench.storage import main
    assert main(["--blocks", "3", "--txs", "1", "--wal-saves", "2", "--replay-ticks",
                 "1500"]) == 0
    report = json.loads(capsys.readouterr().out)
    for mode in ("FULL", "NORMAL"):
        assert set(report[mode]) == {"save_wal_ms", "save_block_ms", "open_s"}
        assert report[mode]["save_wal_ms"] > 0
    replay = report["replay"]
    assert replay["blocks"] > 0 and replay["txs"] > 0 and replay["replay_s"] > 0
    with pytest.raises(SystemExit):
        main(["--blocks", "0"])


# --------------------------------------------------------------------------- a node on the file


def _prevotes(actions) -> list[tuple[int, bytes | None]]:
    from nodes.wire.messages import decode
    out = []
    for action in actions:
        if getattr(action, "kind", None) == "prevote":
            vote = decode(CHAIN, action.data)
            out.append((vote.round, vote.value_id))
    return out


def test_a_node_restarted_on_its_file_does_not_prevote_again_differently(tmp_path):
    """A non-proposer prevotes nil on its propose timeout, is killed and restarted on the same
    file, then receives the round's proposal: an amnesiac node would prevote for it (a second,
    conflicting prevote); one that read its write-ahead record must not."""
    genesis, identities = Genesis.simulated(CHAIN, [(n, 1) for n in ("USA", "MEX", "CAN", "CHN")],
                                            3)
    proposer = genesis.validators.proposer(1, 0)
    me = next(n for n in genesis.codes if n != proposer)
    verifier = VerifyCache()
    path = tmp_path / f"{me}.db"
    with SQLiteStorage(path, CHAIN) as storage:
        node = Node(identities[me], genesis, verifier, storage)
        node.start(0)
        first = node.on_timer(node.replica.next_deadline())
        assert set(_prevotes(first)) == {(0, None)}
    proposal = Node(identities[proposer], genesis, verifier).start(0)
    proposal_bytes = next(a.data for a in proposal if a.kind == "proposal")

    with SQLiteStorage(path, CHAIN) as storage:
        assert storage.wal is not None and storage.wal.height == 1
        restarted = Node(identities[me], genesis, VerifyCache(), storage)
        actions = restarted.start(1_000) + restarted.on_bytes(proposal_bytes, 1_001)
        assert [v for v in _prevotes(actions) if v != (0, None)] == []

    # The control: the same proposal makes a node with no record prevote for the block.
    fresh = Node(identities[me], genesis, VerifyCache(), MemoryStorage())
    actions = fresh.start(0) + fresh.on_bytes(proposal_bytes, 1)
    assert [v for v in _prevotes(actions) if v[1] is not None], actions
