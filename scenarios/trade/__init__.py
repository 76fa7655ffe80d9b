"""The precursor workload and its oracle: trade plans along the lanes, injected diversions, the
route graph, custody queries, the domain oracle, and `runner.TradeWorkload`, which plugs all of
it into the simulation kernel (see `scenarios.sim.workload`).
"""
