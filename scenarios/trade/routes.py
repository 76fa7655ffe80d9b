"""The trade-route graph: nations as nodes, lanes as mass-weighted paths (networkx).

Every lane `from -> via... -> to` adds its share of the exporter's precursor mass to each hop
on its path, so an edge's `mass_share` is the share of all shipped mass (weighted by the
exporters' `source_weight`) that crosses it. Node attributes say whether a nation keeps records
(`member`) and how much mass passes through it. The weak-link analysis builds on this graph.
"""

from __future__ import annotations

import networkx as nx

from nodes.app.registry import Lane


def route_graph(lanes: list[Lane], members: set[str] | frozenset[str],
                source_weight: dict[str, float] | None = None) -> nx.DiGraph:
    """Build the directed route graph. `source_weight` defaults to equal weight per exporter."""
    exporters = sorted({lane.from_ for lane in lanes})
    weight = source_weight or {e: 1.0 / len(exporters) for e in exporters}
    graph = nx.DiGraph()
    for lane in lanes:
        share = lane.share * weight.get(lane.from_, 0.0)
        path = lane.path
        for nation in path:
            if nation not in graph:
                graph.add_node(nation, member=nation in members, mass_share=0.0)
            graph.nodes[nation]["mass_share"] += share
        for a, b in zip(path, path[1:]):
            if graph.has_edge(a, b):
                graph[a][b]["mass_share"] += share
            else:
                graph.add_edge(a, b, mass_share=share)
    return graph


def dark_nations(graph: nx.DiGraph) -> list[tuple[str, float]]:
    """Nations on the routes that keep no records, with the mass share passing through them."""
    return sorted(((n, round(d["mass_share"], 6)) for n, d in graph.nodes(data=True)
                   if not d["member"]), key=lambda item: (-item[1], item[0]))
