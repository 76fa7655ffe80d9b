"""The precursor workload and its oracle: trade plans along the lanes, injected diversions, the
route graph, custody queries and the domain oracle.
"""
