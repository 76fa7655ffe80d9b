"""Scenarios: everything above one nation's node.

The packages, from the bottom up (docs/architecture.md draws the arrows):

- `spec`: the scenario language (schema, loader, writer);
- `sim`: the simulation kernel (world, network, trace, oracles);
- `trade`: the precursor workload and its domain oracle;
- `faults`: Byzantine behaviours, adversaries and mutants, all through `nodes.hooks`;
- `search`, `studies`, `cluster`, `report`, `bench`: what runs many worlds or real nodes;
- `cli`: the `chemtrace` command; `api`: the public API for scenario scripts.
"""
