"""The chain a node keeps: canonical encoding, identities, transactions, blocks, genesis, ledger, mempool and storage.

Imports consensus and nothing else of the project.
"""
