"""The region latency matrix of `model = "regions"` (scenarios/data/regions.toml).

It is reference data of the scenario language: the loader checks that every nation of a scenario
has a region in it, and the simulated network (`scenarios.sim.network`) turns it into link
latencies. It lives here, below both, so the loader does not import the kernel.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

REGIONS_PATH = Path(__file__).resolve().parents[1] / "data" / "regions.toml"


def load_regions(path: str | Path | None = None) -> dict[tuple[str, str], int]:
    """The region latency matrix: (region, region) -> one-way ticks. Raises ValueError if the
    file is not square, symmetric, positive, or if a region's own entry is not its row's least."""
    path = REGIONS_PATH if path is None else Path(path)
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{where}: cannot read the region matrix: {exc}") from None
    regions, rows = raw.get("regions"), raw.get("one_way_ticks")
    if not (isinstance(regions, list) and all(isinstance(r, str) for r in regions) and regions):
        raise ValueError(f"{where}: regions must be a non-empty list of names")
    if len(set(regions)) != len(regions):
        raise ValueError(f"{where}: a region is listed twice in regions")
    if not (isinstance(rows, list) and len(rows) == len(regions)
            and all(isinstance(row, list) and len(row) == len(regions) for row in rows)):
        raise ValueError(f"{where}: one_way_ticks must be a {len(regions)} x {len(regions)} "
                         "array, one row per region in the order of regions")
    matrix: dict[tuple[str, str], int] = {}
    for a, row in zip(regions, rows):
        for b, ticks in zip(regions, row):
            if not isinstance(ticks, int) or isinstance(ticks, bool) or ticks < 1:
                raise ValueError(f"{where}: {a} -> {b} is {ticks!r}; use a whole number of "
                                 "ticks, at least 1")
            matrix[(a, b)] = ticks
    for a in regions:
        for b in regions:
            if matrix[(a, b)] != matrix[(b, a)]:
                raise ValueError(f"{where}: {a} -> {b} is {matrix[(a, b)]} but {b} -> {a} is "
                                 f"{matrix[(b, a)]}; the matrix must be symmetric")
            if a != b and matrix[(a, b)] <= matrix[(a, a)]:
                raise ValueError(f"{where}: {a} -> {b} ({matrix[(a, b)]}) is not above {a}'s "
                                 f"own latency ({matrix[(a, a)]})")
    return matrix
