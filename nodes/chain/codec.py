"""The canonical encoding: msgpack of fixed-order arrays, `use_bin_type=True`.

Signatures cover these bytes, so encoding must be canonical: the same value always gives the same
bytes. We only ever pack tuples/lists, ints, str, bytes, bool and None, never maps, so msgpack's
output is already unique, and decoding refuses any other encoding of the same value. Decoding is
where hostile bytes arrive, so it always runs with limits and turns every failure into one
`CodecError`.
"""

from __future__ import annotations

import msgpack

# A proposal carries its block as one binary field: BIN_BYTES_MAX bounds a block's bytes (big
# blocks amortise a height's O(n^2) votes, see nodes/chain/block.py), and a message holds one such
# field plus the rest.
MESSAGE_BYTES_MAX = 12 * 1024 * 1024
STR_BYTES_MAX = 256
BIN_BYTES_MAX = 8 * 1024 * 1024
ARRAY_LEN_MAX = 100_000


class CodecError(ValueError):
    """Bytes that are not a well-formed message (a RemoteProtocolError: the peer's fault)."""


def pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes, *, bytes_max: int = MESSAGE_BYTES_MAX) -> object:
    """Decode untrusted bytes with hard limits; raise CodecError on anything malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    if len(data) > bytes_max:
        raise CodecError(f"message of {len(data)} bytes exceeds the limit of {bytes_max}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,
            strict_map_key=True,
            max_str_len=STR_BYTES_MAX,
            max_bin_len=BIN_BYTES_MAX,
            max_array_len=ARRAY_LEN_MAX,
            max_map_len=0,
            max_ext_len=0,
        )
        # Accept only the canonical encoding. msgpack can spell one value several ways (1 as
        # 0x01 or 0xcc 0x01, a short str as str8...), and nodes recognise replays by the digest
        # of a message's bytes: a re-encoded copy of a signed vote or proposal (or of the block
        # inside one) would otherwise pass as new and be delivered again, uncounted. Packing
        # is inside the `try` because it refuses nesting the unpacker allowed (ValueError).
        canonical = pack(value) == data
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError,
            UnicodeDecodeError, OverflowError) as exc:
        raise CodecError(f"malformed msgpack: {exc.__class__.__name__}: {exc}") from None
    if not canonical:
        raise CodecError("msgpack is not in its canonical encoding")
    return value
