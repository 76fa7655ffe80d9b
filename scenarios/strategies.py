"""Hypothesis strategies that draw whole scenarios, shared by `chemtrace fuzz` and the tests.

A drawn scenario is an ordinary `Scenario`: the strategy builds the TOML document, writes it with
tomli-w and reads it back with `parse_scenario`, so every draw passes the loader's checks and
round-trips through `scenario_to_toml` to an equal scenario. What a draw holds (each part shrinks
toward "none" or the smallest value, so a shrunk counterexample keeps only what matters):

- nations: `nations[0]..nations[1]` of a fixed pool of ISO codes, with optional weights;
- Byzantine nations with one or two behaviours each, of the kinds in `schema.BYZANTINE_KINDS`
  (read when the strategy is built, so kinds added later are drawn too), each with a window of
  ticks or for the whole run, and params drawn from the kind's schema; among them `mutate`, the
  ByzzFuzz message mutations (round +/- 1, height +/- 1, value swapped, omitted);
- crashes with a restart (and sometimes a wiped disk), and slow nations (`delay`);
- partitions between groups of nations for round-sized windows, both ways or one way;
- the network: latency from 1 to 250 ticks (large against the round-0 timeouts of 100 to 300
  ticks, so that timeouts which never grew would stall), jitter, loss, duplication, reordering,
  slow or lossy links, and a burst of loss for a window;
- the workload: a few transactions per hundred ticks.

Two modes. `byzantine="below"` keeps the Byzantine power strictly below 1/3 and every fault that
could stop progress ends (partitions heal, crashes restart within the fault budget): the protocol
promises safety and, after the last fault ends (GST), liveness, so the scenario expects
`safety = true` and `liveness = true` within a generous `liveness_ticks_max` (the run lasts
`liveness_window_ticks` after GST). `byzantine="third"` gives the Byzantine nations 1/3 of the
power or more: violations are expected, and the scenario expects `safety = "any"` and
`liveness = "any"`; an unexpected violation still fails it.
"""

from __future__ import annotations

import tomllib

import tomli_w
from hypothesis import strategies as st

from . import schema
from .loader import Scenario, parse_scenario
from .schema import REQUIRED, BEHAVIOURS, Key

# Real ISO 3166 alpha-3 codes (nodes/data/nations.csv); a scenario takes the first n.
NATION_POOL = ("USA", "MEX", "CAN", "CHN", "IND", "GTM", "PAN", "COL", "NLD", "DEU", "SGP",
               "BRA")
NATIONS_MIN, NATIONS_MAX = 1, len(NATION_POOL)
MODES = ("below", "third")
SOURCE = "<fuzz>"
LATENCY_MAX_TICKS = 250
POWER_MAX = 4
DEFAULT_HEIGHTS = 5
# Kinds that are not Byzantine but still faults the strategy draws on honest nations.
CRASH, DELAY = "crash", "delay"


def round_ticks(latency: int, jitter: int) -> int:
    """A rough length of one round-0 consensus round: the unit of fault windows."""
    return 3 * (latency + jitter) + 300


def liveness_window_ticks(latency: int, jitter: int, heights: int) -> int:
    """How long a scenario runs after GST, which is also its `liveness_ticks_max`.

    Generous on purpose: after a long partition the rounds (and with them the timeouts) have
    grown, a restarted nation must catch up by state sync, and a Byzantine proposer costs a whole
    round. Measured with the honest protocol over thousands of drawn scenarios (see
    tests/test_fuzz.py and the README), the first commit after GST came well inside it."""
    return 4000 + 2 * heights * round_ticks(latency, jitter)


def scenarios(nations: tuple[int, int] = (4, 10), byzantine: str = "below",
              weights: bool = True, heights: int = DEFAULT_HEIGHTS) -> st.SearchStrategy[Scenario]:
    """Whole scenarios (see the module docstring). `heights` sizes the run: fault windows fall
    in the first `heights` rounds or so, and the run goes on for `liveness_window_ticks` after
    the last one ends."""
    return scenario_docs(nations, byzantine, weights, heights).map(doc_to_scenario)


def doc_to_scenario(doc: dict) -> Scenario:
    return parse_scenario(tomli_w.dumps(doc), SOURCE)


def scenario_docs(nations: tuple[int, int] = (4, 10), byzantine: str = "below",
                  weights: bool = True, heights: int = DEFAULT_HEIGHTS
                  ) -> st.SearchStrategy[dict]:
    """The TOML documents behind `scenarios` (plain dicts, as tomli-w writes them)."""
    lo, hi = nations
    if not NATIONS_MIN <= lo <= hi <= NATIONS_MAX:
        raise ValueError(f"nations must be a range within {NATIONS_MIN}..{NATIONS_MAX}, "
                         f"got {lo}..{hi}")
    if byzantine not in MODES:
        raise ValueError(f"byzantine must be one of {', '.join(MODES)}, got {byzantine!r}")
    if heights < 1:
        raise ValueError("heights must be at least 1")
    kinds = tuple(k for k in schema.BYZANTINE_KINDS if k in BEHAVIOURS)
    return _docs(lo, hi, byzantine, weights, heights, kinds)


@st.composite
def _docs(draw, lo: int, hi: int, mode: str, weights: bool, heights: int,
          kinds: tuple[str, ...]) -> dict:
    n = draw(st.integers(lo, hi))
    codes = list(NATION_POOL[:n])
    weighted = weights and draw(st.booleans())
    powers = [draw(st.integers(1, POWER_MAX)) if weighted else 1 for _ in codes]
    power = dict(zip(codes, powers))
    total = sum(powers)
    seed = draw(st.integers(0, 2**32 - 1))

    # -- the network
    latency = draw(st.integers(1, LATENCY_MAX_TICKS))
    jitter = draw(st.integers(0, latency))
    unit = round_ticks(latency, jitter)
    horizon = heights * unit  # fault windows start in [0, horizon]
    network = {"latency_ticks": latency, "jitter_ticks": jitter,
               "loss_probability": draw(_share(0.3)),
               "duplicate_probability": draw(_share(0.3)),
               "reorder_probability": draw(_share(0.2))}
    links = []
    if n >= 2:
        for a, b in draw(st.lists(st.tuples(st.sampled_from(codes), st.sampled_from(codes))
                                  .filter(lambda p: p[0] != p[1]), max_size=2,
                                  unique_by=lambda p: frozenset(p))):
            link = {"from": a, "to": b}
            if draw(st.booleans()):
                link["latency_ticks"] = draw(st.integers(1, LATENCY_MAX_TICKS))
            else:
                link["loss_probability"] = draw(_share(0.5, minimum=1))
            links.append(link)
    if links:
        network["link"] = links
    ends: list[int] = []
    burst = draw(st.none() | _window(horizon, unit, permanent=False))
    if burst is not None:
        start, until = burst
        network["change"] = [
            {"at_tick": start, "loss_probability": draw(_share(1.0, minimum=1))},
            {"at_tick": until, "loss_probability": network["loss_probability"]}]
        ends.append(until)

    # -- who is Byzantine
    picks = draw(st.lists(st.sampled_from(codes), unique=True, max_size=n))
    byzantine: list[str] = []
    if mode == "below":
        for code in picks:
            if 3 * (sum(power[c] for c in byzantine) + power[code]) < total:
                byzantine.append(code)
    else:
        byzantine = list(picks)
        for code in codes:  # top up, in pool order, to reach 1/3
            if 3 * sum(power[c] for c in byzantine) >= total:
                break
            if code not in byzantine:
                byzantine.append(code)
    byzantine.sort(key=codes.index)
    behaviours = []
    for code in byzantine:
        for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=2, unique=True)):
            window = draw(st.none() | _window(horizon, unit, permanent=False))
            b = {"nations": [code], "kind": kind}
            if window is not None:
                b["from_tick"], b["until_tick"] = window
                ends.append(window[1])
            params = draw(_params(kind, codes))
            if params:
                b["params"] = params
            behaviours.append(b)

    # -- honest nations that crash (and restart) or run slow
    honest = [c for c in codes if c not in byzantine]
    budget = total - 1 - 3 * sum(power[c] for c in byzantine)  # 3 * power left below 1/3
    for code in draw(st.lists(st.sampled_from(honest), unique=True, max_size=len(honest)))\
            if honest else ():
        permanent_ok = mode == "third" or 3 * power[code] <= budget
        window = draw(_window(horizon, unit, permanent=permanent_ok))
        b = {"nations": [code], "kind": CRASH, "from_tick": window[0]}
        if window[1] is None:
            budget -= 3 * power[code]
        else:
            b["until_tick"] = window[1]
            ends.append(window[1])
            if draw(st.booleans()):
                b["params"] = {"wipe": True}
        behaviours.append(b)
    for code in draw(st.lists(st.sampled_from(codes), unique=True, max_size=2)):
        start, until = draw(_window(horizon, unit, permanent=False))
        behaviours.append({"nations": [code], "kind": DELAY, "from_tick": start,
                           "until_tick": until,
                           "params": {"ticks": draw(st.integers(1, 2 * LATENCY_MAX_TICKS))}})
        ends.append(until)

    # -- partitions
    partitions = []
    if n >= 2:
        for _ in range(draw(st.integers(0, 3))):
            first = draw(st.lists(st.sampled_from(codes), unique=True, min_size=1,
                                  max_size=n - 1))
            rest = [c for c in codes if c not in first]
            groups = [first]
            if len(rest) >= 2 and draw(st.booleans()):
                second = draw(st.lists(st.sampled_from(rest), unique=True, min_size=1,
                                       max_size=len(rest) - 1))
                groups.append(second)
            start, until = draw(_window(horizon, unit, permanent=False))
            p = {"groups": groups, "from_tick": start, "until_tick": until}
            direction = draw(st.sampled_from(schema.PARTITION_DIRECTIONS))
            if direction != "both":
                p["direction"] = direction
            partitions.append(p)
            ends.append(until)

    # -- how long, and what to expect
    gst = max(ends, default=0)
    window = liveness_window_ticks(latency, jitter, heights)
    ticks_max = gst + window
    # The world's GST counts partitions and behaviours, not network changes: measure the
    # liveness bound from there, so the whole tail after our GST is inside it.
    world_gst = max([p["until_tick"] for p in partitions]
                    + [b["until_tick"] for b in behaviours if "until_tick" in b], default=0)
    expect = ({"safety": True, "liveness": True, "liveness_ticks_max": ticks_max - world_gst}
              if mode == "below" else {"safety": "any", "liveness": "any"})
    doc = {
        "scenario": {"name": f"fuzz-{mode}-n{n}", "seed": seed, "ticks_max": ticks_max,
                     "description": _describe(codes, powers, byzantine, behaviours, partitions,
                                              network)},
        "nation": [{"id": c, "power": p} if weighted else {"id": c} for c, p in power.items()],
        "network": network,
        "workload": {"txs_per_tick": draw(st.integers(0, 20)) / 1000, "payload_bytes": 32},
        "expect": expect,
    }
    if partitions:
        doc["partition"] = partitions
    if behaviours:
        doc["behaviour"] = behaviours
    return doc


def _share(maximum: float, minimum: int = 0) -> st.SearchStrategy[float]:
    """A probability in steps of 1/100 (readable in a scenario file), shrinking to `minimum`."""
    return st.integers(minimum, round(maximum * 100)).map(lambda k: k / 100)


def _window(horizon: int, unit: int, permanent: bool) -> st.SearchStrategy[tuple]:
    """(from_tick, until_tick): a start in [0, horizon] and a length of a quarter of a round to
    three rounds; until_tick is None (the fault never ends) only when `permanent`."""
    length = st.integers(max(1, unit // 4), 3 * unit)
    ends = st.none() | length if permanent else length
    return st.tuples(st.integers(0, horizon), ends).map(
        lambda w: (w[0], None if w[1] is None else w[0] + w[1]))


def _params(kind: str, codes: list[str]) -> st.SearchStrategy[dict]:
    """Params of a behaviour kind, drawn from its schema: required ones always, optional ones
    sometimes (else the default applies)."""
    _, spec = BEHAVIOURS[kind]
    parts = {}
    for name, key in spec.items():
        value = _param_value(name, key, codes)
        if value is None:
            continue
        parts[name] = value if key.default is REQUIRED else st.none() | value
    if not parts:
        return st.just({})
    return st.fixed_dictionaries(parts).map(
        lambda d: {k: v for k, v in d.items() if v is not None})


def _param_value(name: str, key: Key, codes: list[str]) -> st.SearchStrategy | None:
    if key.choices:
        return st.sampled_from(key.choices)
    if key.type == "bool":
        return st.booleans()
    if key.type == "int":
        lo = int(key.minimum if key.minimum is not None else 0)
        hi = int(min(key.maximum if key.maximum is not None else lo + 1000, lo + 1000))
        return st.integers(lo, hi)
    if key.type == "float":
        lo = key.minimum if key.minimum is not None else 0.0
        hi = key.maximum if key.maximum is not None else lo + 1.0
        return st.integers(0, 100).map(lambda k: round(lo + (hi - lo) * k / 100, 6))
    if key.type == "list[str]":
        return st.lists(st.sampled_from(codes), unique=True, min_size=1, max_size=len(codes))
    if key.default is REQUIRED:  # a type we cannot draw: the schema's example is valid
        return st.just(tomllib.loads(key.example)["params"][name])
    return None


def _describe(codes, powers, byzantine, behaviours, partitions, network) -> str:
    """One line a reader can take in: nations, Byzantine nations and their kinds, faults."""
    parts = [f"{len(codes)} nations"
             + ("" if set(powers) == {1} else " (powers " + ",".join(map(str, powers)) + ")")]
    if byzantine:
        kinds = sorted({b["kind"] for b in behaviours if b["nations"][0] in byzantine})
        parts.append(f"Byzantine {','.join(byzantine)} ({', '.join(kinds)})")
    crashes = [b["nations"][0] for b in behaviours if b["kind"] == CRASH]
    if crashes:
        parts.append("crash " + ",".join(crashes))
    if partitions:
        parts.append(f"{len(partitions)} partition{'s' if len(partitions) > 1 else ''}")
    parts.append(f"latency {network['latency_ticks']}+-{network['jitter_ticks']}")
    if network["loss_probability"]:
        parts.append(f"loss {network['loss_probability']}")
    return "; ".join(parts)
