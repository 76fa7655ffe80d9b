"""Everything one nation runs: identity, codec, transactions, blocks, ledger, mempool, node."""

from .block import BLOCK_TXS_MAX, Block, BlockError, CommittedBlock, merkle_root, vote_sign_bytes
from .codec import CodecError, pack, unpack
from .genesis import Genesis, GenesisError, GenesisNation
from .identity import Identity, VerifyCache, verify_signature
from .ledger import Ledger, LedgerError, certificate_error, genesis_hash
from .mempool import Mempool
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
from .storage import MemoryStorage
from .tx import Transaction, TxError
from .wire import WireError, decode, encode_txs, kind_of

__all__ = [
    "BLOCK_TXS_MAX", "Block", "BlockError", "CommittedBlock", "merkle_root", "vote_sign_bytes",
    "CodecError", "pack", "unpack", "Genesis", "GenesisError", "GenesisNation", "Identity",
    "VerifyCache", "verify_signature", "Ledger", "LedgerError", "certificate_error",
    "genesis_hash", "Mempool", "Action", "Committed", "Delivered", "Dropped", "Misbehaviour",
    "Node", "NodeConfig", "SendAll", "SendTo", "MemoryStorage", "Transaction", "TxError",
    "WireError", "decode", "encode_txs", "kind_of",
]
