"""The precursor application: the chemical registry, custody events, the chaincode that applies them,
and the work the honest nodes of one process share.

Imports nodes.chain. Knows nothing of consensus rounds or of the network.
"""
