"""Hostile input: whatever a peer sends, a node drops and counts it, and never crashes.

The rule (docs/architecture.md): a malformed, oversized, unsigned, wrongly signed, replayed or
unknown-sender message is dropped and counted, and never crashes a node. The property tests
feed the decoders and `Node.on_bytes` arbitrary bytes, arbitrary msgpack structures shaped like
each message kind, mutations of valid messages and validly signed but arbitrary consensus
messages; the example tests pin down the reason each kind of hostile message is dropped for.

Every test runs twice: here with Ed25519, and in test_hostile_input_modelled.py with modelled
signatures (nodes/chain/modelled.py), which loads this file again with `SIGNATURES` set. The
constants below (genesis, identities, signed blocks) are built at import, under `SCHEME`.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gc
import tracemalloc

from consensus import Proposal, Step, Vote
from nodes import (
    Block,
    CodecError,
    CommittedBlock,
    Delivered,
    Dropped,
    Genesis,
    Identity,
    Node,
    Transaction,
    VerifyCache,
    WireError,
    decode,
    encode_txs,
    genesis_hash,
    pack,
    unpack,
)
from nodes.chain.modelled import signature_scheme
from nodes.chain.codec import ARRAY_LEN_MAX, BIN_BYTES_MAX, MESSAGE_BYTES_MAX, STR_BYTES_MAX
from nodes.chain.tx import TX_PAYLOAD_BYTES_MAX
from nodes.node import (
    PROPOSAL_BYTES_HELD_PER_SENDER_MAX,
    PROPOSAL_ROUNDS_NEAR,
    PROPOSALS_HELD_PER_SENDER_MAX,
    SYNC_ANSWER_TICKS,
    SYNC_ANSWERS_BURST,
    SendAll,
    SendTo,
)
from nodes.wire.messages import (
    HEIGHT_MAX,
    DecodeCache,
    ROUND_MAX,
    SyncRequest,
    encode_proposal,
    encode_sync_request,
    encode_sync_response,
    encode_vote,
    proposal_signed_bytes,
    sync_request_sign_bytes,
    vote_signed_bytes,
)

SIGNATURES = globals().get("SIGNATURES", "ed25519")  # set before import by the modelled run
SCHEME = signature_scheme(SIGNATURES)
CHAIN = "hostile-test"
SEED = 11
GENESIS, IDS = Genesis.simulated(CHAIN, [("USA", 1), ("MEX", 1), ("CAN", 1), ("CHN", 1)], SEED,
                                 SCHEME)
ME = "USA"
PEERS = ("MEX", "CAN", "CHN")
CODES = (ME, *PEERS)
OUTSIDER = SCHEME.derive("XXX", SEED)  # a well-formed key that no genesis lists
GENESIS_HASH = genesis_hash(GENESIS)
HYPOTHESIS = settings(max_examples=300, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- builders of valid messages


def new_node() -> Node:
    node = Node(IDS[ME], GENESIS, VerifyCache(scheme=SCHEME))
    node.start(0)
    return node


def sign_vote(step: Step, height: int, round_: int, value_id: bytes | None, voter: str,
              key: Identity | None = None, chain_id: str = CHAIN) -> Vote:
    unsigned = Vote(step, height, round_, value_id, voter)
    signature = (key or IDS[voter]).sign(vote_signed_bytes(chain_id, unsigned))
    return Vote(step, height, round_, value_id, voter, signature)


def sign_proposal(block: Block, round_: int, proposer: str, key: Identity | None = None,
                  valid_round: int = -1) -> Proposal:
    unsigned = Proposal(block.height, round_, block, block.block_id, valid_round, proposer)
    signature = (key or IDS[proposer]).sign(proposal_signed_bytes(CHAIN, unsigned))
    return Proposal(block.height, round_, block, block.block_id, valid_round, proposer, signature)


def sign_tx(signer: str, nonce: int, key: Identity | None = None, chain_id: str = CHAIN,
            payload: bytes = b"precursor") -> Transaction:
    body = Transaction.sign_bytes(chain_id, "test", signer, nonce, payload)
    signature = (key or IDS[signer]).sign(body)
    # from_wire recomputes the id for *our* chain, as a receiving node would.
    return Transaction.from_wire(CHAIN, ("test", signer, nonce, payload, signature))


def sign_sync_request(requester: str, from_height: int, key: Identity | None = None,
                      nonce: int = 0) -> bytes:
    signature = (key or IDS[requester]).sign(
        sync_request_sign_bytes(CHAIN, requester, from_height, nonce))
    return encode_sync_request(SyncRequest(requester, from_height, nonce, signature))


def proposer_other_than_me(height: int) -> tuple[int, str]:
    for round_ in range(8):
        proposer = GENESIS.validators.proposer(height, round_)
        if proposer != ME:
            return round_, proposer
    raise AssertionError("no round with another proposer")


PROPOSAL_ROUND, PROPOSER = proposer_other_than_me(1)
BLOCK_1 = Block.build(1, GENESIS_HASH, PROPOSER, 5, (sign_tx("MEX", 1),))


def certificate(block: Block, voters=("MEX", "CAN", "CHN"), round_: int = 0) -> tuple[Vote, ...]:
    return tuple(sign_vote(Step.PRECOMMIT, block.height, round_, block.block_id, v)
                 for v in voters)


def nil_prevote_bytes(voter: str = "MEX", round_: int = 0) -> bytes:
    return encode_vote(sign_vote(Step.PREVOTE, 1, round_, None, voter))


def reasons(actions) -> list[str]:
    return [a.reason for a in actions if isinstance(a, Dropped)]


def delivered(actions) -> list[Delivered]:
    return [a for a in actions if isinstance(a, Delivered)]


def assert_counted(node: Node, actions) -> None:
    """Every Dropped action was counted in node.dropped, and nothing else was."""
    counted: dict[str, int] = {}
    for reason in reasons(actions):
        counted[reason] = counted.get(reason, 0) + 1
    if counted != node.dropped:
        raise AssertionError(f"Dropped actions {counted} differ from node.dropped {node.dropped}")


def assert_goes_on(node: Node, now_ticks: int) -> None:
    """A fresh, valid vote from a peer is still delivered after whatever came before."""
    actions = node.on_bytes(nil_prevote_bytes("CAN", round_=1), now_ticks)
    if delivered(actions) != [Delivered("prevote", "CAN", 1, 1)]:
        raise AssertionError(f"a valid vote was not delivered after hostile input: {actions}")


# ---------------------------------------------------------------- strategies

# Byte fragments that steer arbitrary bytes into msgpack's interesting corners: array headers of
# every width (deep nesting, huge claimed lengths), bin/str/ext headers, maps, floats, nil.
MSGPACK_FRAGMENTS = st.one_of(
    st.sampled_from([b"\x91", b"\x97", b"\x93", b"\x9f", b"\xdc\xff\xff", b"\xdd\xff\xff\xff\xff",
                     b"\xdd\x00\x00\x00\x07", b"\xc4\x20", b"\xc4\x40", b"\xc5\xff\xff",
                     b"\xc6\xff\xff\xff\xff", b"\xd9\xff", b"\xdb\x7f\xff\xff\xff", b"\x80",
                     b"\x81", b"\xde\x00\x01", b"\xc7\x00\x05", b"\xd4\xff", b"\xca", b"\xcb",
                     b"\xc0", b"\xc2", b"\xc3", b"\xc1", b"\xcf", b"\xd3", b"\x01", b"\x02",
                     b"\x03", b"\x04", b"\x05", b"\xa3USA", b"\xa3MEX"]),
    st.binary(max_size=8),
)
HOSTILE_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(MSGPACK_FRAGMENTS, max_size=40).map(b"".join),
)

U64 = 2**64 - 1
INTS = st.one_of(
    st.integers(-3, 5),
    st.integers(-(2**63), U64),
    st.sampled_from([HEIGHT_MAX - 1, HEIGHT_MAX, ROUND_MAX, ROUND_MAX + 1, 2**63, U64,
                     -(2**63)]),
)
BLOBS = st.one_of(st.binary(max_size=70), st.binary(min_size=32, max_size=32),
                  st.binary(min_size=64, max_size=64))
ODD_NAMES = st.one_of(st.sampled_from(["XXX", "", "usa", "USAX"]), st.text(max_size=6))
LEAVES = st.one_of(st.none(), st.booleans(), INTS, BLOBS, ODD_NAMES)
JUNK = st.recursive(LEAVES, lambda children: st.lists(children, max_size=4), max_leaves=12)


@st.composite
def weighted(draw, usual, unusual, unusual_one_in: int = 8):
    """`usual` most of the time, `unusual` one time in `unusual_one_in`."""
    return draw(unusual) if draw(st.integers(1, unusual_one_in)) == 1 else draw(usual)


def mostly(strategy):
    """`strategy` nearly always, now and then any msgpack value: deep, not only well-formed."""
    return weighted(strategy, JUNK, 32)


NAMES = weighted(st.sampled_from([*CODES, "XXX"]), ODD_NAMES)
SIGNATURES = weighted(st.binary(min_size=64, max_size=64), st.one_of(st.just(bytes(64)), BLOBS))
HASHES = st.one_of(st.just(GENESIS_HASH), st.binary(min_size=32, max_size=32))
HEIGHTS = weighted(st.integers(1, 3), st.one_of(st.just(0), INTS))
ROUNDS = weighted(st.integers(0, 3), st.one_of(st.just(-1), INTS))
STEPS = weighted(st.sampled_from([1, 2]), st.one_of(st.sampled_from([0, 3, True, False]), INTS))
TX_WIRE = st.tuples(mostly(weighted(st.just("test"), st.sampled_from(["", "k" * 33]))),
                    mostly(NAMES), mostly(weighted(st.integers(0, 2**63 - 1), INTS)),
                    mostly(BLOBS), mostly(SIGNATURES))


@st.composite
def block_bytes(draw) -> bytes:
    """Block bytes: plausible (a right tx_root, so decoding reaches the signatures) or not."""
    choice = draw(st.integers(0, 7))
    if choice == 0:
        return draw(st.binary(max_size=200))
    if choice == 1:
        header = draw(st.tuples(mostly(HEIGHTS), mostly(HASHES), mostly(HASHES), mostly(NAMES),
                                mostly(st.integers(0, 100))))
        return pack((header, tuple(draw(st.lists(mostly(TX_WIRE), max_size=3)))))
    txs = []
    for raw in draw(st.lists(TX_WIRE, max_size=3)):
        try:
            txs.append(Transaction.from_wire(CHAIN, raw))
        except ValueError:
            pass
    return Block.build(draw(weighted(st.just(1), st.integers(2, 3), 3)), draw(HASHES), draw(NAMES),
                       draw(st.integers(0, 100)), tuple(txs)).encoded


CERTIFICATES = st.lists(mostly(st.tuples(mostly(NAMES), mostly(ROUNDS), mostly(SIGNATURES))),
                        max_size=4)


@st.composite
def proposal_message(draw):
    block = draw(block_bytes())
    try:
        height = Block.decode(CHAIN, block).height if draw(st.booleans()) else draw(HEIGHTS)
    except ValueError:
        height = draw(HEIGHTS)
    round_ = draw(mostly(ROUNDS))
    below = st.integers(-1, round_ - 1) if isinstance(round_, int) and 0 <= round_ < 9 else INTS
    valid_round = draw(mostly(weighted(below, INTS)))
    return (1, height, round_, valid_round, draw(mostly(st.just(block))), draw(mostly(NAMES)),
            draw(mostly(SIGNATURES)))


VOTE_MESSAGES = st.tuples(st.just(2), mostly(STEPS), mostly(HEIGHTS), mostly(ROUNDS),
                          mostly(weighted(st.one_of(st.none(), HASHES), BLOBS)), mostly(NAMES),
                          mostly(SIGNATURES))
TXS_MESSAGES = st.tuples(st.just(3), mostly(NAMES),
                         mostly(st.lists(mostly(TX_WIRE), min_size=1, max_size=4)))
SYNC_REQUEST_MESSAGES = st.tuples(st.just(4), mostly(NAMES), mostly(HEIGHTS),
                                  mostly(weighted(st.integers(0, 2**63 - 1), INTS)),
                                  mostly(SIGNATURES))
SYNC_RESPONSE_MESSAGES = st.tuples(
    st.just(5), mostly(NAMES),
    mostly(st.lists(mostly(st.tuples(block_bytes(), CERTIFICATES)), min_size=1, max_size=3)))
ANY_KIND = st.builds(lambda kind, fields: (kind, *fields),
                     st.one_of(st.integers(0, 6), INTS, JUNK), st.lists(JUNK, max_size=8))
HOSTILE_STRUCTURES = st.one_of(proposal_message(), VOTE_MESSAGES, TXS_MESSAGES,
                               SYNC_REQUEST_MESSAGES, SYNC_RESPONSE_MESSAGES, ANY_KIND, JUNK)


# ---------------------------------------------------------------- the decoders


@HYPOTHESIS
@given(HOSTILE_BYTES)
def test_unpack_and_decode_raise_only_their_own_errors(data):
    try:
        unpack(data)
    except CodecError:
        pass
    try:
        decode(CHAIN, data)
    except WireError:
        pass


@HYPOTHESIS
@given(HOSTILE_STRUCTURES)
def test_decode_of_hostile_structures_raises_only_wire_error(structure):
    try:
        decode(CHAIN, pack(structure))
    except WireError:
        pass


@pytest.mark.parametrize("data", [
    b"\x91" * 5000 + b"\xc0",                 # nested deeper than the unpacker's stack
    b"\x91" * 600 + b"\xc0",                  # within the unpacker's stack, beyond the packer's
    b"\xdd\xff\xff\xff\xff",                  # an array claiming 4 billion entries
    b"\xdd" + (ARRAY_LEN_MAX + 1).to_bytes(4, "big") + b"\xc0" * (ARRAY_LEN_MAX + 1),
    b"\xc6\xff\xff\xff\xff",                  # a 4 GiB bin
    b"\xda" + (STR_BYTES_MAX + 1).to_bytes(2, "big") + b"a" * (STR_BYTES_MAX + 1),
    b"\x81\xa1a\x01",                         # maps are not part of the encoding
    b"\xcb" + b"\x00" * 8,                    # floats are not either
    b"\x92\x02",                              # truncated
    encode_vote(sign_vote(Step.PREVOTE, 1, 0, None, "MEX")) + b"\xc0",  # trailing bytes
    b"",
], ids=lambda d: d[:6].hex() or "empty")
def test_decoder_corner_cases_are_wire_errors(data):
    with pytest.raises(WireError):
        decode(CHAIN, data)
    node = new_node()
    actions = node.on_bytes(data, 1)
    assert reasons(actions) == ["malformed"]
    assert_counted(node, actions)
    assert_goes_on(node, 2)


def test_non_bytes_input_is_malformed_not_a_crash():
    node = new_node()
    for i, data in enumerate([None, "text", 12, [1, 2], object()]):
        actions = node.on_bytes(data, i + 1)  # type: ignore[arg-type]
        assert reasons(actions) == ["malformed"]
    assert node.dropped == {"malformed": 5}
    assert_goes_on(node, 10)


# ---------------------------------------------------------------- the node: never raise, count


@HYPOTHESIS
@given(st.lists(HOSTILE_BYTES, min_size=1, max_size=4))
def test_node_drops_and_counts_arbitrary_bytes(messages):
    node = new_node()
    everything = []
    for tick, data in enumerate(messages, start=1):
        actions = node.on_bytes(data, tick)
        # Arbitrary bytes carry no valid signature, so each one is dropped (or is a replay).
        assert reasons(actions), f"{data!r} was not dropped: {actions}"
        everything += actions
    assert_counted(node, everything)
    assert node.ledger.height == 0 and len(node.mempool) == 0
    assert_goes_on(node, len(messages) + 1)


@HYPOTHESIS
@given(st.lists(HOSTILE_STRUCTURES, min_size=1, max_size=4))
def test_node_drops_and_counts_hostile_structures(structures):
    node = new_node()
    everything = []
    for tick, structure in enumerate(structures, start=1):
        actions = node.on_bytes(pack(structure), tick)
        assert reasons(actions), f"{structure!r} was not dropped: {actions}"
        for reason in reasons(actions):
            event(f"dropped as {reason}")  # shown by --hypothesis-show-statistics
        everything += actions
    assert_counted(node, everything)
    assert node.ledger.height == 0 and len(node.mempool) == 0
    assert_goes_on(node, len(structures) + 1)


def valid_messages() -> list[bytes]:
    return [
        nil_prevote_bytes("MEX"),
        encode_vote(sign_vote(Step.PRECOMMIT, 1, 0, BLOCK_1.block_id, "CHN")),
        encode_proposal(sign_proposal(BLOCK_1, PROPOSAL_ROUND, PROPOSER)),
        encode_txs("MEX", (sign_tx("MEX", 7), sign_tx("CHN", 8))),
        sign_sync_request("CAN", 1),
        encode_sync_response(CHAIN, "MEX", [CommittedBlock(BLOCK_1, certificate(BLOCK_1))],
                             IDS["MEX"].sign),
    ]


VALID_MESSAGES = valid_messages()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID_MESSAGES)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 3))
        if op == 0 and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif op == 1:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == 2:
            del data[at:at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


@HYPOTHESIS
@given(st.lists(mutated(), min_size=1, max_size=4))
def test_node_survives_mutated_valid_messages(messages):
    node = new_node()
    everything = []
    for tick, data in enumerate(messages, start=1):
        actions = node.on_bytes(data, tick)
        assert reasons(actions) or delivered(actions)
        everything += actions
    assert_counted(node, everything)
    assert_goes_on(node, len(messages) + 1)


# Validly signed by genesis peers, but otherwise arbitrary: a Byzantine validator's messages go
# past every gate into the core, which must not crash either. The peers hold 3 of 4 votes, so they
# can decide blocks, certify conflicting ones for state sync and equivocate. Blocks come from a
# small pool so that votes, proposals and certificates often agree on one.
BLOCK_1_ALT = Block.build(1, GENESIS_HASH, "MEX", 7, (sign_tx("CAN", 2),))
BLOCK_1_FORGED_TX = Block.build(1, GENESIS_HASH, "CAN", 8, (sign_tx("CHN", 3, key=OUTSIDER),))
BLOCK_POOL = {
    1: (BLOCK_1, BLOCK_1_ALT, BLOCK_1_FORGED_TX),
    2: (Block.build(2, BLOCK_1.block_id, "CAN", 9, ()),
        Block.build(2, BLOCK_1_ALT.block_id, "CHN", 9, (sign_tx("MEX", 1),)),
        Block.build(2, bytes(32), "MEX", 9, ())),
    3: (Block.build(3, bytes(32), "CHN", 10, ()),),
}


CERTIFIERS = (PEERS, PEERS[::-1], PEERS[1:], (PEERS[0], PEERS[0], PEERS[1]))


@st.composite
def byzantine_message(draw) -> bytes:
    height = draw(st.integers(1, 3))
    round_ = draw(st.integers(0, 3))
    block = draw(st.sampled_from(BLOCK_POOL[height]))
    signer = draw(st.sampled_from(PEERS))
    kind = draw(st.integers(0, 3))
    if kind == 0:
        step = draw(st.sampled_from([Step.PREVOTE, Step.PRECOMMIT]))
        value_id = draw(st.sampled_from([block.block_id, block.block_id, None, bytes(32)]))
        return encode_vote(sign_vote(step, height, round_, value_id, signer))
    if kind == 1:
        # Usually the round's rightful proposer, which is sometimes this node itself.
        proposer = draw(weighted(st.just(GENESIS.validators.proposer(height, round_)),
                                 st.sampled_from(PEERS), 3))
        if proposer == ME:
            proposer = signer
        valid_round = draw(st.integers(-1, round_ - 1))
        return encode_proposal(sign_proposal(block, round_, proposer, valid_round=valid_round))
    if kind == 2:
        chain = [draw(st.sampled_from(BLOCK_POOL[h])) for h in range(1, height + 1)]
        return encode_sync_response(CHAIN, signer, [
            CommittedBlock(b, certificate(b, draw(st.sampled_from(CERTIFIERS)), round_))
            for b in chain], IDS[signer].sign)
    return sign_sync_request(signer, draw(st.integers(1, 4)), nonce=draw(st.integers(0, 3)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(byzantine_message(), st.integers(0, 400)), min_size=1, max_size=25))
def test_node_survives_validly_signed_arbitrary_consensus_messages(schedule):
    node = new_node()
    now = 0
    everything = []
    for data, wait_ticks in schedule:
        now += wait_ticks
        deadline = node.next_deadline()
        if deadline is not None and deadline <= now:
            everything += node.on_timer(now)
        actions = node.on_bytes(data, now)
        assert reasons(actions) or delivered(actions)
        everything += actions
    assert_counted(node, everything)
    event(f"ledger height {node.ledger.height}")
    event(f"evidence recorded: {bool(node.evidence)}")
    for height in range(1, node.ledger.height + 1):
        committed = node.ledger.get(height)
        assert committed is not None and committed.block.height == height
        # Not even 3 of 4 validators can get a forged transaction past valid().
        assert all(node.verifier.verify_tx(node.genesis.public_key(tx.signer), node.chain_id, tx)
                   for tx in committed.block.txs)


# ---------------------------------------------------------------- oversized


def test_oversized_message_is_dropped_as_malformed():
    data = pack((5, "MEX", ((b"\0" * BIN_BYTES_MAX, ()), (b"\0" * BIN_BYTES_MAX, ()),
                            (b"\0" * 64, ()))))
    assert len(data) > MESSAGE_BYTES_MAX
    with pytest.raises(CodecError, match="exceeds the limit"):
        unpack(data)
    node = new_node()
    actions = node.on_bytes(data, 1)
    assert actions == [Dropped("malformed", "unknown")]
    assert node.dropped == {"malformed": 1}
    assert_goes_on(node, 2)


def test_oversized_txs_of_validly_signed_transactions_adds_none_of_them():
    payload = b"p" * TX_PAYLOAD_BYTES_MAX
    txs = tuple(sign_tx("MEX", n, payload=payload)
                for n in range(MESSAGE_BYTES_MAX // TX_PAYLOAD_BYTES_MAX + 1))
    data = encode_txs("MEX", txs)
    assert len(data) > MESSAGE_BYTES_MAX
    node = new_node()
    assert reasons(node.on_bytes(data, 1)) == ["malformed"]
    assert len(node.mempool) == 0
    # The same transactions in messages under the limit are welcome.
    assert reasons(node.on_bytes(encode_txs("MEX", txs[:100]), 2)) == []
    assert len(node.mempool) == 100


def test_message_of_exactly_the_limit_is_not_refused_for_its_size():
    # A fixarray header, then two bin32 fields (5-byte headers) filling the rest exactly.
    second_bytes = MESSAGE_BYTES_MAX - 1 - 5 - BIN_BYTES_MAX - 5
    data = pack((b"a" * BIN_BYTES_MAX, b"b" * second_bytes))
    assert len(data) == MESSAGE_BYTES_MAX
    assert len(unpack(data)[1]) > 0  # type: ignore[index]


# ---------------------------------------------------------------- signatures


def test_vote_signed_by_the_wrong_key_is_bad_signature():
    node = new_node()
    for key in (IDS["CAN"], OUTSIDER, IDS[ME]):
        vote = sign_vote(Step.PREVOTE, 1, 0, None, "MEX", key=key)
        assert reasons(node.on_bytes(encode_vote(vote), 1)) == ["bad_signature"]
    assert node.dropped == {"bad_signature": 3}
    assert node.replica.messages_ignored == 0  # the core never saw them


def test_vote_signed_for_another_chain_is_bad_signature():
    node = new_node()
    vote = sign_vote(Step.PREVOTE, 1, 0, None, "MEX", chain_id="another-chain")
    assert reasons(node.on_bytes(encode_vote(vote), 1)) == ["bad_signature"]


def test_vote_with_fields_changed_after_signing_is_bad_signature():
    node = new_node()
    vote = sign_vote(Step.PREVOTE, 1, 0, None, "MEX")
    for changed in (Vote(Step.PRECOMMIT, 1, 0, None, "MEX", vote.signature),
                    Vote(Step.PREVOTE, 1, 1, None, "MEX", vote.signature),
                    Vote(Step.PREVOTE, 2, 0, None, "MEX", vote.signature),
                    Vote(Step.PREVOTE, 1, 0, BLOCK_1.block_id, "MEX", vote.signature),
                    Vote(Step.PREVOTE, 1, 0, None, "CAN", vote.signature)):
        assert reasons(node.on_bytes(encode_vote(changed), 1)) == ["bad_signature"]


def test_proposal_signed_by_the_wrong_key_is_bad_signature():
    node = new_node()
    proposal = sign_proposal(BLOCK_1, PROPOSAL_ROUND, PROPOSER, key=OUTSIDER)
    assert reasons(node.on_bytes(encode_proposal(proposal), 1)) == ["bad_signature"]
    other = next(c for c in PEERS if c != PROPOSER)
    proposal = sign_proposal(BLOCK_1, PROPOSAL_ROUND, PROPOSER, key=IDS[other])
    assert reasons(node.on_bytes(encode_proposal(proposal), 2)) == ["bad_signature"]
    assert node.dropped == {"bad_signature": 2}
    # The real proposer's signature over the same proposal is delivered.
    actions = node.on_bytes(encode_proposal(sign_proposal(BLOCK_1, PROPOSAL_ROUND, PROPOSER)), 3)
    assert delivered(actions) == [Delivered("proposal", PROPOSER, 1, PROPOSAL_ROUND)]


def test_proposal_with_a_swapped_block_is_bad_signature():
    node = new_node()
    proposal = sign_proposal(BLOCK_1, PROPOSAL_ROUND, PROPOSER)
    other_block = Block.build(1, GENESIS_HASH, PROPOSER, 6, ())
    forged = Proposal(1, PROPOSAL_ROUND, other_block, other_block.block_id, -1, PROPOSER,
                      proposal.signature)
    assert reasons(node.on_bytes(encode_proposal(forged), 1)) == ["bad_signature"]


@pytest.mark.parametrize("signature, reason", [
    (bytes(64), "bad_signature"),       # unsigned, in the right shape
    (b"\xff" * 64, "bad_signature"),
    (b"", "malformed"),                 # unsigned, the field empty
    (bytes(63), "malformed"),
    (bytes(65), "malformed"),
])
def test_unsigned_vote_and_proposal_are_dropped(signature, reason):
    node = new_node()
    vote = Vote(Step.PREVOTE, 1, 0, None, "MEX", signature)
    assert reasons(node.on_bytes(encode_vote(vote), 1)) == [reason]
    proposal = Proposal(1, PROPOSAL_ROUND, BLOCK_1, BLOCK_1.block_id, -1, PROPOSER, signature)
    assert reasons(node.on_bytes(encode_proposal(proposal), 2)) == [reason]
    request = encode_sync_request(SyncRequest("MEX", 1, 0, signature))
    assert reasons(node.on_bytes(request, 3)) == [reason]
    assert node.dropped == {reason: 3}
    assert_goes_on(node, 4)


def test_sync_request_signed_by_the_wrong_key_gets_no_blocks():
    node = new_node()
    actions = node.on_bytes(sign_sync_request("MEX", 1, key=IDS["CAN"]), 1)
    assert reasons(actions) == ["bad_signature"]
    assert delivered(actions) == []


# ---------------------------------------------------------------- senders


def test_messages_from_senders_outside_the_genesis_are_unknown_sender():
    node = new_node()
    block = Block.build(1, GENESIS_HASH, "XXX", 5, ())
    messages = [
        encode_vote(sign_vote(Step.PREVOTE, 1, 0, None, "XXX", key=OUTSIDER)),
        encode_vote(sign_vote(Step.PRECOMMIT, 1, 0, None, "usa", key=OUTSIDER)),
        encode_proposal(sign_proposal(block, PROPOSAL_ROUND, "XXX", key=OUTSIDER)),
        encode_txs("XXX", (sign_tx("MEX", 1),)),
        sign_sync_request("XXX", 1, key=OUTSIDER),
        encode_sync_response(CHAIN, "XXX", [CommittedBlock(BLOCK_1, certificate(BLOCK_1))],
                             OUTSIDER.sign),
    ]
    for tick, data in enumerate(messages, start=1):
        assert reasons(node.on_bytes(data, tick)) == ["unknown_sender"]
    assert node.dropped == {"unknown_sender": len(messages)}
    assert node.ledger.height == 0 and len(node.mempool) == 0
    assert_goes_on(node, 10)


def test_messages_claiming_to_be_from_this_node_are_dropped():
    node = new_node()
    node.on_timer(node.replica.next_deadline())  # timeout_propose: it prevotes nil in round 0
    assert any(v.step is Step.PREVOTE for v in node.replica.wal_record().own_votes)
    # A copy of a vote its record holds is a replay. (One it has no record of, as after a
    # wipe, goes to the core: tests/nodes/test_gossip.py.)
    own_vote = encode_vote(sign_vote(Step.PREVOTE, 1, 0, None, ME))
    assert reasons(node.on_bytes(own_vote, 1000)) == ["own_message"]
    assert reasons(node.on_bytes(sign_sync_request(ME, 1), 1001)) == ["unknown_sender"]
    response = encode_sync_response(CHAIN, ME, [CommittedBlock(BLOCK_1, certificate(BLOCK_1))],
                                    IDS[ME].sign)
    assert reasons(node.on_bytes(response, 1002)) == ["unknown_sender"]
    assert node.ledger.height == 0


# ---------------------------------------------------------------- replays


def test_exact_replays_are_duplicates():
    node = new_node()
    for tick, data in enumerate(VALID_MESSAGES, start=1):
        first = node.on_bytes(data, tick)
        assert delivered(first), first
        assert reasons(node.on_bytes(data, tick)) == ["duplicate"]
    assert node.dropped.get("duplicate") == len(VALID_MESSAGES)


def test_replay_of_a_dropped_message_is_still_counted():
    node = new_node()
    forged = encode_vote(sign_vote(Step.PREVOTE, 1, 0, None, "MEX", key=OUTSIDER))
    assert reasons(node.on_bytes(forged, 1)) == ["bad_signature"]
    assert reasons(node.on_bytes(forged, 2)) == ["duplicate"]
    assert node.dropped == {"bad_signature": 1, "duplicate": 1}


def _reencode_uint8(data: bytes, fixint: int) -> bytes:
    """The same msgpack value, with the first positive fixint `fixint` widened to uint8."""
    at = data.index(bytes([fixint]), 1)
    return data[:at] + b"\xcc" + bytes([fixint]) + data[at + 1:]


def test_replay_in_a_non_canonical_encoding_is_dropped():
    """A replay must not slip past the duplicate check by re-encoding the same values.

    msgpack has several encodings of one value (1 as fixint 0x01 or as uint8 0xcc 0x01); the
    node remembers messages by their bytes, so only the canonical encoding may be accepted.
    """
    node = new_node()
    data = nil_prevote_bytes("MEX")
    assert delivered(node.on_bytes(data, 1))
    replay = _reencode_uint8(data, 1)
    assert replay != data and msgpack.unpackb(replay) == msgpack.unpackb(data)
    actions = node.on_bytes(replay, 2)
    assert delivered(actions) == [] and reasons(actions) == ["malformed"]


def test_proposal_replayed_with_non_canonical_block_bytes_is_dropped():
    node = new_node()
    proposal = sign_proposal(BLOCK_1, PROPOSAL_ROUND, PROPOSER)
    assert delivered(node.on_bytes(encode_proposal(proposal), 1))
    # Same header, same transactions, same block id and signature; only the block's bytes differ.
    block_bytes_ = _reencode_uint8(BLOCK_1.encoded, 1)
    assert msgpack.unpackb(block_bytes_) == msgpack.unpackb(BLOCK_1.encoded)
    replay = pack((1, 1, PROPOSAL_ROUND, -1, block_bytes_, PROPOSER, proposal.signature))
    actions = node.on_bytes(replay, 2)
    assert delivered(actions) == [] and reasons(actions) == ["malformed"]


# ---------------------------------------------------------------- state sync


def _sync_response(*committed: CommittedBlock, responder: str = "MEX") -> bytes:
    return encode_sync_response(CHAIN, responder, list(committed), IDS[responder].sign)


def _cert_mixed_rounds(block: Block) -> tuple[Vote, ...]:
    return (certificate(block, ("MEX",), 0) + certificate(block, ("CAN",), 1)
            + certificate(block, ("CHN",), 0))


BAD_CERTIFICATES = {
    "empty": lambda b: (),
    "insufficient": lambda b: certificate(b, ("MEX", "CAN")),
    "one_forged": lambda b: certificate(b, ("CAN", "CHN")) + (
        sign_vote(Step.PRECOMMIT, 1, 0, b.block_id, "MEX", key=OUTSIDER),),
    "all_forged_by_one_peer": lambda b: tuple(
        sign_vote(Step.PRECOMMIT, 1, 0, b.block_id, v, key=IDS["MEX"]) for v in PEERS),
    "zero_signatures": lambda b: tuple(Vote(Step.PRECOMMIT, 1, 0, b.block_id, v, bytes(64))
                                       for v in PEERS),
    "for_another_block": lambda b: tuple(
        Vote(Step.PRECOMMIT, 1, 0, b.block_id, v.voter, v.signature)
        for v in certificate(Block.build(1, GENESIS_HASH, PROPOSER, 6, ()))),
    "prevotes_not_precommits": lambda b: tuple(
        Vote(Step.PRECOMMIT, 1, 0, b.block_id, v.voter, v.signature)
        for v in (sign_vote(Step.PREVOTE, 1, 0, b.block_id, c) for c in PEERS)),
    "another_chain": lambda b: tuple(
        sign_vote(Step.PRECOMMIT, 1, 0, b.block_id, v, chain_id="another-chain") for v in PEERS),
    "repeated_voter": lambda b: certificate(b, ("MEX", "MEX", "MEX")),
    "unknown_voter": lambda b: certificate(b, ("MEX", "CAN")) + (
        sign_vote(Step.PRECOMMIT, 1, 0, b.block_id, "XXX", key=OUTSIDER),),
    "mixed_rounds": _cert_mixed_rounds,
}


def test_sync_response_with_a_valid_certificate_is_applied():
    """The control for the cases below: the same block with a real certificate is applied."""
    node = new_node()
    actions = node.on_bytes(_sync_response(CommittedBlock(BLOCK_1, certificate(BLOCK_1))), 1)
    assert reasons(actions) == []
    assert node.ledger.height == 1 and node.ledger.tip_hash == BLOCK_1.block_id
    assert node.replica.height == 2


@pytest.mark.parametrize("name", sorted(BAD_CERTIFICATES))
def test_sync_response_with_a_bad_certificate_is_not_applied(name):
    node = new_node()
    cert = BAD_CERTIFICATES[name](BLOCK_1)
    actions = node.on_bytes(_sync_response(CommittedBlock(BLOCK_1, cert)), 1)
    assert reasons(actions) == ["bad_certificate"]
    assert node.dropped == {"bad_certificate": 1}
    assert node.ledger.height == 0 and node.replica.height == 1
    assert_goes_on(node, 2)


def test_sync_response_with_a_malformed_certificate_entry_is_malformed():
    node = new_node()
    raw = pack((5, "MEX", ((BLOCK_1.encoded, (("MEX", 0, bytes(10)),)),)))
    assert reasons(node.on_bytes(raw, 1)) == ["malformed"]
    assert node.ledger.height == 0


def test_sync_response_applies_the_good_prefix_and_stops_at_a_forged_block():
    node = new_node()
    block_2 = Block.build(2, BLOCK_1.block_id, "CAN", 6, ())
    forged_2 = tuple(sign_vote(Step.PRECOMMIT, 2, 0, block_2.block_id, v, key=OUTSIDER)
                     for v in PEERS)
    actions = node.on_bytes(_sync_response(CommittedBlock(BLOCK_1, certificate(BLOCK_1)),
                                           CommittedBlock(block_2, forged_2)), 1)
    assert reasons(actions) == ["bad_certificate"]
    assert node.ledger.height == 1


def test_sync_response_with_a_certified_but_invalid_block_is_not_applied():
    """Even a real certificate does not make a block with a forged transaction acceptable."""
    node = new_node()
    block = Block.build(1, GENESIS_HASH, PROPOSER, 5, (sign_tx("MEX", 1, key=OUTSIDER),))
    actions = node.on_bytes(_sync_response(CommittedBlock(block, certificate(block))), 1)
    assert reasons(actions) == ["invalid_block"]
    assert node.ledger.height == 0


def test_sync_response_with_a_block_that_does_not_extend_the_chain_is_a_gap():
    node = new_node()
    stray = Block.build(1, bytes(32), PROPOSER, 5, ())
    far = Block.build(3, GENESIS_HASH, PROPOSER, 5, ())
    for tick, block in enumerate((stray, far), start=1):
        actions = node.on_bytes(_sync_response(CommittedBlock(block, certificate(block))), tick)
        assert reasons(actions) == ["sync_gap"]
    assert node.ledger.height == 0


# ---------------------------------------------------------------- transactions


def test_badly_signed_transactions_in_txs_stay_out_of_the_mempool():
    node = new_node()
    good = sign_tx("MEX", 1)
    bad = [
        sign_tx("MEX", 2, key=IDS["CAN"]),                 # signed by another nation
        sign_tx("MEX", 3, key=OUTSIDER),                   # by a stranger
        sign_tx("XXX", 4, key=OUTSIDER),                   # signer outside the genesis
        sign_tx("CAN", 5, chain_id="another-chain"),       # for another chain
        Transaction.from_wire(CHAIN, ("test", "CHN", 6, b"x", bytes(64))),  # unsigned
    ]
    actions = node.on_bytes(encode_txs("CAN", (bad[0], good, *bad[1:])), 1)
    assert delivered(actions) == [Delivered("txs", "CAN", 1, 0)]
    assert reasons(actions) == ["bad_signature"] * len(bad)
    assert len(node.mempool) == 1 and good.tx_id in node.mempool
    assert all(tx.tx_id not in node.mempool for tx in bad)
    assert node.dropped == {"bad_signature": len(bad)}


def test_transaction_with_a_tampered_payload_stays_out_of_the_mempool():
    node = new_node()
    tx = sign_tx("MEX", 1)
    tampered = Transaction.from_wire(CHAIN, (tx.kind, tx.signer, tx.nonce, b"other payload",
                                             tx.signature))
    assert reasons(node.on_bytes(encode_txs("MEX", (tampered,)), 1)) == ["bad_signature"]
    assert len(node.mempool) == 0


def test_proposed_block_with_a_forged_transaction_is_not_prevoted():
    """A forged transaction does not get in through a proposal either: the node prevotes nil."""
    node = new_node()
    block = Block.build(1, GENESIS_HASH, PROPOSER, 5, (sign_tx("MEX", 1, key=OUTSIDER),))
    actions = node.on_bytes(encode_proposal(sign_proposal(block, PROPOSAL_ROUND, PROPOSER)), 1)
    assert delivered(actions)
    # Bring the node to the proposal's round if it is not round 0: f+1 peers there move it on.
    for tick, voter in enumerate(("MEX", "CAN"), start=2):
        node.on_bytes(nil_prevote_bytes(voter, PROPOSAL_ROUND), tick)
    own_prevotes = [v for v in node.replica.wal_record().own_votes
                    if isinstance(v, Vote) and v.step is Step.PREVOTE
                    and v.round == PROPOSAL_ROUND]
    assert own_prevotes and own_prevotes[0].value_id is None


def test_sync_response_in_another_peers_name_is_rejected():
    """The answer is signed as a whole, responder included: CAN cannot answer as MEX (which
    would make the requester distrust MEX for state sync), nor can anyone change the blocks or
    certificates of MEX's signed answer."""
    node = new_node()
    good = [CommittedBlock(BLOCK_1, certificate(BLOCK_1))]
    forged_responder = encode_sync_response(CHAIN, "MEX", good, IDS["CAN"].sign)
    assert reasons(node.on_bytes(forged_responder, 1)) == ["bad_signature"]
    bad = [CommittedBlock(BLOCK_1, certificate(BLOCK_1, ("MEX",)))]
    forged_bad = encode_sync_response(CHAIN, "MEX", bad, IDS["CAN"].sign)
    assert reasons(node.on_bytes(forged_bad, 2)) == ["bad_signature"]
    _, responder, entries, signature = msgpack.unpackb(_sync_response(*good), use_list=False)
    short = ((entries[0][0], entries[0][1][:1]),)
    tampered = msgpack.packb((5, responder, short, signature), use_bin_type=True)
    assert reasons(node.on_bytes(tampered, 3)) == ["bad_signature"]
    assert node.dropped == {"bad_signature": 3}
    assert node.ledger.height == 0
    assert reasons(node.on_bytes(_sync_response(*good), 4)) == []
    assert node.ledger.height == 1


def test_a_peer_on_another_genesis_is_named_instead_of_a_silent_stall():
    """A genesis with CHN's key swapped: its peers' blocks of height 1 start from another
    genesis hash. The node names the peers it saw that from (its status carries it), and
    still applies nothing from them."""
    from dataclasses import replace

    swapped = Genesis(CHAIN, tuple(replace(n, public_key=OUTSIDER.public_key)
                                   if n.code == "CHN" else n for n in GENESIS.nations))
    theirs = Block.build(1, genesis_hash(swapped), PROPOSER, 5, ())
    node = new_node()
    node.on_bytes(encode_proposal(sign_proposal(theirs, PROPOSAL_ROUND, PROPOSER)), 1)
    assert node.genesis_mismatch == {PROPOSER: 1}
    responder = next(p for p in PEERS if p != PROPOSER)
    node.on_bytes(_sync_response(CommittedBlock(theirs, certificate(theirs)),
                                 responder=responder), 2)
    assert node.genesis_mismatch == {PROPOSER: 1, responder: 1}
    assert node.ledger.height == 0
    node.on_bytes(encode_proposal(sign_proposal(BLOCK_1, PROPOSAL_ROUND, PROPOSER)), 3)
    assert node.genesis_mismatch == {PROPOSER: 1, responder: 1}  # ours: not counted


# ---------------------------------------------------------------- work a Byzantine validator can make
# (issue 17, part 8): proposals far ahead of the node's round are held unvalidated, at a bounded
# count and bytes per sender, and validated only once the round comes near; sync answers are
# rate-limited per requester.

BYZANTINE = "MEX"
TXS_PER_BLOCK = 4  # of 16 KiB payloads: a block of about 64 KiB


def _rounds_of(proposer: str, height: int, first: int, count: int) -> list[int]:
    rounds, r = [], first
    while len(rounds) < count:
        if GENESIS.validators.proposer(height, r) == proposer:
            rounds.append(r)
        r += 1
    return rounds


def _proposal(round_: int, proposer: str = BYZANTINE) -> bytes:
    txs = tuple(sign_tx(proposer, round_ * 100 + i, payload=bytes([i]) * 16_000)
                for i in range(TXS_PER_BLOCK))
    block = Block.build(1, GENESIS_HASH, proposer, 5, txs)
    return encode_proposal(sign_proposal(block, round_, proposer))


def test_a_flood_of_proposals_far_ahead_is_held_at_bounded_cost_and_not_validated():
    rounds = _rounds_of(BYZANTINE, 1, PROPOSAL_ROUNDS_NEAR + 1, 240)  # all within 1,000
    messages = [_proposal(r) for r in rounds]
    # No decode cache or transaction memo, so what is measured is what the node keeps (they
    # are bounded in bytes on their own, tests/nodes/test_memory_bounds.py).
    node = Node(IDS[ME], GENESIS, VerifyCache(scheme=SCHEME), decoder=DecodeCache(CHAIN, entries_max=0))
    node.start(0)
    node.on_bytes(_proposal(_rounds_of(BYZANTINE, 1, 0, 1)[0]), 1)  # warm up
    misses = node.verifier.misses
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for data in messages:
            node.on_bytes(data, 2)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # One signature check a proposal, and no block validated (validating one checks its four
    # transaction signatures): on main it was 240 + 960.
    assert node.verifier.misses - misses == len(messages)
    assert all(node.replica.proposal(r) is None for r in rounds)
    # The nearest few wait; the rest were dropped and counted.
    assert node.dropped["ahead_full"] == len(messages) - PROPOSALS_HELD_PER_SENDER_MAX
    # About 15 MiB of blocks went in; what stays is at most the sender's held share.
    assert growth < PROPOSALS_HELD_PER_SENDER_MAX * 80_000 + 1_000_000, growth
    assert PROPOSALS_HELD_PER_SENDER_MAX * 80_000 <= PROPOSAL_BYTES_HELD_PER_SENDER_MAX


def test_a_held_proposal_is_validated_and_voted_on_once_the_round_comes():
    node = new_node()
    round_ = _rounds_of(BYZANTINE, 1, PROPOSAL_ROUNDS_NEAR + 5, 1)[0]
    data = _proposal(round_)
    block_id = decode(CHAIN, data).value_id
    assert reasons(node.on_bytes(data, 1)) == []
    assert node.replica.proposal(round_) is None  # held, not given to the core
    # Two of four validators at that round: more than 1/3 of the power, the core skips to it
    # (line 55), and the held proposal goes to the core then.
    out = []
    for voter in ("CAN", "CHN"):
        out += node.on_bytes(encode_vote(sign_vote(Step.PREVOTE, 1, round_, None, voter)), 2)
    assert node.replica.round == round_
    assert node.replica.proposal(round_) is not None
    prevotes = [decode(CHAIN, a.data) for a in out if isinstance(a, SendAll)
                and a.kind == "prevote"]
    assert [(v.round, v.value_id, v.voter) for v in prevotes] == [(round_, block_id, ME)]


def test_an_evicted_proposal_counts_when_sent_again_near_its_round():
    node = new_node()
    rounds = _rounds_of(BYZANTINE, 1, PROPOSAL_ROUNDS_NEAR + 1, PROPOSALS_HELD_PER_SENDER_MAX + 1)
    for r in rounds[1:]:
        node.on_bytes(_proposal(r), 1)
    nearest = _proposal(rounds[0])
    assert reasons(node.on_bytes(nearest, 1)) == ["ahead_full"]  # evicts the farthest
    farthest = _proposal(rounds[-1])
    # Its digest was forgotten: the same bytes again are not a duplicate.
    assert reasons(node.on_bytes(farthest, 1)) == ["ahead_full"]


def _node_with_blocks(count: int) -> Node:
    node = new_node()
    for height in range(1, count + 1):
        block = Block.build(height, node.ledger.tip_hash, "CAN", height, (),
                            node.chaincode.state.root)
        node.on_bytes(_sync_response(CommittedBlock(block, certificate(block)),
                                     responder="CAN"), height)
    assert node.ledger.height == count
    return node


def test_sync_answers_are_rate_limited_per_requester():
    node = _node_with_blocks(3)
    now = 10
    requests = [sign_sync_request(BYZANTINE, 1, nonce=n) for n in range(100)]
    answers = [a for data in requests for a in node.on_bytes(data, now) if isinstance(a, SendTo)]
    assert len(answers) == SYNC_ANSWERS_BURST
    assert node.dropped["sync_rate_limited"] == 100 - SYNC_ANSWERS_BURST
    # Another requester has its own bucket.
    other = node.on_bytes(sign_sync_request("CHN", 1, nonce=1), now)
    assert [a.dst for a in other if isinstance(a, SendTo)] == ["CHN"]
    # The bucket refills with time: one answer per SYNC_ANSWER_TICKS.
    later = node.on_bytes(sign_sync_request(BYZANTINE, 1, nonce=1000), now + SYNC_ANSWER_TICKS)
    assert [a.dst for a in later if isinstance(a, SendTo)] == [BYZANTINE]
