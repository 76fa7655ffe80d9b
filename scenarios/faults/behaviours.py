"""Byzantine nodes: honest nodes whose outputs or judgements are rewritten, as CometBFT's
byzantine tests override `doPrevote`. The consensus core stays the one honest implementation.

Each class is a `nodes.hooks.NodeHooks` for one behaviour kind and changes what its node does at
a declared hook point, and only while its behaviour's window is open (`behaviour.active(now)`):

- `EquivocatingHooks.emit`: every consensus message goes out in two versions. `noisy` sends
  both to every peer (in opposite orders to the two halves, so each half counts a different one
  first), which honest nodes record as evidence. `split` coordinates through a shared
  `SplitAdversary`: when one of the equivocators proposes, half the honest nations get block A
  and the other half block B, and every equivocator votes A to the first half and B to the
  second. With at least 1/3 of the power that breaks agreement; below it, it cannot.
- `AmnesiaHooks.after_core`: after every event, the replica forgets its lock.
- `CensorHooks.build_block` / `emit`: leaves out of its blocks, and prevotes nil on blocks
  holding, the transactions signed by the censored nations.
- `MutatingHooks.emit`: ByzzFuzz's small-scope mutations of what each peer receives.
- Silence and corrupted signatures are done by the world on the wire, since they need no
  knowledge of the protocol.

`HOOKS` maps each behaviour kind to its class; `scenarios/faults/assign.py` builds one per node.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from consensus import Proposal, Step, Vote
from nodes import Block, SendTo, kind_of
from nodes.node import encode_message

from scenarios.faults.adversaries import (
    ForgeSyncHooks,
    ForgeVotesHooks,
    ForkHooks,
    InvalidBlockHooks,
)
from scenarios.faults.base import BehaviourHooks


@dataclass
class SplitAdversary:
    """Shared knowledge of the colluding equivocators (mode = "split")."""

    first_half: frozenset[str]
    second_half: frozenset[str]
    members: frozenset[str]
    values: dict[tuple[int, int], tuple[Block, Block]] = field(default_factory=dict)


def halves(honest: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    ordered = sorted(honest)
    cut = (len(ordered) + 1) // 2
    return frozenset(ordered[:cut]), frozenset(ordered[cut:])


class EquivocatingHooks(BehaviourHooks):
    def emit(self, node, signed, out) -> None:
        if not self.behaviour.active(node.now_ticks):
            return node.send(signed, out)
        adversary = self.shared.split if self.shared is not None else None
        if self.behaviour.params.get("mode") == "split" and adversary is not None:
            return self._emit_split(node, adversary, signed, out)
        twin = self._conflicting(node, signed)
        peers = list(node.peers)
        first, second = halves(peers)
        for peer in peers:
            order = (signed, twin) if peer in first else (twin, signed)
            for message in order:
                out.append(SendTo(peer, encode_message(message), kind_of(message),
                                  message.height, message.round))

    @staticmethod
    def _conflicting(node, signed):
        """A second, validly signed message for the same (height, round, step)."""
        if isinstance(signed, Proposal):
            block = signed.value
            other = Block.build(block.height, block.prev_hash, block.proposer,
                                block.time_ticks + 1, block.txs, block.app_hash)
            return node.sign(Proposal(signed.height, signed.round, other, other.block_id,
                                      signed.valid_round, signed.proposer))
        alt = None if signed.value_id is not None else hashlib.sha256(
            b"equivocation" + signed.voter.encode() + bytes([signed.round % 256])).digest()
        return node.sign(Vote(signed.step, signed.height, signed.round, alt, signed.voter))

    @staticmethod
    def _emit_split(node, adv: SplitAdversary, signed, out) -> None:
        key = (signed.height, signed.round)
        if isinstance(signed, Proposal):
            a = signed.value
            b = Block.build(a.height, a.prev_hash, a.proposer, a.time_ticks + 1, a.txs,
                            a.app_hash)
            adv.values[key] = (a, b)
            second = node.sign(Proposal(signed.height, signed.round, b, b.block_id,
                                        signed.valid_round, signed.proposer))
            versions = (signed, second)
        elif key in adv.values and signed.step in (Step.PREVOTE, Step.PRECOMMIT):
            a, b = adv.values[key]
            versions = (node.sign(Vote(signed.step, signed.height, signed.round, a.block_id,
                                       signed.voter)),
                        node.sign(Vote(signed.step, signed.height, signed.round, b.block_id,
                                       signed.voter)))
        else:
            return node.send(signed, out)
        for peer in node.peers:
            message = versions[1] if peer in adv.second_half else versions[0]
            out.append(SendTo(peer, encode_message(message), kind_of(message), message.height,
                              message.round))


class AmnesiaHooks(BehaviourHooks):
    def after_core(self, node) -> None:
        if self.behaviour.active(node.now_ticks):
            r = node.replica
            r.locked_value, r.locked_value_id, r.locked_round = None, None, -1


class CensorHooks(BehaviourHooks):
    def _censored(self, block: Block) -> bool:
        targets = set(self.behaviour.params["nations"])
        return any(tx.signer in targets for tx in block.txs)

    def build_block(self, node, height: int) -> Block:
        block = node.build_block(height)
        if not self.behaviour.active(node.now_ticks) or not self._censored(block):
            return block
        targets = set(self.behaviour.params["nations"])
        txs = tuple(tx for tx in block.txs if tx.signer not in targets)
        return Block.build(block.height, block.prev_hash, block.proposer, block.time_ticks, txs,
                           block.app_hash)

    def emit(self, node, signed, out) -> None:
        """As voter: a prevote for a block holding censored transactions goes out as nil. The
        node still decides and syncs such blocks, so it stays in consensus."""
        if (self.behaviour.active(node.now_ticks) and isinstance(signed, Vote)
                and signed.step is Step.PREVOTE and signed.value_id is not None):
            proposal = node.replica.proposal(signed.round)
            if proposal is not None and proposal.value_id == signed.value_id \
                    and self._censored(proposal.value):
                signed = node.sign(Vote(signed.step, signed.height, signed.round, None,
                                        signed.voter))
        node.send(signed, out)


MUTATIONS = ("round+1", "round-1", "height+1", "height-1", "value", "omit")


class MutatingHooks(BehaviourHooks):
    """ByzzFuzz's small-scope mutations (Winter et al., 2023): while its window is open, each
    consensus message it sends is, with chance `rate` and separately for every peer, changed to
    round +/- 1, height +/- 1 or another value and signed again with its own key, or left out.

    The draw is a hash of the message, the peer and the tick, so a run needs no random stream and
    replays byte for byte. The node itself goes on with the message it meant to send (the loop-back
    in the node is untouched): only what the peers see is bent."""

    def emit(self, node, signed, out) -> None:
        if not self.behaviour.active(node.now_ticks):
            return node.send(signed, out)
        data = encode_message(signed)
        kind = kind_of(signed)
        threshold = self.behaviour.params["rate"] * 2**64
        stamp = node.now_ticks.to_bytes(8, "big")
        for peer in node.peers:
            draw = hashlib.sha256(b"mutate" + peer.encode() + stamp + data).digest()
            if int.from_bytes(draw[:8], "big") >= threshold:
                out.append(SendTo(peer, data, kind, signed.height, signed.round))
                continue
            mutation = MUTATIONS[draw[8] % len(MUTATIONS)]
            if mutation == "omit":
                continue
            message = node.sign(mutate(signed, mutation, draw))
            out.append(SendTo(peer, encode_message(message), kind_of(message), message.height,
                              message.round))


def mutate(signed, mutation: str, draw: bytes):
    """An unsigned copy of `signed` with one ByzzFuzz mutation applied; it stays well formed
    (heights >= 1, rounds >= 0, valid_round below the round), so peers judge it, not the decoder."""
    h, r = signed.height, signed.round
    if mutation == "round+1" or (mutation == "round-1" and r == 0):
        r += 1
    elif mutation == "round-1":
        r -= 1
    elif mutation == "height+1" or (mutation == "height-1" and h == 1):
        h += 1
    elif mutation == "height-1":
        h -= 1
    if isinstance(signed, Proposal):
        block = signed.value
        time_ticks = block.time_ticks + (1 if mutation == "value" else 0)
        if h != block.height or time_ticks != block.time_ticks:
            block = Block.build(h, block.prev_hash, block.proposer, time_ticks, block.txs,
                                block.app_hash)
        valid_round = signed.valid_round if signed.valid_round < r else -1
        return Proposal(h, r, block, block.block_id, valid_round, signed.proposer)
    value_id = signed.value_id
    if mutation == "value":
        other = hashlib.sha256(b"mutated value" + draw).digest()
        value_id = other if value_id is None or draw[9] % 2 else None
    return Vote(signed.step, h, r, value_id, signed.voter)


HOOKS: dict[str, type[BehaviourHooks]] = {
    "equivocate": EquivocatingHooks, "amnesia": AmnesiaHooks, "censor": CensorHooks,
    "mutate": MutatingHooks, "forge_votes": ForgeVotesHooks, "forge_sync": ForgeSyncHooks,
    "fork": ForkHooks, "invalid_block": InvalidBlockHooks}
"""The hooks of each Byzantine behaviour kind that changes what a node does."""
