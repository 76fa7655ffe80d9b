"""Studies made of many runs: scenario variants, weak links and sweeps (local or on Dask).
"""
