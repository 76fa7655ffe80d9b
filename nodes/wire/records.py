"""Byte formats for what a node keeps on disk: commit certificates and the write-ahead record.

Theory of operation
-------------------

Blocks already have their canonical bytes (`Block.encoded`), and certificates their wire form
(`certificate_to_wire`), so a stored block is those two, re-checked on the way back in exactly
as a block from a peer is. The consensus write-ahead record (`consensus.WalRecord`: the round and
step, the lock, the valid value and this node's own proposals and votes of the height) had no
byte form until the live runtime had to put it on disk. It is one canonical msgpack array:

    [2, height, round, step, locked_round, locked_value_id|nil, locked_ref|nil,
     valid_round, valid_value_id|nil, valid_ref|nil, [block_bytes, ...], [own, ...],
     [justifying, ...]]

    own = [2, step, height, round, value_id|nil, voter, signature]          a vote
        | [0, height, round, valid_round, value_ref, value_id, proposer, signature]  a proposal

`justifying` has the same two forms, for others' signed messages behind the lock and the valid
value (`Replica.justifying`: the proposal of those rounds and its polka); their signatures are
always there, and the node checks them again when it reads the record. Format 1, written before
the record kept them, has no thirteenth field and still reads (with none).

The values (blocks) are stored once in the `block_bytes` table and referred to by index
(`*_ref`): the locked value, the valid value and this node's proposals are usually one block,
and the record is rewritten at every vote, so writing it three times would triple the bytes
persisted before each send. Own messages are kept unsigned, as the replica holds them (the node
signs at send time; Ed25519 signatures are deterministic, so a re-sent vote has the same bytes).

Decoding trusts nothing it reads: limits on every size, types checked field by field, each
block re-decoded (its Merkle root re-checked) and every reference and value id checked against
it. A record that fails raises `RecordError`, which the storage turns into an error naming its
file.
"""

from __future__ import annotations

from consensus import Proposal, Step, Vote, WalRecord

from nodes.chain.block import HASH_BYTES, Block, BlockError, certificate_from_wire, certificate_to_wire
from nodes.chain.codec import CodecError, pack, unpack
from nodes.chain.identity import SIGNATURE_BYTES

WAL_FORMAT = 2
WAL_FORMAT_NO_JUSTIFYING = 1
WAL_BYTES_MAX = 64 * 1024 * 1024
WAL_VALUES_MAX = 1024
WAL_OWN_MAX = 100_000
CERTIFICATE_BYTES_MAX = 1024 * 1024
_OWN_PROPOSAL, _OWN_VOTE = 0, 2


class RecordError(ValueError):
    """Stored bytes that do not decode: the file was damaged or written by something else."""


# --------------------------------------------------------------------------- certificates


def encode_certificate(certificate: tuple[Vote, ...]) -> bytes:
    return pack(certificate_to_wire(certificate))


def decode_certificate(height: int, block_id: bytes, data: bytes) -> tuple[Vote, ...]:
    try:
        return certificate_from_wire(height, block_id,
                                     unpack(data, bytes_max=CERTIFICATE_BYTES_MAX))
    except (CodecError, BlockError) as exc:
        raise RecordError(f"certificate of block {height}: {exc}") from None


# --------------------------------------------------------------------------- write-ahead record


def encode_wal(record: WalRecord) -> bytes:
    """The canonical bytes of `record`. Values must be `Block`s (the node's only kind)."""
    values: list[bytes] = []
    refs: dict[bytes, int] = {}

    def ref(value: object, value_id: bytes | None) -> int | None:
        if value is None:
            return None
        if not isinstance(value, Block):
            raise RecordError(f"a write-ahead value must be a Block, got {type(value).__name__}")
        if value_id is not None and value_id != value.block_id:
            raise RecordError("a write-ahead value id differs from its block's id")
        index = refs.get(value.block_id)
        if index is None:
            index = refs[value.block_id] = len(values)
            values.append(value.encoded)
        return index

    locked_ref = ref(record.locked_value, record.locked_value_id)
    valid_ref = ref(record.valid_value, record.valid_value_id)

    def message_row(message: object) -> tuple:
        if isinstance(message, Proposal):
            return (_OWN_PROPOSAL, message.height, message.round, message.valid_round,
                    ref(message.value, message.value_id), message.value_id, message.proposer,
                    message.signature)
        if isinstance(message, Vote):
            return (_OWN_VOTE, int(message.step), message.height, message.round,
                    message.value_id, message.voter, message.signature)
        raise RecordError(f"a write-ahead message must be a Proposal or a Vote, got "
                          f"{type(message).__name__}")

    own = tuple(message_row(m) for m in record.own_votes)
    justifying = tuple(message_row(m) for m in record.justification)
    return pack((WAL_FORMAT, record.height, record.round, int(record.step), record.locked_round,
                 record.locked_value_id, locked_ref, record.valid_round, record.valid_value_id,
                 valid_ref, tuple(values), own, justifying))


def decode_wal(chain_id: str, data: bytes) -> WalRecord:
    """Parse stored write-ahead bytes; raise RecordError for anything malformed."""
    try:
        raw = unpack(data, bytes_max=WAL_BYTES_MAX)
    except CodecError as exc:
        raise RecordError(f"write-ahead record: {exc}") from None
    if not isinstance(raw, tuple) or not (
            (len(raw) == 13 and raw[0] == WAL_FORMAT)
            or (len(raw) == 12 and raw[0] == WAL_FORMAT_NO_JUSTIFYING)):
        raise RecordError(f"write-ahead record: expected format {WAL_FORMAT} with 13 fields "
                          f"(or {WAL_FORMAT_NO_JUSTIFYING} with 12)")
    (_, height, round_, step, locked_round, locked_id, locked_ref, valid_round, valid_id,
     valid_ref, raw_values, raw_own) = raw[:12]
    raw_justifying = raw[12] if len(raw) == 13 else ()
    _natural(height, "height", 1)
    _natural(round_, "round", 0)
    step = _step(step, (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT))
    _natural(locked_round, "locked_round", -1)
    _natural(valid_round, "valid_round", -1)
    if not isinstance(raw_values, tuple) or len(raw_values) > WAL_VALUES_MAX:
        raise RecordError(f"write-ahead record: at most {WAL_VALUES_MAX} values")
    values = []
    for item in raw_values:
        if not isinstance(item, bytes):
            raise RecordError("write-ahead record: a value is block bytes")
        try:
            values.append(Block.decode(chain_id, item))
        except BlockError as exc:
            raise RecordError(f"write-ahead record value: {exc}") from None

    def value(ref: object, value_id: object, name: str) -> Block | None:
        _hash_or_nil(value_id, f"{name}_value_id")
        if ref is None:
            return None
        if not _int(ref) or not 0 <= ref < len(values):
            raise RecordError(f"write-ahead record: {name} refers to no stored value")
        block = values[ref]
        if block.block_id != value_id:
            raise RecordError(f"write-ahead record: {name}_value_id is not its block's id")
        return block

    locked = value(locked_ref, locked_id, "locked")
    valid = value(valid_ref, valid_id, "valid")

    def messages(rows: object, what: str, signed: bool) -> tuple[Proposal | Vote, ...]:
        if not isinstance(rows, tuple) or len(rows) > WAL_OWN_MAX:
            raise RecordError(f"write-ahead record: at most {WAL_OWN_MAX} {what} messages")
        out: list[Proposal | Vote] = []
        for item in rows:
            if not isinstance(item, tuple) or not item:
                raise RecordError(f"write-ahead record: an {what} message is an array")
            if item[0] == _OWN_VOTE and len(item) == 7:
                _, v_step, v_height, v_round, v_id, voter, signature = item
                _natural(v_height, "vote height", 1)
                _natural(v_round, "vote round", 0)
                _hash_or_nil(v_id, "vote value_id")
                _name_and_signature(voter, signature, signed)
                out.append(Vote(_step(v_step, (Step.PREVOTE, Step.PRECOMMIT)), v_height,
                                v_round, v_id, voter, signature))
            elif item[0] == _OWN_PROPOSAL and len(item) == 8:
                _, p_height, p_round, p_valid_round, p_ref, p_id, proposer, signature = item
                _natural(p_height, "proposal height", 1)
                _natural(p_round, "proposal round", 0)
                _natural(p_valid_round, "proposal valid_round", -1)
                if p_id is None:
                    raise RecordError("write-ahead record: a proposal needs a value id")
                block = value(p_ref, p_id, "proposal")
                _name_and_signature(proposer, signature, signed)
                out.append(Proposal(p_height, p_round, block, p_id, p_valid_round, proposer,
                                    signature))
            else:
                raise RecordError(f"write-ahead record: an {what} message is a vote (7 fields) "
                                  "or a proposal (8 fields)")
        return tuple(out)

    own = messages(raw_own, "own", signed=False)
    justifying = messages(raw_justifying, "justifying", signed=True)
    return WalRecord(height, round_, step, locked, locked_id, locked_round, valid, valid_id,
                     valid_round, own, justifying)


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _natural(value: object, name: str, lowest: int) -> None:
    if not _int(value) or not lowest <= value < 2**63:  # type: ignore[operator]
        raise RecordError(f"write-ahead record: {name} must be an integer >= {lowest}")


def _step(value: object, allowed: tuple[Step, ...]) -> Step:
    if not _int(value) or value not in [int(s) for s in allowed]:
        raise RecordError(f"write-ahead record: step must be one of "
                          f"{', '.join(str(int(s)) for s in allowed)}")
    return Step(value)


def _hash_or_nil(value: object, name: str) -> None:
    if value is not None and (not isinstance(value, bytes) or len(value) != HASH_BYTES):
        raise RecordError(f"write-ahead record: {name} must be nil or {HASH_BYTES} bytes")


def _name_and_signature(name: object, signature: object, signed: bool = False) -> None:
    if not isinstance(name, str):
        raise RecordError("write-ahead record: a sender is a string")
    # Own messages are stored unsigned (b"") as the replica keeps them; a signed one is 64 bytes.
    # Others' (justifying) messages are always signed.
    allowed = (SIGNATURE_BYTES,) if signed else (0, SIGNATURE_BYTES)
    if not isinstance(signature, bytes) or len(signature) not in allowed:
        raise RecordError("write-ahead record: a signature is "
                          + ("" if signed else "empty or ") + f"{SIGNATURE_BYTES} bytes")
