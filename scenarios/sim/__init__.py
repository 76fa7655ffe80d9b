"""The simulation kernel: the world's event loop, the network model, named random streams, the
trace, the consensus oracles and the hand-driven world; the contracts by which a workload
(`workload.py`) and a fleet of nodes run elsewhere (`fleet.py`) plug into it. It knows nothing
of chemicals: `scenarios.trade` is one workload.
"""
