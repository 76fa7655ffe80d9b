"""What crosses the network and the disk: signed message formats and the records a node persists.

Imports nodes.chain and consensus.
"""
