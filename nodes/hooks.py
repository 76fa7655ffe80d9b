"""The declared points at which a node's behaviour may be changed.

What this module owns
---------------------

`NodeHooks` lists every point at which a Byzantine behaviour, a protocol adversary, a mutant of
the protocol or a test double may change what a `nodes.node.Node` does, with the contract of
each. A node is given ONE hooks object when it is built (`Node(..., hooks=...)`) and calls it
at these points only; `hooks=None` is the honest node, and the honest node is the node with no
hooks. Every method of `NodeHooks` does what the honest node does, so a subclass overrides only
the points it changes, and a hooks object with nothing overridden runs the honest protocol.

The node's side of the contract: in the honest path a hook costs one `self.hooks is not None`
test; a hook is called exactly where the old override ran, with the node itself as its first
argument; the node's public methods (`send`, `build_block`, `answer_sync`, `sign`,
`now_ticks`, `ahead_height`, `peers`, `knows`, `replica` and its read-only accessors) are what
a hook may use to do the honest thing, or something else. A hook must not touch the node's
private (underscore) state: renaming a private method of the node never turns a hook off.

Hooks are deterministic: they draw no random stream and read no clock but `node.now_ticks`,
so a run with hooks replays byte for byte. State shared by several nodes (a coalition of
adversaries) belongs to whoever builds the hooks, never to the node or the world.

What this module may not know: who uses the hooks, or why. The honest core (`consensus/`)
knows nothing of them; the replica's own seam is `consensus.rules.Rules`, which a hooks object
hands to the node's replica through `replica_rules`. Byzantine behaviours, adversaries and
mutants live in `scenarios/faults/`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from consensus import Proposal, Rules, TimeoutConfig, ValidatorSet, Vote, WalRecord
    from nodes.chain.block import Block, CommittedBlock
    from nodes.node import Action, Node
    from nodes.wire.messages import SyncRequest


class NodeHooks:
    """Every point at which a node's behaviour may change. Each method is the honest behaviour.

    Built once, when the node's replica is built (never again: a later change of hooks keeps
    the replica it has):

    - `replica_validators`, `replica_timeouts`, `replica_rules`, `restored_record`

    Each time, in the order the node meets them:

    - `emit`          each signed consensus message of its own, fresh or resent
    - `build_block`   the block it proposes when the core asks for a value
    - `answer_sync`   a state-sync request from a peer
    - `after_core`    after an input and every effect it led to were carried out
    - `after_apply`   after a block was applied to the chaincode state
    - `after_commit`  after a block was appended to the ledger
    - `delivered`     after a peer's consensus message passed every check and the core took it
    - `deadline`      an extra wake-up the hooks want (`next_deadline` returns the earlier)
    - `on_timer`      after the node's own timer work

    Checks the node may skip (flags, read at each use):

    - `check_signatures`, `check_certificates`, `skipped_checks`
    """

    shares_application = False
    """Whether the node may use the process's SharedApplication with the honest nodes (each
    block validated and applied once for all). Only for hooks that run in the honest nodes'
    place and leave `valid()` and the application honest (the mutants); a Byzantine node
    computes its own."""

    check_signatures = True
    """Whether a peer's consensus message must carry its signer's signature. False: the
    message goes to the core unchecked (the sender and replay checks stay)."""

    check_certificates = True
    """Whether a block applied by state sync must carry a commit certificate (more than 2/3
    of the power in signed precommits). False: any block that extends the chain and passes
    `valid()` is applied."""

    skipped_checks: frozenset[str] = frozenset()
    """Checks the node does not make: a mutant's way to remove one. Names of valid()'s checks
    (nodes.node.VALIDITY_CHECKS) or of the checks on a synced block's commit certificate
    (nodes.chain.ledger.CERTIFICATE_CHECKS). Empty: every check, as the honest node."""

    # ------------------------------------------------------------ the replica, once

    def replica_validators(self, node: Node, validators: ValidatorSet) -> ValidatorSet:
        """The validator set the node's replica counts quorums with. The node itself (its
        ledger, its certificate checks, the proposer order of its gossip) keeps the genesis
        set."""
        return validators

    def replica_timeouts(self, node: Node, timeouts: TimeoutConfig) -> TimeoutConfig:
        """The timeouts the node's replica schedules."""
        return timeouts

    def replica_rules(self, node: Node) -> Rules | None:
        """The judgements of lines 15, 22, 28 and 49 the replica applies (consensus/rules.py);
        None for the paper's own."""
        return None

    def restored_record(self, node: Node, record: WalRecord | None) -> WalRecord | None:
        """The write-ahead record the node's replica restarts from: the one its storage holds,
        with the others' messages in it signature-checked (None: a fresh start)."""
        return record

    # ------------------------------------------------------------ what the node sends

    def emit(self, node: Node, signed: Proposal | Vote, out: list[Action]) -> None:
        """A consensus message the node signed (a fresh one from its core, or a resend of its
        own while stalled) is to go to its peers. Append what should go instead to `out`:
        `node.send(signed, out)` is the honest broadcast; `node.sign(message)` signs another.
        The node's own core has counted (or will count) `signed` itself, whatever goes out:
        only what the peers see changes. Relays of other nodes' messages do not pass here."""
        node.send(signed, out)

    def build_block(self, node: Node, height: int) -> Block:
        """The block to propose at `height` when the core asks for a fresh value (line 18).
        `node.build_block(height)` is the honest one (the mempool's transactions on our tip)."""
        return node.build_block(height)

    def answer_sync(self, node: Node, request: SyncRequest, out: list[Action]) -> None:
        """A peer asks for blocks from `request.from_height`. `node.answer_sync(request, out)`
        checks the request (known requester, its signature) and answers with our blocks, as
        the honest node does."""
        node.answer_sync(request, out)

    # ------------------------------------------------------------ what the node observes

    def after_core(self, node: Node) -> None:
        """The node carried out one input of its core (a start, a message, a timeout, a skip
        after sync) and every effect it led to. The hooks may change the replica's public
        state here (an amnesiac forgets its lock); the core carries on from that state."""

    def after_apply(self, node: Node, block: Block) -> None:
        """A block was applied to the node's chaincode (at a commit, or while recovering its
        stored blocks at construction)."""

    def after_commit(self, node: Node, committed: CommittedBlock, via: str,
                     out: list[Action]) -> None:
        """A block was appended to the ledger and applied, by consensus (`via` "consensus")
        or by state sync ("sync"); its `Committed` action is already in `out`. Append more."""

    def delivered(self, node: Node, message: Proposal | Vote, out: list[Action]) -> None:
        """A peer's consensus message passed every check (sender, replay, signature) and the
        core has handled it, with the effects already in `out`. Append more."""

    # ------------------------------------------------------------ the clock

    def deadline(self, node: Node) -> int | None:
        """An extra tick at which to wake the node (its `on_timer`), or None. The node's
        `next_deadline()` returns the earlier of this and its own, and the runtimes call
        `on_timer` only once that has come: this is how a hook asks to be woken."""
        return None

    def on_timer(self, node: Node, now_ticks: int, out: list[Action]) -> None:
        """The node woke at `now_ticks` and did its own timer work (gossip, timeouts, sync,
        resends), with the actions in `out`. Append more."""
