"""The live runtime: one nation's `Node`, driven by the wall clock and an MQTT `Transport`.

Theory of operation
-------------------

`Node` is sans-I/O; `LiveRuntime` is the loop around it. One asyncio task owns the node and
calls it for exactly three things, one at a time:

- a message from a peer's `msg` or `to/<ME>` topic    -> `node.on_bytes(payload, now)`
- a batch of signed transactions on `submit/<ME>`      -> `node.submit_batch(txs, now)`
- the deadline of `node.next_deadline()` has passed    -> `node.on_timer(now)`

Consensus messages come first: each turn of the loop takes every waiting urgent message (up to
`URGENT_BURST_MAX`), then bulk ones (transaction gossip, submissions) for at most
`BULK_BUDGET_S`, then the timers, and yields. The slice is short because the MQTT client reads
one packet from its socket per turn of the event loop while it has nothing in flight (paho's
`loop_read`): a long turn would leave votes unread in the socket behind transaction batches.

It carries out the actions each call returns: `SendAll`/`SendTo` go into the transport's outbox
(transaction gossip in the bulk lane),
`Committed` is noted for the status. The node writes its write-ahead record and its blocks to
its storage *inside* those calls, before it returns the sends that depend on them, so by the
time a vote reaches the outbox it is on disk (persist before send).

Time is in ticks of `tick_ms` milliseconds since `epoch_s` (Unix time). Nodes on one chain use
the same epoch and tick length, so the block times they propose and the event times clients
stamp agree; a node restarted after a crash picks the clock up where the wall clock is.

The status (`<ME>/status`, retained) is JSON: height, round, tip and app hash, the commits since
the last status with their ticks, counters of dropped messages by reason (the node's gates, the
transport's and its inbound queue's; `inbound_dropped` has the queue's by reason and topic),
evidence of equivocation seen, and traffic counters. It goes out after commits (at most every
`STATUS_EVERY_S_MIN`) and every `status_every_s` regardless.

On SIGTERM (or `stop`), the runtime publishes a last status, waits a bounded time for the outbox
to drain, writes its ledger to `ledger.export` in the data folder (the cluster driver reads it),
closes the storage and disconnects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from nodes.chain.block import Block, CommittedBlock, certificate_from_wire, certificate_to_wire
from nodes.chain.codec import pack, unpack
from nodes.node import Committed, Node, SendAll, SendTo
from nodes.live.inbound import CLASS_NAMES
from nodes.live.transport import Transport
from nodes.wire.messages import MessageKind, TxBatch, WireError, decode

STATUS_EVERY_S = 1.0
STATUS_EVERY_S_MIN = 0.05
STATUS_COMMITS_MAX = 256
STATUS_EVIDENCE_MAX = 64
URGENT_BURST_MAX = 1024
BULK_BUDGET_S = 0.002
FLUSH_S_MAX = 3.0
# A signed state snapshot every this many heights, or once this many transactions were committed
# since the last, whichever comes first (and at a clean stop): a restart replays at most that
# many blocks and transactions, whatever the ledger's length (nodes/live/sqlite_storage.py).
SNAPSHOT_EVERY_HEIGHTS = 200
SNAPSHOT_EVERY_TXS = 50_000
LEDGER_EXPORT = "ledger.export"
EXPORT_RECORD_BYTES_MAX = 4 * 1024 * 1024

log = logging.getLogger("chemtrace.live")


@dataclass(frozen=True, slots=True)
class TickClock:
    """Ticks of `tick_ms` since `epoch_s`, from the wall clock (shared across processes)."""

    tick_ms: float
    epoch_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.tick_ms <= 60_000:
            raise ValueError("tick_ms must be above 0 and at most 60000")

    def now(self) -> int:
        return max(0, int((time.time() - self.epoch_s) * 1000.0 / self.tick_ms))

    def seconds(self, ticks: int) -> float:
        return ticks * self.tick_ms / 1000.0


class LiveRuntime:
    def __init__(self, node: Node, transport: Transport, clock: TickClock,
                 data_dir: Path | None = None, *, status_every_s: float = STATUS_EVERY_S,
                 snapshot_every: int = SNAPSHOT_EVERY_HEIGHTS,
                 snapshot_every_txs: int = SNAPSHOT_EVERY_TXS) -> None:
        if snapshot_every < 0:
            raise ValueError("snapshot_every must be 0 (never) or more heights")
        self.node = node
        self.transport = transport
        self.clock = clock
        self.data_dir = data_dir
        self.status_every_s = status_every_s
        self.stop = asyncio.Event()
        self.dropped: dict[str, int] = {}  # submissions the runtime itself rejects
        self._genesis_warned = 0  # peers named in the last genesis-mismatch log line
        self._commits: list[list] = []
        self._submitted: list = []  # transactions submitted this turn, pooled at its end
        self._status_at = 0.0
        self._now = 0
        self.started_at_ticks = 0
        self.started_height = node.ledger.height  # what the storage gave back at start
        self.snapshot_every = snapshot_every
        self.snapshot_every_txs = snapshot_every_txs
        self._txs_since_snapshot = 0
        self.snapshot_height = getattr(node, "restored_from", 0)  # the newest snapshot's
        self.snapshot_s_max = 0.0  # the longest a snapshot held the loop
        self.turn_s_max = 0.0  # the longest the loop worked without reading the network
        # The metrics hooks (nodes/live/metrics.py `NodeMetrics`: on_commit, on_turn), or None.
        self.metrics = None
        self._evidence_published = 0  # node.evidence records the statuses have carried

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        pump = asyncio.create_task(self.transport.run(), name=f"transport-{self.node.me}")
        try:
            await self._until_epoch()
            self._now = self.started_at_ticks = self.clock.now()
            self._act(self.node.start(self._now))
            self.transport.inbox.height = self.node.replica.height
            inbox, arrived = self.transport.inbox, self.transport.arrived
            while not self.stop.is_set():
                if inbox:
                    await asyncio.sleep(0)  # let the transport read and write meanwhile
                else:
                    arrived.clear()
                    try:
                        await asyncio.wait_for(arrived.wait(), self._wait_s(loop.time()))
                    except TimeoutError:
                        pass
                turn_started = loop.time()
                for _ in range(URGENT_BURST_MAX):
                    item = inbox.pop(urgent=True)
                    if item is None:
                        break
                    self._handle(item)
                budget_end = loop.time() + BULK_BUDGET_S
                while loop.time() < budget_end:
                    item = inbox.pop(urgent=False)
                    if item is None:
                        break
                    self._handle(item)
                if self._submitted:
                    # Every submission of this turn in one call: one gossip message, not one
                    # per client message.
                    txs, self._submitted = tuple(self._submitted), []
                    self._act(self.node.submit_batch(txs, self._now))
                self._now = max(self._now, self.clock.now())
                deadline = self.node.next_deadline()
                if deadline is not None and deadline <= self._now:
                    self._act(self.node.on_timer(self._now))
                if self.snapshot_due():
                    self._snapshot()
                turn_s = loop.time() - turn_started
                self.turn_s_max = max(self.turn_s_max, turn_s)
                if self.metrics is not None:
                    self.metrics.on_turn(turn_s)
                self._maybe_status(loop.time())
        finally:
            await self._shutdown(pump)

    async def _until_epoch(self) -> None:
        """Nodes started together get an epoch a little ahead: each connects and says it is
        up (a status), and consensus starts at tick 0 on every node at once. A proposal sent
        before its peers had subscribed would be lost, and the first height would wait for a
        timeout. A node restarted later finds the epoch past and starts at once."""
        if self.clock.epoch_s <= time.time():
            return
        try:
            await asyncio.wait_for(self.transport.connected.wait(),
                                   self.clock.epoch_s - time.time())
            self.publish_status()
            await asyncio.wait_for(self.stop.wait(), max(0.0, self.clock.epoch_s - time.time()))
        except TimeoutError:
            pass  # the epoch has come, connected or not: the outbox keeps what is sent

    def _wait_s(self, loop_now: float) -> float:
        status_in = self._status_at + self.status_every_s - loop_now
        if self._commits:
            status_in = min(status_in, self._status_at + STATUS_EVERY_S_MIN - loop_now)
        deadline = self.node.next_deadline()
        timer_in = (self.clock.seconds(deadline - self.clock.now()) if deadline is not None
                    else self.status_every_s)
        # A zero timeout would never let wait_for see an arrival; 1 ms is below any tick.
        return max(0.001, min(status_in, timer_in, self.status_every_s))

    def _handle(self, item) -> None:
        self._now = max(self._now, self.clock.now())
        if item.channel == "submit":
            self._on_submit(item.payload)
        else:
            self._act(self.node.on_bytes(item.payload, self._now))
            # What the inbox sorts first from now on: consensus of this height.
            self.transport.inbox.height = self.node.replica.height

    def _on_submit(self, payload: bytes) -> None:
        try:
            message = decode(self.node.chain_id, payload)
        except WireError:
            self._count("malformed_submit")
            return
        if not isinstance(message, TxBatch):
            self._count("bad_submit")
            return
        self._submitted.extend(message.txs)

    def _act(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, SendAll):
                self.transport.send_all(action.data, bulk=action.kind == MessageKind.TXS)
            elif isinstance(action, SendTo):
                self.transport.send_to(action.dst, action.data)
            elif isinstance(action, Committed):
                block = action.committed.block
                if self.metrics is not None:
                    self.metrics.on_commit(block.time_ticks, self._now, time.monotonic())
                self._txs_since_snapshot += len(block.txs)
                if len(self._commits) < STATUS_COMMITS_MAX:
                    self._commits.append([block.height, self._now, action.via,
                                          block.block_id.hex()])
                else:
                    # A status only says that commits were left out; heights stay exact.
                    self._commits[-1] = [block.height, self._now, action.via,
                                         block.block_id.hex()]
            # Dropped and Misbehaviour are already counted in node.dropped / node.evidence.
        mismatched = self.node.genesis_mismatch
        if len(mismatched) != self._genesis_warned:
            self._genesis_warned = len(mismatched)
            log.error("%s: peers %s sent blocks of height 1 that do not start from this "
                      "node's genesis (hash %s): their genesis differs from ours (a key, a power "
                      "or the chain id); compare the genesis files and restart with the chain's "
                      "own", self.node.me, ", ".join(sorted(mismatched)),
                      self.node.genesis.hash.hex()[:16])

    def snapshot_due(self) -> bool:
        """Whether a snapshot is due: `snapshot_every` heights, or `snapshot_every_txs`
        committed transactions, since the last (never when `snapshot_every` is 0)."""
        return bool(self.snapshot_every) and (
            self.node.ledger.height - self.snapshot_height >= self.snapshot_every
            or self._txs_since_snapshot >= self.snapshot_every_txs)

    def _snapshot(self) -> None:
        """Have the store keep a signed snapshot of the state at the ledger's height. A store
        that cannot write stops the node, as for blocks (StorageError)."""
        started = time.perf_counter()
        height = self.node.save_snapshot()
        if height:
            self.snapshot_height = height
            self._txs_since_snapshot = 0
            self.snapshot_s_max = max(self.snapshot_s_max, time.perf_counter() - started)

    def _count(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    # ------------------------------------------------------------ status

    def _maybe_status(self, loop_now: float) -> None:
        due = self._status_at + (STATUS_EVERY_S_MIN if self._commits else self.status_every_s)
        if loop_now >= due:
            self.publish_status()
            self._status_at = loop_now

    def status(self) -> dict:
        node, ledger = self.node, self.node.ledger
        dropped: dict[str, int] = {}
        inbox = self.transport.inbox
        for counters in (node.dropped, self.transport.dropped, self.dropped,
                         inbox.dropped_totals()):
            for reason, count in counters.items():
                dropped[reason] = dropped.get(reason, 0) + count
        tip = ledger.get(ledger.height)
        return {
            "nation": node.me,
            "pid": os.getpid(),
            "tick": self._now,
            "started_tick": self.started_at_ticks,
            "started_height": self.started_height,
            "height": ledger.height,
            "round": node.replica.round,
            "step": node.replica.step.name.lower(),
            "locked_round": node.replica.locked_round,
            "backlog": {**inbox.lengths(), "inbox_bytes": inbox.bytes,
                        "outbox": self.transport.outbox_len(), "held": self.transport.held},
            "turn_ms_max": round(self.turn_s_max * 1000, 1),
            "tip": tip.block.block_id.hex() if tip is not None else None,
            "app_hash": node.chaincode.state.root.hex(),
            "commits": self._commits,
            "dropped": dict(sorted(dropped.items())),
            "evidence": [_evidence_record(e) for e in node.evidence[:STATUS_EVIDENCE_MAX]],
            "evidence_count": len(node.evidence),  # the list above stops at 64
            # the records no status has carried yet (up to 64 a status): a reader that keeps
            # every status's gets them all
            "evidence_new": [_evidence_record(e) for e in node.evidence[
                self._evidence_published:self._evidence_published + STATUS_EVIDENCE_MAX]],
            "mempool": len(node.mempool),
            "published": self.transport.published,
            "published_by_qos": list(self.transport.published_by_qos),
            "received_by_class": dict(zip(CLASS_NAMES, inbox.received_by_class)),
            "inbound_dropped": {reason: dict(sorted(by_topic.items()))
                                for reason, by_topic in sorted(inbox.dropped.items())},
            "bytes_published": self.transport.bytes_published,
            "received": self.transport.received,
            "connections": self.transport.connections,
            "reconnects": self.transport.reconnects,
            "resends": node.resends,
            "partition_drop_from": sorted(self.transport.drop_from),
            "genesis_mismatch": dict(sorted(node.genesis_mismatch.items())),
            "snapshot": {"height": self.snapshot_height,
                         "restored_from": getattr(node, "restored_from", 0),
                         "rejected": getattr(node.storage, "snapshot_rejected", None),
                         "ms_max": round(self.snapshot_s_max * 1000, 1)},
        }

    def publish_status(self) -> None:
        status = self.status()
        self.transport.publish_status(json.dumps(status, sort_keys=True).encode())
        self._commits = []
        self._evidence_published += len(status["evidence_new"])

    # ------------------------------------------------------------ shutdown

    async def _shutdown(self, pump: asyncio.Task) -> None:
        try:
            self.publish_status()
            if self.transport.connected.is_set():
                await self.transport.flush(FLUSH_S_MAX)
            if self.snapshot_every and self.node.ledger.height > self.snapshot_height:
                self._snapshot()
            if self.data_dir is not None:
                export_ledger(self.node, self.data_dir / LEDGER_EXPORT)
        finally:
            pump.cancel()
            try:
                await pump
            except asyncio.CancelledError:
                pass
            close = getattr(self.node.storage, "close", None)
            if close is not None:
                close()


def _evidence_record(e) -> dict:
    """One equivocation a node recorded, as its status carries it."""
    return {"nation": e.voter, "height": e.first.height, "round": e.first.round,
            "step": getattr(getattr(e.first, "step", None), "name", "PROPOSE").lower()}


# ---------------------------------------------------------------- the ledger export


def export_ledger(node: Node, path: Path) -> int:
    """Write every committed block with its certificate: records of a 4-byte big-endian length
    and the msgpack of [block_bytes, certificate]. Written to a temporary name and renamed, so a
    reader never sees half a file. Returns the number of blocks."""
    tmp = path.with_name(path.name + ".tmp")
    # A ledger restored from a snapshot reads its old blocks from the store: their bytes as
    # stored, not decoded (nodes/live/sqlite_storage.py StoredBlocks.raw).
    raw = getattr(node.ledger.blocks, "raw", None)
    with tmp.open("wb") as out:
        for height in range(1, node.ledger.height + 1):
            if raw is not None:
                data, certificate = raw(height - 1)
            else:
                committed = node.ledger.get(height)
                data, certificate = committed.block.encoded, committed.certificate
            record = pack((data, certificate_to_wire(certificate)))
            out.write(struct.pack(">I", len(record)))
            out.write(record)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return node.ledger.height


def read_ledger_export(path: Path, chain_id: str) -> list[CommittedBlock]:
    """The blocks of an `export_ledger` file, decoded with the wire's limits. Raises ValueError
    naming the file and the record when it is damaged."""
    data = Path(path).read_bytes()
    blocks: list[CommittedBlock] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {offset}; "
                             f"stop the node with SIGTERM to write it again")
        (size,) = struct.unpack_from(">I", data, offset)
        offset += 4
        if size > EXPORT_RECORD_BYTES_MAX or offset + size > len(data):
            raise ValueError(f"{path}: record {len(blocks) + 1} is damaged (size {size})")
        raw = unpack(data[offset:offset + size], bytes_max=EXPORT_RECORD_BYTES_MAX)
        offset += size
        if not isinstance(raw, tuple) or len(raw) != 2 or not isinstance(raw[0], bytes):
            raise ValueError(f"{path}: record {len(blocks) + 1} is not [block, certificate]")
        block = Block.decode(chain_id, raw[0])
        blocks.append(CommittedBlock(block, certificate_from_wire(block.height, block.block_id,
                                                                  raw[1])))
    return blocks
