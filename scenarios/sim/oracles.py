"""Oracles: the properties a run must keep, checked as blocks are committed.

Safety (checked online, on every commit by an honest nation):
- agreement: no two honest nations commit different blocks at one height;
- validity: every committed transaction is signed by a genesis nation, and every committed block
  carries a certificate of more than 2/3 of the power, names a genesis nation as proposer,
  holds no transaction twice, is no earlier than the block below it, and its app_hash is the
  state its committer had before applying it (the ledger itself refuses a block at the wrong
  height or on the wrong previous hash);
- integrity: no transaction is committed twice on one nation's chain;
- accountability (judged at the end, scenarios/sim/world.py `_framed`): no evidence of
  equivocation names a nation that is honest and never restarted from a wiped disk.

Prompt decisions (judged at the end, when `[expect] prompt_decisions = true`; see
`judge_prompt_decisions`): the paper's sharper termination argument, that after GST, with
timeouts above the message delays, a height is decided in the first round whose proposer is
correct.

Liveness (judged at the end): the nations that are up and honest commit a height above the
highest height any honest nation had at the last fault's end (GST), within `liveness_ticks_max`
ticks of GST, and they are still committing in the run's last `liveness_ticks_max` ticks. When
every fault is permanent, GST is tick 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consensus import Step, TimeoutConfig, ValidatorSet
from nodes import CommittedBlock, Genesis, VerifyCache, certificate_error
from nodes.chain.ledger import TxIndex

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
    tx_places: TxIndex = field(default_factory=TxIndex)
    chains: dict[str, list[bytes]] = field(default_factory=dict)
    repeats: dict[tuple[bytes, bytes], list[tuple[str, int]]] = field(default_factory=dict)
    times: dict[int, int] = field(default_factory=dict)  # height -> first committed time_ticks
    rounds: dict[int, int] = field(default_factory=dict)  # height -> its certificate's round

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
            if committed.certificate:
                self.rounds[height] = committed.certificate[0].round
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
            known = self.tx_places.places(tx.tx_id)
            first = min((h for h, b in known if h <= len(chain) and chain[h - 1] == b),
                        default=height)
            if first != height:
                out.append((tx.tx_id.hex(), first))
            self.tx_places.record(tx.tx_id, place)
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


@dataclass(frozen=True)
class PromptJudgement:
    """What `judge_prompt_decisions` found: the heights it judged, those decided late (each a
    violation record), and why it judged none when it could not apply."""

    applies: bool
    why: str
    judged: tuple[int, ...] = ()
    late: tuple[dict, ...] = ()


def judge_prompt_decisions(rounds: dict[int, int], commits: dict[str, list[tuple[int, int]]],
                           correct: list[str], byzantine: tuple[str, ...],
                           validators: ValidatorSet, timeouts: TimeoutConfig,
                           from_tick: int, delay_ticks: int, loss: float) -> PromptJudgement:
    """The paper's termination argument as an oracle (arXiv 1807.04938, section 4): after GST,
    with timeouts above the message delays, every correct nation decides in the first round
    whose proposer is correct.

    `rounds` maps each decided height to the round of its certificate; `commits` is each
    nation's (tick, height) commits; `correct` the nations up and honest at the end; the network
    after `from_tick` (the last fault's start or end) delays a message at most `delay_ticks`
    and loses at most `loss` of what it carries.

    It applies only where its argument holds in this model, and says so otherwise:
    - no Byzantine nation (an equivocator or a fork coalition may cost rounds by design);
    - nothing lost after the last fault (a lost message waits for a resend, `rebroadcast_ticks`
      later, whatever the timeouts);
    - a height is judged only if every correct nation entered it (committed the height below,
      by consensus or by state sync) at or after `from_tick`: a height begun before then may
      carry locks and valid values whose polka a proposer never saw, and the node re-sends
      those only once its round stalls (nodes/node.py), which the argument does not know.
    For a judged height, with S the spread of the nations' entry ticks (at least one delay D),
    round r "has timeouts above the delays" when timeout_propose(r) > S + D (the last to enter
    still gets the proposal of the first), timeout_prevote(r) > S + 2D (every correct prevote
    arrives before anyone gives up on a polka) and, after round 0, timeout_precommit(r-1) > S + D
    (the proposer of r enters it only once every prevote of round r-1 has reached it, so its
    valid value is at least as recent as any correct lock: without this the honest protocol
    loses round r whenever a polka of r-1 reached a locker before the next proposer). The expected round is the first whose
    proposer is correct and whose timeouts are above the delays; a height decided in a later
    round is a violation, reported with both rounds and the expected round's proposer."""
    if byzantine:
        return PromptJudgement(False, f"not applied: Byzantine nations ({', '.join(byzantine)})")
    if loss > 0:
        return PromptJudgement(False, f"not applied: links lose up to {loss:g} of messages "
                                      f"after the last fault (tick {from_tick})")
    if not correct:
        return PromptJudgement(False, "not applied: no nation is up and honest at the end")
    entered: dict[int, dict[str, int]] = {}
    for nation in correct:
        for tick, height in commits.get(nation, []):
            entered.setdefault(height + 1, {}).setdefault(nation, tick)
    if from_tick == 0:  # every correct nation entered height 1 at the start
        entered[1] = dict.fromkeys(correct, 0)
    judged, late = [], []
    for height in sorted(rounds):
        ticks = entered.get(height, {})
        if len(ticks) < len(correct) or min(ticks.values()) < from_tick:
            continue
        spread = max(max(ticks.values()) - min(ticks.values()), delay_ticks)
        expected = _first_prompt_round(height, correct, validators, timeouts, spread,
                                       delay_ticks)
        if expected is None:
            continue
        judged.append(height)
        got = rounds[height]
        if got > expected:
            proposer = validators.proposer(height, expected)
            late.append({"kind": "prompt", "height": height, "expected_round": expected,
                         "decided_round": got, "proposer": proposer,
                         "reason": f"height {height} was decided in round {got}, not in round "
                                   f"{expected}, whose proposer {proposer} is correct and "
                                   f"whose timeouts exceed the delays (entry spread {spread} "
                                   f"ticks, delay {delay_ticks})"})
    why = (f"judged {len(judged)} height(s) entered by every correct nation after tick "
           f"{from_tick}; {len(late)} decided late")
    return PromptJudgement(True, why, tuple(judged), tuple(late))


PROMPT_ROUNDS_MAX = 64


def _first_prompt_round(height: int, correct: list[str], validators: ValidatorSet,
                        timeouts: TimeoutConfig, spread: int, delay: int) -> int | None:
    honest = set(correct)
    for round_ in range(PROMPT_ROUNDS_MAX):
        if (validators.proposer(height, round_) in honest
                and timeouts.ticks(Step.PROPOSE, round_) > spread + delay
                and timeouts.ticks(Step.PREVOTE, round_) > spread + 2 * delay
                and (round_ == 0
                     or timeouts.ticks(Step.PRECOMMIT, round_ - 1) > spread + delay)):
            return round_
    return None
