"""The benchmarks behind `make bench`: the simulated world, the live cluster and SQLite.
"""
