"""Weak links: which nations, if they stay out or turn corrupt, break the system?

Three layers, each answered separately and written to `weak_links.json`:

1. **Structure** (networkx, no simulation). The trade-route graph weighted by the mass the
   scenario's trade puts on each lane. Per nation: the mass passing through it, the mass whose
   *every* route between its exporter and importer passes through it (no way around), and its
   betweenness between exporters and importers. Then, for each size k up to K, the set of k
   nations whose removal leaves the most mass untraceable (a lane through any removed nation
   is dark).
2. **Consensus** (arithmetic on the genesis powers). The smallest coalitions whose absence stops
   liveness (more than 1/3 of the power) and whose corruption can break safety (1/3 or more),
   with weights, and how many coalitions of that size there are.
3. **Simulation**. The scenario is run as it is (the baseline), then once per nation and per top
   structural set with those nations opted out, and once with them corrupt (a single nation:
   `false_report`; a set: `collude`). Each run gives leaked mass, traced share, detection rate,
   commit latency and liveness; the ranking orders them by `impact_kg`: the mass the change
   takes out of honest, complete custody compared with the baseline (untraced plus leaked).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import networkx as nx

from scenarios.spec.loader import load_scenario
from scenarios.spec.schema import BehaviourKind
from scenarios.studies.variants import Task, VariantError, read_raw, run_all, variant_text

COMBINATIONS_MAX = 20_000
SETS_PER_SIZE = 3


def lane_masses(world) -> dict[tuple, float]:
    """Kilograms the scenario's planned trade puts on each lane (from, via..., to)."""
    mass: dict[tuple, float] = {}
    for plan in world.workload.plans:
        if plan.diversion is not None:
            continue
        key = plan.lane.path
        mass[key] = mass.get(key, 0.0) + plan.quantity_g / 1000
    return mass


def structure(world, k_max: int) -> dict:
    masses = lane_masses(world)
    total = sum(masses.values()) or 1.0
    graph = nx.DiGraph()
    for path, kg in masses.items():
        for a, b in zip(path, path[1:]):
            w = graph[a][b]["kg"] + kg if graph.has_edge(a, b) else kg
            graph.add_edge(a, b, kg=w)
    nations = sorted({n for path in masses for n in path})
    through = {n: sum(kg for p, kg in masses.items() if n in p) for n in nations}
    pairs: dict[tuple[str, str], list[tuple]] = {}
    for path in masses:
        pairs.setdefault((path[0], path[-1]), []).append(path)
    unavoidable = {n: 0.0 for n in nations}
    transit_unavoidable = {n: 0.0 for n in nations}
    for (src, dst), paths in pairs.items():
        pair_kg = sum(masses[p] for p in paths)
        for n in nations:
            if all(n in p for p in paths):
                unavoidable[n] += pair_kg
                if n not in (src, dst):
                    transit_unavoidable[n] += pair_kg
    sources = sorted({p[0] for p in masses})
    targets = sorted({p[-1] for p in masses})
    betweenness = nx.betweenness_centrality_subset(graph, sources, targets, normalized=False) \
        if graph.number_of_nodes() else {}
    per_nation = [{
        "nation": n,
        "mass_through_kg": round(through[n], 3),
        "mass_through_pct": round(100 * through[n] / total, 2),
        "unavoidable_kg": round(unavoidable[n], 3),
        "transit_unavoidable_kg": round(transit_unavoidable[n], 3),
        "betweenness": round(betweenness.get(n, 0.0), 4),
    } for n in nations]
    expected = expected_transit_shares(world)
    for row in per_nation:
        row["expected_transit_pct"] = round(100 * expected.get(row["nation"], 0.0), 2)
    per_nation.sort(key=lambda r: (-r["mass_through_kg"], -r["betweenness"], r["nation"]))
    removal = []
    transit = sorted({n for path in masses for n in path[1:-1]})
    for k in range(1, k_max + 1):
        removal.append({"size": k, "best": _best_removals(masses, nations, k),
                        # exporters and importers darken their own trade trivially; the
                        # transit-only sets answer "which hubs matter"
                        "best_transit": _best_removals(masses, transit, k, transit_only=True)
                        if len(transit) >= k else []})
    return {"total_kg": round(total, 3), "nations": per_nation, "removal_sets": removal,
            "transit_nations": transit,
            "expected_transit_ranking": [
                {"nation": n, "expected_transit_pct": round(100 * share, 2)}
                for n, share in sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))]}


def expected_transit_shares(world) -> dict[str, float]:
    """Each nation's expected share of the licit mass that crosses it as a transit: the sum,
    over the lanes through it, of source share x lane share (what the lanes are drawn to
    carry on average; the sampled plan scatters around it, consignments being heavy-tailed)."""
    workload = world.workload
    participants = set(world.scenario.nation_ids)
    out: dict[str, float] = {}
    for lane in workload.lanes:
        if lane.from_ not in participants or lane.to not in participants:
            continue
        share = workload.source_shares.get(lane.from_, 0.0) * lane.share
        for nation in lane.via:
            out[nation] = out.get(nation, 0.0) + share
    return out


def _best_removals(masses: dict[tuple, float], nations: list[str], k: int,
                   transit_only: bool = False) -> list[dict]:
    def dark(removed: frozenset) -> float:
        # transit_only: a set darkens the lanes it carries as transit, not its own trade
        return sum(kg for path, kg in masses.items()
                   if removed.intersection(path[1:-1] if transit_only else path))
    if math.comb(len(nations), k) <= COMBINATIONS_MAX:
        candidates = (frozenset(c) for c in itertools.combinations(nations, k))
        scored = sorted(((dark(c), sorted(c)) for c in candidates), key=lambda s: (-s[0], s[1]))
    else:  # too many sets: grow the best set greedily
        chosen: frozenset = frozenset()
        for _ in range(k):
            best = max((n for n in nations if n not in chosen),
                       key=lambda n: (dark(chosen | {n}), n))
            chosen = chosen | {best}
        scored = [(dark(chosen), sorted(chosen))]
    total = sum(masses.values()) or 1.0
    return [{"nations": names, "untraceable_kg": round(kg, 3),
             "untraceable_pct": round(100 * kg / total, 2)}
            for kg, names in scored[:SETS_PER_SIZE]]


def consensus_layer(powers: list[tuple[str, int]]) -> dict:
    total = sum(p for _, p in powers)
    out = {"total_power": total,
           "nations": [{"nation": n, "power": p, "power_share": round(p / total, 4)}
                       for n, p in sorted(powers, key=lambda np: (-np[1], np[0]))]}
    for name, strictly in (("liveness", True), ("safety", False)):
        # Liveness stops when the absent hold more than 1/3; safety can break at 1/3 or more.
        def breaks(power: int) -> bool:
            return 3 * power > total if strictly else 3 * power >= total
        ordered = sorted(powers, key=lambda np: (-np[1], np[0]))
        size, acc = 0, 0
        for _, p in ordered:
            if breaks(acc):
                break
            acc += p
            size += 1
        examples: list[dict] = []
        count = 0
        if math.comb(len(powers), size) <= COMBINATIONS_MAX:
            for combo in itertools.combinations(sorted(powers), size):
                power = sum(p for _, p in combo)
                if breaks(power):
                    count += 1
                    if len(examples) < 10:
                        examples.append({"nations": [n for n, _ in combo], "power": power})
        else:
            count = None
            examples.append({"nations": [n for n, _ in ordered[:size]],
                             "power": sum(p for _, p in ordered[:size])})
        out[name] = {"smallest_size": size, "coalitions_of_that_size": count,
                     "examples": examples,
                     "threshold": ("more than 1/3" if strictly else "at least 1/3") + " of "
                                  f"{total}"}
    return out


def study(path: Path, k_max: int, workers: int, out: Path, progress=None,
          transit_only: bool = False) -> dict:
    """`transit_only`: simulate only the nations that carry trade as transit hubs (on some
    lane's `via`) and the transit-only removal sets: "which hubs matter", with the sources
    carrying their shares of the mass."""
    from scenarios.assemble import build_world
    base, _ = read_raw(path)
    scenario = load_scenario(path)
    world = build_world(scenario)  # plans the trade; not run
    struct = structure(world, k_max)
    cons = consensus_layer(list(scenario.nations))
    members = set(scenario.nation_ids)
    candidates = [n for n in scenario.nation_ids
                  if not transit_only or n in struct["transit_nations"]]
    if transit_only and not candidates:
        raise VariantError(f"{path}: no nation of the scenario is a transit nation of its "
                           "lanes; run without --transit-only")
    singles = [[n] for n in candidates]
    sets = []
    for entry in struct["removal_sets"][1:]:
        for best in (entry["best_transit"] if transit_only
                     else entry["best"] + entry["best_transit"]):
            names = [n for n in best["nations"] if n in members]
            if len(names) >= 2 and names not in sets:
                sets.append(names)
    tasks = [Task("baseline", variant_text(base, []), str(out / "variants" / "baseline.toml"),
                  (("mode", "baseline"), ("nations", "")))]
    for names in singles + sets:
        tag = "+".join(names)
        opt_out = {"nations": names, "kind": "opt_out"}
        tasks.append(Task(f"opt_out {tag}", _with_behaviour(base, opt_out, names),
                          str(out / "variants" / f"opt_out-{tag}.toml"),
                          (("mode", "opt_out"), ("nations", tag))))
        corrupt = ({"nations": names, "kind": "false_report",
                    "params": {"rate": 1.0, "under_report_pct": 20.0}} if len(names) == 1 else
                   {"nations": names, "kind": "collude",
                    "params": {"rate": 1.0, "under_report_pct": 30.0}})
        tasks.append(Task(f"corrupt {tag}", _with_behaviour(base, corrupt, names),
                          str(out / "variants" / f"corrupt-{tag}.toml"),
                          (("mode", "corrupt"), ("nations", tag))))
    rows = run_all(tasks, workers=workers, progress=progress)
    for row in rows:
        row.pop("domain", None)  # the whole domain summary: sweeps read paths in it
    baseline = rows[0]
    for row in rows:
        row["impact_kg"] = _impact(row, baseline)
    # Equal impacts (the variants are paired, so a hub and a set holding it can tie exactly):
    # the smaller set first, since it is the finding.
    ranked = sorted(rows[1:], key=lambda r: (-(r["impact_kg"] or 0),
                                             str(r.get("nations", "")).count("+"), r["label"]))
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank
    result = {"scenario": scenario.name, "source": str(path), "k": k_max,
              "transit_only": transit_only,
              "structure": struct, "consensus": cons, "baseline": baseline,
              "simulation": ranked}
    out.mkdir(parents=True, exist_ok=True)
    (out / "weak_links.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    _write_csv(out / "ranking.csv", ranked)
    from scenarios.report.weaklinks import write_weak_report
    write_weak_report(result, world, out / "report.html")
    return result


def _with_behaviour(base: dict, behaviour: dict, names: list[str]) -> str:
    # Drop the scenario's own behaviours on these nations so the study's one applies cleanly.
    header = f"weak-link variant: {behaviour['kind']} of {', '.join(names)}"
    kept = [b for b in base.get("behaviour", []) if not set(b.get("nations", [])) & set(names)]
    raw = dict(base, behaviour=kept + [behaviour])
    if behaviour["kind"] == BehaviourKind.OPT_OUT and len(names) >= len(base.get("nation", [])):
        raise VariantError(f"cannot opt out every nation: {', '.join(names)}")
    return variant_text(raw, [], header)


def _impact(row: dict, baseline: dict) -> float | None:
    if row.get("error") or row.get("shipped_kg") is None:
        return None
    def lost(r: dict) -> float:
        traced = r.get("traced_complete_pct") or 0.0
        licit = r.get("licit_kg") if r.get("licit_kg") is not None else r.get("shipped_kg")
        return (licit or 0.0) * (100 - traced) / 100 + (r.get("leaked_kg") or 0.0)
    return round(lost(row) - lost(baseline), 3)


RANK_COLUMNS = ("rank", "label", "mode", "nations", "impact_kg", "leaked_kg",
                "traced_complete_pct", "detection_rate", "latency_ticks_p50", "latency_ticks_p99",
                "liveness_ok", "safety_ok", "heights_committed", "error", "reproduce")


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RANK_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
