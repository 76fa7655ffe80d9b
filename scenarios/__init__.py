"""Scenarios: everything above one nation's node.

The packages, from the bottom up (docs/architecture.md draws the arrows):

- `spec`: the scenario language (schema, loader, writer);
- `sim`: the simulation kernel (world, network, trace, oracles), with the workload and fleet
  contracts it is extended by;
- `trade`: the precursor workload and its domain oracle, a workload of the kernel;
- `assemble`: `build_world`, the one place that joins the kernel, the behaviours and the trade;
- `faults`: Byzantine behaviours, adversaries and mutants, all through `nodes.hooks`;
- `search`, `studies`, `cluster`, `report`, `bench`: what runs many worlds or real nodes;
- `cli`: the `chemtrace` command; `api`: the public API for scenario scripts.
"""
