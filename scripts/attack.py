"""A hostile member's campaign against a live chain, rerunnable by anyone: `python scripts/attack.py`.

It starts a private Mosquitto on a free loopback port (the generated configuration) and three
`chemtrace node` processes, MEX, CAN and CHN, which hold more than 2/3 of the power. USA's login
is the attacker's, as a member nation that turned hostile would have it (one valid login,
loopback only). Campaign after campaign, each bounded, it tries:

    junk          random byte strings on USA's own topic
    oversized     payloads over the nodes' 12 MiB message limit
    forged votes  prevotes in MEX's name signed with USA's key
    replays       genuine messages of MEX and CAN, published again by USA
    far ahead     USA's validly signed proposals for rounds up to 1,000 ahead, 64 KiB blocks
    sync flood    USA's validly signed sync requests from height 1, each with its own nonce
    takeover      USA's login asking for MEX's client ids
    cross-publish USA's login publishing on MEX's topic
    damaged store CAN stopped, one certificate of its store cut to one signer, CAN started
    SIGKILL       MEX killed and restarted

and after each, waits for the chain to commit again. The columns:

    tried            hostile messages (or actions) sent
    rejected         of those, how many the target refused, by its own counters (the growth of
                     CAN's status `dropped` in the campaign's reasons, `REASONS`, for the
                     message campaigns; the broker's silence for takeover and cross-publish;
                     exit 2 for the damaged store). Far-ahead proposals a node holds, four a
                     sender, are not rejected: they wait unvalidated and are forgotten once
                     their height is decided.
    crashed          node processes that died other than by our hand
    hung             no commit on some running node within `HUNG_S` after the campaign
    accepted wrongly blocks, committed during the campaign, that fail the independent check
    lost             blocks a node reported committed (its status) missing from its ledger

"Accepted wrongly" and "lost" come from the nodes' exported ledgers at the end, checked here
independently of the nodes' own counters: every block's hash link from the genesis, its
certificate (more than 2/3 of the power in valid precommits, a fresh signature check each), every
transaction signature, agreement between the nations at every height, and every block each node
reported in its status. Below the table, the messages the broker itself dropped over the whole
run (queue or inflight limits), from its `$SYS` counter, which the operator's login may read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consensus import Proposal, Step, Vote  # noqa: E402
from nodes.chain.block import Block  # noqa: E402
from nodes.chain.genesis import Genesis  # noqa: E402
from nodes.chain.identity import VerifyCache  # noqa: E402
from nodes.chain.ledger import certificate_error  # noqa: E402
from nodes.chain.tx import Transaction  # noqa: E402
from nodes.live.brokerconf import (  # noqa: E402
    SYS_DROPPED_TOPIC,
    SYS_INTERVAL_S,
    free_port,
    spawn_broker,
    write_broker_config,
)
from nodes.live.keyfile import key_path, make_key_dir, write_key  # noqa: E402
from nodes.live.runtime import LEDGER_EXPORT, read_ledger_export  # noqa: E402
from nodes.live.transport import Topics  # noqa: E402
from nodes.wire.messages import (  # noqa: E402
    SyncRequest,
    encode_proposal,
    encode_sync_request,
    encode_vote,
    proposal_signed_bytes,
    sync_request_sign_bytes,
    vote_signed_bytes,
)
from nodes.wire.records import decode_certificate, encode_certificate  # noqa: E402

CHAIN_ID = "attack-campaign"
NATIONS = ("USA", "MEX", "CAN", "CHN")
ATTACKER = "USA"
TARGET = "CAN"
HUNG_S = 20.0
FAR_BATCH = 20
START_S = 30.0
SEED = 17
COUNTS = {"junk": 3000, "oversized": 3, "forged": 300, "replays": 200, "far_ahead": 240,
          "sync": 300, "takeover": 10, "cross": 100, "kills": 2}
# The drop reasons each message campaign should produce (the inbound queue's among them).
INBOUND = ("rate_limited", "sender_share", "queue_full", "evicted")
REASONS = {"junk": ("malformed", *INBOUND), "oversized": ("oversized",),
           "forged votes": ("bad_signature", *INBOUND), "replays": ("duplicate", "own_message"),
           "far ahead": ("ahead_full",), "sync flood": ("sync_rate_limited",)}
QUICK = {"junk": 600, "oversized": 1, "forged": 60, "replays": 40, "far_ahead": 60,
         "sync": 60, "takeover": 3, "cross": 20, "kills": 1}


@dataclass
class Row:
    name: str
    tried: int = 0
    rejected: int | str = 0
    crashed: int = 0
    hung: int = 0
    accepted_wrongly: int = 0
    lost: int = 0
    heights: tuple[int, int] = (0, 0)  # heights committed while it ran (min, max)


@dataclass
class Cluster:
    out: Path
    genesis: Genesis
    identities: dict
    broker: object
    procs: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    reported: dict = field(default_factory=dict)  # nation -> {height: block id hex}
    expected_exit: set = field(default_factory=set)
    crashed: int = 0
    broker_dropped: int | None = None  # the broker's $SYS counter, as last published

    def url(self, user: str) -> str:
        return self.broker.config.url(user)

    def start(self, nation: str) -> None:
        data = self.out / "nodes" / nation
        data.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-c",
                "from scenarios.cli.main import main; raise SystemExit(main())", "node",
                "--genesis", str(self.out / "genesis.json"),
                "--key", str(key_path(self.out / "keys", nation)),
                "--broker", self.url(nation), "--data", str(data), "--sync", "NORMAL",
                "--parent-pid", str(os.getpid())]
        with (data / "node.log").open("ab") as log:
            self.procs[nation] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL, cwd=ROOT,
                                                  start_new_session=True)
        self.expected_exit.discard(nation)

    def stop(self, nation: str, sig: int = signal.SIGTERM) -> int:
        proc = self.procs[nation]
        self.expected_exit.add(nation)
        proc.send_signal(sig)
        return proc.wait(30)

    def check_crashes(self) -> int:
        died = 0
        for nation, proc in self.procs.items():
            if proc.poll() is not None and nation not in self.expected_exit:
                self.expected_exit.add(nation)
                died += 1
        self.crashed += died
        return died

    def running(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is None]

    def heights(self) -> dict[str, int]:
        return {n: self.status.get(n, {}).get("height", 0) for n in self.running()}

    def dropped(self, nation: str, reasons: tuple[str, ...]) -> int:
        counters = self.status.get(nation, {}).get("dropped", {})
        return sum(counters.get(reason, 0) for reason in reasons)


async def _watch(cluster: Cluster, client: aiomqtt.Client, topics: Topics) -> None:
    async for message in client.messages:
        if message.topic.matches(SYS_DROPPED_TOPIC):
            cluster.broker_dropped = int(message.payload)
            continue
        for nation in NATIONS:
            if message.topic.matches(topics.status(nation)):
                status = json.loads(message.payload)
                cluster.status[nation] = status
                seen = cluster.reported.setdefault(nation, {})
                for height, _, _, block_id in status.get("commits", []):
                    seen[height] = block_id


async def _until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _settle(cluster: Cluster, row: Row, before: dict[str, int]) -> None:
    """After a campaign: every running node commits two more heights within HUNG_S, or the
    campaign hung it; a node that died by itself crashed."""
    await asyncio.sleep(0.5)
    ok = await _until(lambda: all(cluster.heights().get(n, 0) >= before.get(n, 0) + 2
                                  for n in cluster.running()), HUNG_S)
    row.hung += 0 if ok else 1
    row.crashed += cluster.check_crashes()
    heights = cluster.heights()
    row.heights = (min(before.values(), default=0) + 1, max(heights.values(), default=0))


def _current_height(cluster: Cluster) -> int:
    return max(cluster.heights().values(), default=0) + 1


def _attacker(cluster: Cluster) -> aiomqtt.Client:
    """A session of USA's login (the broker makes its client id "USA", whatever it asks for:
    one session at a time)."""
    cfg = cluster.broker.config
    return aiomqtt.Client(cfg.host, cfg.port, username=ATTACKER,
                          password=cfg.credentials[ATTACKER], identifier=ATTACKER)


async def _messages(cluster: Cluster, topics: Topics, row: Row, payloads) -> None:
    reasons = REASONS[row.name]
    before_drops = cluster.dropped(TARGET, reasons)
    before = cluster.heights()
    async with _attacker(cluster) as usa:
        for payload in payloads:
            await usa.publish(topics.msg(ATTACKER), payload, qos=0)
            row.tried += 1
    await _settle(cluster, row, before)
    await asyncio.sleep(1.2)  # a status after the last drop
    row.rejected = min(row.tried, cluster.dropped(TARGET, reasons) - before_drops)


def _vote(cluster: Cluster, height: int, i: int) -> bytes:
    usa = cluster.identities[ATTACKER]
    value_id = os.urandom(32)  # each forgery its own bytes, not a duplicate of the last
    unsigned = Vote(Step.PREVOTE, height, i % 5, value_id, "MEX")
    return encode_vote(Vote(Step.PREVOTE, height, i % 5, value_id, "MEX",
                            usa.sign(vote_signed_bytes(CHAIN_ID, unsigned))))


def _far_proposals(cluster: Cluster, count: int):
    """USA's proposals for the next height (so they are still ahead when they arrive), at
    rounds 17 to 1,000 where USA is the proposer, made in batches of FAR_BATCH just before
    they are sent (the chain commits several heights a second)."""
    usa = cluster.identities[ATTACKER]
    txs = [tuple(Transaction.create(CHAIN_ID, usa, "note", n * 10 + i, os.urandom(16_000))
                 for i in range(4)) for n in range(count)]
    for start in range(0, count, FAR_BATCH):
        yield from _far_batch(cluster, txs[start:start + FAR_BATCH], 17 + start * 4)


def _far_batch(cluster: Cluster, txs: list, first_round: int) -> list[bytes]:
    usa, g = cluster.identities[ATTACKER], cluster.genesis
    height = _current_height(cluster) + 1
    prev = bytes(32)  # never checked: a held proposal is not validated
    out, round_ = [], first_round
    while len(out) < len(txs) and round_ <= 1000:
        if g.validators.proposer(height, round_) == ATTACKER:
            block = Block.build(height, prev, ATTACKER, 0, txs[len(out)])
            unsigned = Proposal(height, round_, block, block.block_id, -1, ATTACKER)
            out.append(encode_proposal(Proposal(
                height, round_, block, block.block_id, -1, ATTACKER,
                usa.sign(proposal_signed_bytes(CHAIN_ID, unsigned)))))
        round_ += 1
    return out


def _sync_requests(cluster: Cluster, count: int) -> list[bytes]:
    usa = cluster.identities[ATTACKER]
    return [encode_sync_request(SyncRequest(ATTACKER, 1, nonce, usa.sign(
        sync_request_sign_bytes(CHAIN_ID, ATTACKER, 1, nonce)))) for nonce in range(count)]


async def _takeover(cluster: Cluster, count: int, row: Row) -> None:
    cfg = cluster.broker.config
    before = cluster.heights()
    connections = cluster.status["MEX"]["connections"]
    for i in range(count):
        identifier = ("MEX", "chemtrace-MEX")[i % 2]
        try:
            async with aiomqtt.Client(cfg.host, cfg.port, username=ATTACKER,
                                      password=cfg.credentials[ATTACKER],
                                      identifier=identifier):
                await asyncio.sleep(0.2)
        except aiomqtt.MqttError:
            pass
        row.tried += 1
    await _settle(cluster, row, before)
    await asyncio.sleep(1.2)
    knocked_off = cluster.status["MEX"]["connections"] - connections
    row.rejected = row.tried if knocked_off == 0 else 0


async def _cross_publish(cluster: Cluster, op: aiomqtt.Client, topics: Topics, count: int,
                         row: Row) -> None:
    before = cluster.heights()
    marker = os.urandom(8).hex().encode()
    seen = 0

    async def listen() -> None:
        nonlocal seen
        async for message in op.messages:
            if marker in bytes(message.payload):
                seen += 1

    await op.subscribe(topics.msg("MEX"), qos=1)
    listener = asyncio.create_task(listen())
    async with _attacker(cluster) as usa:
        for i in range(count):
            await usa.publish(topics.msg("MEX"), marker + b" %d" % i, qos=1)
            row.tried += 1
    await _settle(cluster, row, before)
    listener.cancel()
    await op.unsubscribe(topics.msg("MEX"))
    row.rejected = row.tried - seen


async def _damaged_store(cluster: Cluster, row: Row) -> None:
    before = cluster.heights()
    cluster.stop(TARGET)
    store = cluster.out / "nodes" / TARGET / "node.sqlite"
    backup = store.with_name("node.sqlite.backup")
    shutil.copyfile(store, backup)
    db = sqlite3.connect(store)
    height, block_id, raw = db.execute("SELECT height, block_id, certificate FROM blocks "
                                       "ORDER BY height DESC LIMIT 1 OFFSET 1").fetchone()
    votes = decode_certificate(height, block_id, raw)
    db.execute("UPDATE blocks SET certificate = ? WHERE height = ?",
               (encode_certificate(votes[:1]), height))
    db.commit()
    db.close()
    cluster.start(TARGET)
    row.tried = 1
    code = cluster.procs[TARGET].wait(60)
    cluster.expected_exit.add(TARGET)
    row.rejected = 1 if code == 2 else 0
    row.crashed += 0 if code == 2 else 1
    shutil.copyfile(backup, store)  # what an operator does: restore, start again
    cluster.start(TARGET)
    await _settle(cluster, row, before)


async def _kills(cluster: Cluster, count: int, row: Row) -> None:
    for _ in range(count):
        before = cluster.heights()
        cluster.stop("MEX", signal.SIGKILL)
        await asyncio.sleep(1.0)
        cluster.start("MEX")
        row.tried += 1
        await _settle(cluster, row, before)
    row.rejected = "-"


def check_ledgers(cluster: Cluster, rows: list[Row]) -> dict:
    """The independent check of every exported ledger; faults attributed to the campaign that
    ran when their height was committed."""
    g = cluster.genesis
    keys = {n.code: n.public_key for n in g.nations}
    by_height: dict[int, set[str]] = {}
    bad: list[int] = []
    lost: list[int] = []
    blocks_checked = 0
    for nation in cluster.procs:
        blocks = read_ledger_export(cluster.out / "nodes" / nation / LEDGER_EXPORT, CHAIN_ID)
        verifier = VerifyCache(entries_max=0)
        prev = g.hash
        for index, committed in enumerate(blocks):
            block = committed.block
            fault = (block.height != index + 1 or block.prev_hash != prev
                     or certificate_error(CHAIN_ID, g.validators, keys, verifier, block,
                                          committed.certificate) is not None
                     or not all(tx.signer in keys and verifier.verify_tx(keys[tx.signer],
                                                                        CHAIN_ID, tx)
                                for tx in block.txs))
            if fault:
                bad.append(block.height)
            by_height.setdefault(block.height, set()).add(block.block_id.hex())
            prev = block.block_id
            blocks_checked += 1
        ledger = {c.block.height: c.block.block_id.hex() for c in blocks}
        lost += [h for h, block_id in cluster.reported.get(nation, {}).items()
                 if ledger.get(h) != block_id]
    forks = [h for h, ids in by_height.items() if len(ids) > 1]
    for row in rows:
        low, high = row.heights
        row.accepted_wrongly = sum(low <= h <= high for h in bad + forks)
        row.lost = sum(low <= h <= high for h in lost)
    return {"blocks_checked": blocks_checked, "heights": max(by_height, default=0),
            "bad": len(bad), "forks": len(forks), "lost": len(lost),
            "reported": sum(len(v) for v in cluster.reported.values())}


async def campaign(out: Path, counts: dict) -> tuple[list[Row], dict]:
    genesis, identities = Genesis.simulated(CHAIN_ID, [(n, 1) for n in NATIONS], SEED)
    keys = make_key_dir(out / "keys")
    for nation, identity in identities.items():
        write_key(key_path(keys, nation), nation, identity)
    (out / "genesis.json").write_text(genesis.to_json() + "\n")
    broker = spawn_broker(write_broker_config(genesis, out / "broker", port=free_port()))
    cluster = Cluster(out, genesis, identities, broker)
    topics = Topics(CHAIN_ID)
    cfg = broker.config
    rows: list[Row] = []
    try:
        for nation in NATIONS:
            if nation != ATTACKER:
                cluster.start(nation)
        async with aiomqtt.Client(cfg.host, cfg.port, username="operator",
                                  password=cfg.credentials["operator"],
                                  identifier="operator") as op:
            await op.subscribe([(topics.status(n), 1) for n in NATIONS]
                               + [(SYS_DROPPED_TOPIC, 0)])
            watcher = asyncio.create_task(_watch(cluster, op, topics))
            if not await _until(lambda: all(cluster.heights().get(n, 0) >= 3
                                            for n in NATIONS if n != ATTACKER), START_S):
                raise SystemExit(f"the chain did not start; logs in {out / 'nodes'}")
            genuine: list[bytes] = []
            async with _attacker(cluster) as usa:
                await usa.subscribe([(topics.msg("MEX"), 1), (topics.msg("CAN"), 1)])

                async def capture() -> None:
                    async for message in usa.messages:
                        if len(genuine) < counts["replays"]:
                            genuine.append(bytes(message.payload))

                capturing = asyncio.create_task(capture())
                await _until(lambda: len(genuine) >= counts["replays"], 30)
                capturing.cancel()

            plan = [
                ("junk", lambda: [os.urandom(50 + i % 2000) for i in range(counts["junk"])]),
                ("oversized", lambda: [os.urandom(12 * 1024 * 1024 + 1)
                                       for _ in range(counts["oversized"])]),
                ("forged votes", lambda: [_vote(cluster, _current_height(cluster), i)
                                          for i in range(counts["forged"])]),
                ("replays", lambda: list(genuine)),
                ("far ahead", lambda: _far_proposals(cluster, counts["far_ahead"])),
                ("sync flood", lambda: _sync_requests(cluster, counts["sync"])),
            ]
            for name, make in plan:
                row = Row(name)
                rows.append(row)
                await _messages(cluster, topics, row, make())
                print(f"  {name}: {row}", file=sys.stderr)
            row = Row("takeover")
            rows.append(row)
            await _takeover(cluster, counts["takeover"], row)
            row = Row("cross-publish")
            rows.append(row)
            await _cross_publish(cluster, op, topics, counts["cross"], row)
            row = Row("damaged store")
            rows.append(row)
            await _damaged_store(cluster, row)
            row = Row("SIGKILL")
            rows.append(row)
            await _kills(cluster, counts["kills"], row)
            for row in rows[-4:]:
                print(f"  {row.name}: {row}", file=sys.stderr)
            await asyncio.sleep(SYS_INTERVAL_S + 0.5)  # the last statuses and $SYS counters
            watcher.cancel()
        for nation in list(cluster.running()):
            cluster.stop(nation)
        totals = check_ledgers(cluster, rows)
        totals["broker_dropped"] = cluster.broker_dropped
    finally:
        for nation in cluster.running():
            cluster.stop(nation, signal.SIGKILL)
        broker.stop()
    return rows, totals


def table(rows: list[Row], totals: dict) -> str:
    head = ("campaign", "tried", "rejected", "crashed", "hung", "accepted wrongly", "lost")
    body = [(r.name, f"{r.tried:,}", f"{r.rejected:,}" if isinstance(r.rejected, int)
             else r.rejected, str(r.crashed), str(r.hung), str(r.accepted_wrongly), str(r.lost))
            for r in rows]
    widths = [max(len(x) for x in column) for column in zip(head, *body)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |"
             for line in (head, *body)]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines.append("")
    lines.append(f"ledgers checked independently: {totals['blocks_checked']:,} blocks of 3 "
                 f"nations up to height {totals['heights']:,}; {totals['bad']} failing, "
                 f"{totals['forks']} heights with two blocks, {totals['lost']} of "
                 f"{totals['reported']:,} reported commits missing")
    lines.append(f"broker: {totals['broker_dropped']} messages dropped in all ($SYS "
                 f"{SYS_DROPPED_TOPIC})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for keys, broker, node data and logs "
                                                 "(default: a new temporary folder)")
    parser.add_argument("--quick", action="store_true", help="smaller campaigns")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="chemtrace-attack-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rows, totals = asyncio.run(campaign(out, QUICK if args.quick else COUNTS))
    print(table(rows, totals))
    print(f"\n{time.monotonic() - started:.1f} s; keys, broker and node logs in {out}")
    failed = any(r.crashed or r.hung or r.accepted_wrongly or r.lost for r in rows)
    return 1 if failed or totals["bad"] or totals["forks"] or totals["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
