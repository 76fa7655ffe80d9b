"""The simulation kernel: the world's event loop, the network model, named random streams, the
trace, the consensus oracles and the hand-driven world.
"""
