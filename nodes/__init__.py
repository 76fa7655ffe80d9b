"""One nation: its chain (`chain`), its wire formats (`wire`), the precursor application (`app`),
the sans-I/O node (`node`) and the declared points where its behaviour may change (`hooks`).

The live adapters (asyncio, MQTT, SQLite, broker processes, key files) are in `nodes.live` and
are not re-exported here: importing `nodes` never loads them."""

from nodes.chain.block import BLOCK_TXS_MAX, Block, BlockError, CommittedBlock, merkle_root, vote_sign_bytes
from nodes.chain.codec import CodecError, pack, unpack
from nodes.chain.genesis import Genesis, GenesisError, GenesisNation
from nodes.chain.identity import Identity, VerifyCache, verify_signature
from nodes.chain.ledger import Ledger, LedgerError, certificate_error, genesis_hash
from nodes.app.chaincode import Chaincode, DomainConfig, DomainState, Flag, NationRules, TxResult
from nodes.app.events import EVENT_KINDS, Event, EventError, decode_event, encode_event, event_body
from nodes.chain.mempool import Mempool
from nodes.app.registry import (
    Chemical,
    Lane,
    Nation,
    Registry,
    RegistryError,
    cas_check_digit_ok,
    load_lanes,
    load_nations,
    load_registry,
    un_members,
)
from nodes.node import (
    Action,
    Committed,
    Delivered,
    Dropped,
    Misbehaviour,
    Node,
    NodeConfig,
    SendAll,
    SendTo,
)
from nodes.hooks import NodeHooks
from nodes.app.shared import SharedApplication
from nodes.chain.storage import MemoryStorage, StorageError
from nodes.wire.records import RecordError, decode_wal, encode_wal
from nodes.chain.tx import Transaction, TxError
from nodes.wire.messages import WireError, decode, encode_txs, kind_of

__all__ = [
    "BLOCK_TXS_MAX", "Block", "BlockError", "CommittedBlock", "merkle_root", "vote_sign_bytes",
    "CodecError", "pack", "unpack", "Genesis", "GenesisError", "GenesisNation", "Identity",
    "VerifyCache", "verify_signature", "Ledger", "LedgerError", "certificate_error",
    "genesis_hash", "Mempool", "Action", "Committed", "Delivered", "Dropped", "Misbehaviour",
    "Node", "NodeConfig", "NodeHooks", "SendAll", "SendTo", "MemoryStorage", "SharedApplication",
    "Transaction", "TxError",
    "WireError", "decode", "encode_txs", "kind_of",
    "Chaincode", "DomainConfig", "DomainState", "Flag", "NationRules", "TxResult",
    "EVENT_KINDS", "Event", "EventError", "decode_event", "encode_event", "event_body",
    "Chemical", "Lane", "Nation", "Registry", "RegistryError", "cas_check_digit_ok",
    "load_lanes", "load_nations", "load_registry", "un_members",
    "StorageError", "RecordError", "decode_wal", "encode_wal",
]
