"""Everything one nation runs: identity, codec, transactions, blocks, ledger, mempool, node."""

from .block import BLOCK_TXS_MAX, Block, BlockError, CommittedBlock, merkle_root, vote_sign_bytes
from .codec import CodecError, pack, unpack
from .genesis import Genesis, GenesisError, GenesisNation
from .identity import Identity, VerifyCache, verify_signature
from .ledger import Ledger, LedgerError, certificate_error, genesis_hash
from .chaincode import Chaincode, DomainConfig, DomainState, Flag, NationRules, TxResult
from .events import EVENT_KINDS, Event, EventError, decode_event, encode_event, event_body
from .mempool import Mempool
from .registry import (
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
from .node import (
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
from .shared import SharedApplication
from .storage import MemoryStorage, StorageError
from .sqlite_storage import SQLiteStorage
from .records import RecordError, decode_wal, encode_wal
from .brokerconf import (
    BrokerConfig,
    BrokerError,
    BrokerProcess,
    find_mosquitto,
    free_port,
    load_broker_config,
    spawn_broker,
    write_broker_config,
)
from .keyfile import KeyFileError, read_key, write_key
from .tx import Transaction, TxError
from .wire import WireError, decode, encode_txs, kind_of

__all__ = [
    "BLOCK_TXS_MAX", "Block", "BlockError", "CommittedBlock", "merkle_root", "vote_sign_bytes",
    "CodecError", "pack", "unpack", "Genesis", "GenesisError", "GenesisNation", "Identity",
    "VerifyCache", "verify_signature", "Ledger", "LedgerError", "certificate_error",
    "genesis_hash", "Mempool", "Action", "Committed", "Delivered", "Dropped", "Misbehaviour",
    "Node", "NodeConfig", "SendAll", "SendTo", "MemoryStorage", "SharedApplication",
    "Transaction", "TxError",
    "WireError", "decode", "encode_txs", "kind_of",
    "Chaincode", "DomainConfig", "DomainState", "Flag", "NationRules", "TxResult",
    "EVENT_KINDS", "Event", "EventError", "decode_event", "encode_event", "event_body",
    "Chemical", "Lane", "Nation", "Registry", "RegistryError", "cas_check_digit_ok",
    "load_lanes", "load_nations", "load_registry", "un_members",
    "BrokerConfig", "BrokerError", "BrokerProcess", "find_mosquitto", "free_port",
    "load_broker_config", "spawn_broker", "write_broker_config",
    "KeyFileError", "read_key", "write_key",
    "StorageError", "SQLiteStorage", "RecordError", "decode_wal", "encode_wal",
]
