"""Oracles: the properties a run must keep, checked as blocks are committed.

Safety (checked online, on every commit by an honest nation):
- agreement: no two honest nations commit different blocks at one height;
- validity: every committed transaction is signed by a genesis nation, and every committed block
  carries a certificate of more than 2/3 of the power, names a genesis nation as proposer,
  holds no transaction twice, is no earlier than the block below it, and its app_hash is the
  state its committer had before applying it (the ledger itself refuses a block at the wrong
  height or on the wrong previous hash);
- integrity: no transaction is committed twice on one nation's chain.

Liveness (judged at the end): the nations that are up and honest commit a height above the
highest height any honest nation had at the last fault's end (GST), within `liveness_ticks_max`
ticks of GST, and they are still committing in the run's last `liveness_ticks_max` ticks. When
every fault is permanent, GST is tick 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nodes import CommittedBlock, Genesis, VerifyCache, certificate_error

VIOLATIONS_MAX = 1000


@dataclass
class SafetyOracle:
    genesis: Genesis
    violations: list[dict] = field(default_factory=list)
    canonical: dict[int, bytes] = field(default_factory=dict)  # height -> block id
    first_committer: dict[int, str] = field(default_factory=dict)
    checked_blocks: set[bytes] = field(default_factory=set)
    # Integrity, computed once per (chain, block): tx id -> every (height, block id) it was
    # committed at on any nation's chain, each nation's chain as block ids by height, and the
    # repeats found for (previous block id, block id), a pure function of the two since the
    # previous block pins the whole chain below. 193 nations cost one index, not 193.
    tx_places: dict[bytes, tuple[tuple[int, bytes], ...]] = field(default_factory=dict)
    chains: dict[str, list[bytes]] = field(default_factory=dict)
    repeats: dict[tuple[bytes, bytes], list[tuple[str, int]]] = field(default_factory=dict)
    times: dict[int, int] = field(default_factory=dict)  # height -> first committed time_ticks

    # The process's shared VerifyCache (World passes it when Speedups.verify_cache is on), or
    # None for a private one. Sharing keeps "each signature checked once per process": the
    # verdicts in it are pynacl's own (a node can only ask, never write one), keyed by
    # everything they depend on. A private cache checks every committed tx a second time.
    verifier: VerifyCache | None = None

    def __post_init__(self) -> None:
        self._keys = {n.code: n.public_key for n in self.genesis.nations}
        self._verifier = self.verifier if self.verifier is not None else VerifyCache()

    def on_commit(self, nation: str, committed: CommittedBlock, tick: int,
                  root_before: bytes | None = None) -> list[dict]:
        """Check one honest nation's commit; `root_before` is its application's state root
        before it applied the block (None: not known, not checked)."""
        found: list[dict] = []
        block = committed.block
        height = block.height
        known = self.canonical.get(height)
        if known is None:
            self.canonical[height] = block.block_id
            self.first_committer[height] = nation
        elif known != block.block_id:
            found.append({"kind": "agreement", "height": height, "tick": tick,
                          "nations": [self.first_committer[height], nation],
                          "blocks": [known.hex(), block.block_id.hex()]})
        if block.block_id not in self.checked_blocks:
            self.checked_blocks.add(block.block_id)
            found.extend(self._validity(committed, tick))
            if root_before is not None and block.app_hash != root_before:
                found.append({"kind": "validity", "height": height, "tick": tick,
                              "reason": "app_hash is not the state before the block",
                              "nation": nation})
            below = self.times.get(height - 1)
            if below is not None and block.time_ticks < below:
                found.append({"kind": "validity", "height": height, "tick": tick,
                              "reason": f"time {block.time_ticks} is before the block below "
                                        f"({below})"})
            self.times.setdefault(height, block.time_ticks)
        # A nation that lost its disk (crash with wipe) commits the same blocks again at the
        # same heights: its chain is cut back and regrown, and that is not a repeat.
        chain = self.chains.setdefault(nation, [])
        del chain[height - 1:]
        if len(chain) == height - 1:
            chain.append(block.block_id)
        key = (block.prev_hash, block.block_id)
        repeats = self.repeats.get(key)
        if repeats is None:
            repeats = self.repeats[key] = self._repeats(chain, block)
        for tx_hex, first in repeats:
            found.append({"kind": "integrity", "height": height, "tick": tick,
                          "nation": nation, "tx": tx_hex, "first_height": first})
        room = VIOLATIONS_MAX - len(self.violations)
        self.violations.extend(found[:max(0, room)])
        return found

    def _repeats(self, chain: list[bytes], block) -> list[tuple[str, int]]:
        """(tx id, the lowest height it has on `chain`) for each tx of `block` that `chain`
        (which ends with `block`) already holds at another height."""
        height, place = block.height, (block.height, block.block_id)
        out = []
        for tx in block.txs:
            known = self.tx_places.get(tx.tx_id, ())
            first = min((h for h, b in known if h <= len(chain) and chain[h - 1] == b),
                        default=height)
            if first != height:
                out.append((tx.tx_id.hex(), first))
            if place not in known:
                self.tx_places[tx.tx_id] = known + (place,)
        return out

    def _validity(self, committed: CommittedBlock, tick: int) -> list[dict]:
        block = committed.block
        out = []
        error = certificate_error(self.genesis.chain_id, self.genesis.validators, self._keys,
                                  self._verifier, block, committed.certificate)
        if error is not None:
            out.append({"kind": "validity", "height": block.height, "tick": tick,
                        "reason": f"certificate: {error}"})
        if block.proposer not in self._keys:
            out.append({"kind": "validity", "height": block.height, "tick": tick,
                        "reason": f"proposer {block.proposer!r} is not a genesis nation"})
        ids = [tx.tx_id for tx in block.txs]
        if len(set(ids)) != len(ids):
            out.append({"kind": "validity", "height": block.height, "tick": tick,
                        "reason": "a transaction appears twice in the block"})
        for tx in block.txs:
            key = self._keys.get(tx.signer)
            if key is None or not self._verifier.verify_tx(key, self.genesis.chain_id, tx):
                out.append({"kind": "validity", "height": block.height, "tick": tick,
                            "reason": "transaction without a valid signature",
                            "tx": tx.tx_id.hex(), "signer": tx.signer})
        return out


def judge_liveness(commits: dict[str, list[tuple[int, int]]], correct: list[str], gst_tick: int,
                   bound_ticks: int, ticks_run: int) -> tuple[bool, str]:
    """(liveness_ok, explanation) from each nation's list of (tick, height) commits."""
    if not correct:
        return False, "no nation is both up and honest at the end"
    height_at_gst = 0
    for history in commits.values():
        for tick, height in history:
            if tick <= gst_tick:
                height_at_gst = max(height_at_gst, height)
    late = []
    for nation in correct:
        ok = any(gst_tick <= t <= gst_tick + bound_ticks and h > height_at_gst
                 for t, h in commits.get(nation, []))
        if not ok:
            late.append(nation)
    if late:
        window_end = min(gst_tick + bound_ticks, ticks_run)
        return False, (f"{', '.join(late)} committed no height above {height_at_gst} between "
                       f"GST (tick {gst_tick}) and tick {window_end}")
    # Progress must go on, not just happen once: every correct nation also commits within the
    # bound before the end of the run (when the run is long enough to ask).
    if ticks_run - bound_ticks > gst_tick:
        stalled = [n for n in correct
                   if not any(t >= ticks_run - bound_ticks for t, _ in commits.get(n, []))]
        if stalled:
            return False, (f"{', '.join(stalled)} committed nothing in the last {bound_ticks} "
                           f"ticks of the run (after tick {ticks_run - bound_ticks})")
    return True, (f"every up, honest nation committed above height {height_at_gst} within "
                  f"{bound_ticks} ticks of GST (tick {gst_tick}) and kept committing")


LIVENESS_OK, LIVENESS_STALLED, LIVENESS_NOT_JUDGED = "ok", "stalled", "not judged"


def liveness_verdict(commits: dict[str, list[tuple[int, int]]], correct: list[str],
                     gst_tick: int, bound_ticks: int, ticks_run: int, last_fault_tick: int = 0,
                     shown: bool = False) -> tuple[str, str]:
    """A whole run's liveness: (`ok`, `stalled` or `not judged`, why).

    `judge_liveness` looks at the `bound_ticks` after GST, and at the last `bound_ticks` of the
    run. They judge what the faults left only once the run has covered the window after the
    last fault: `bound_ticks` past GST; or, when a fault that never ends began after GST
    (`last_fault_tick`, a crash for good), two windows past it: one in which the change
    settles (votes already in flight still make a commit or two), one to see whether commits
    go on. A shorter run is `not judged` (the nations may yet commit, or a first commit may
    have come before a quorum was lost), and the reason says how many more ticks to run.
    `shown` is a run that ended early because liveness was shown (`[expect]
    liveness_heights`). With no nation both up and honest, nothing can commit: stalled."""
    ok, why = judge_liveness(commits, correct, gst_tick, bound_ticks, ticks_run)
    last = max(gst_tick, last_fault_tick)
    window_end = last + (2 * bound_ticks if last > gst_tick else bound_ticks)
    if shown or not correct or ticks_run >= window_end:
        return (LIVENESS_OK if ok else LIVENESS_STALLED), why
    return LIVENESS_NOT_JUDGED, (
        f"the run ended at tick {ticks_run:,}, before the liveness window ({bound_ticks:,} ticks "
        f"after the last fault began or ended, at tick {last:,}) closed at tick "
        f"{window_end:,}: run {window_end - ticks_run:,} more ticks (--ticks-max {window_end})")
