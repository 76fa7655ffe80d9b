"""The network over time and nation presets: per-link overrides, the region matrix, changes by
tick, reordering, one-way partitions, `[nations]` presets, and the error message of every new
key."""

from __future__ import annotations

import random

import pytest

from helpers import nations_toml, run_text

from scenarios.spec.loader import ScenarioError, parse_scenario
from scenarios.spec.loader import Partition
from scenarios.sim.network import REORDER_HOLD_FACTOR, Network, load_regions, nation_regions
from scenarios.spec.schema import NATIONS_MAX, SCHEMA, UN_MEMBERS, all_tables

NATIONS = ("USA", "MEX", "CAN", "CHN")
BASE = {"latency_ticks": 20, "jitter_ticks": 0, "loss_probability": 0.0,
        "duplicate_probability": 0.0}


def _net(partitions=(), nations=NATIONS, seed=1, **config) -> Network:
    return Network({**BASE, **config}, tuple(partitions), nations, random.Random(seed))


def _link(**keys) -> dict:
    out = {"latency_ticks": None, "jitter_ticks": None, "loss_probability": None,
           "duplicate_probability": None, "symmetric": True}
    out.update(keys)
    return out


def _change(at_tick: int, **keys) -> dict:
    out = {"at_tick": at_tick, "latency_ticks": None, "latency_scale": None, "jitter_ticks": None,
           "loss_probability": None, "duplicate_probability": None, "reorder_probability": None}
    out.update(keys)
    return out


# ---------------------------------------------------------------------------- Network, unit

def test_link_override_applies_to_that_pair_only():
    net = _net(link=[_link(**{"from": "USA", "to": "MEX"}, latency_ticks=150,
                           loss_probability=1.0)])
    assert net.arrivals("USA", "MEX", 0) == [] and net.arrivals("MEX", "USA", 0) == []
    assert net.link("USA", "MEX", 0).latency_ticks == 150
    assert net.link("MEX", "USA", 0).latency_ticks == 150  # symmetric by default
    for src, dst in [("USA", "CAN"), ("CAN", "MEX"), ("CHN", "USA"), ("MEX", "CHN")]:
        assert net.link(src, dst, 0).latency_ticks == 20
        assert net.arrivals(src, dst, 7) == [27]


def test_asymmetric_link_override_holds_one_way():
    net = _net(link=[_link(**{"from": "USA", "to": "CHN"}, latency_ticks=300,
                           duplicate_probability=1.0, symmetric=False)])
    assert net.arrivals("USA", "CHN", 0) == [300, 300]
    assert net.arrivals("CHN", "USA", 0) == [20]


def test_link_keys_left_out_follow_the_global_values():
    net = _net(jitter_ticks=5, link=[_link(**{"from": "USA", "to": "MEX"}, latency_ticks=90)],
               change=[_change(100, jitter_ticks=0)])
    assert net.link("USA", "MEX", 0).jitter_ticks == 5
    assert net.link("USA", "MEX", 100).jitter_ticks == 0
    assert net.link("USA", "MEX", 100).latency_ticks == 90


def test_changes_take_effect_at_their_tick_and_keep_what_they_do_not_name():
    net = _net(change=[_change(500, loss_probability=1.0, latency_ticks=70),
                       _change(900, loss_probability=0.0)])
    assert net.arrivals("USA", "MEX", 499) == [519]
    assert net.arrivals("USA", "MEX", 500) == []
    assert net.arrivals("USA", "MEX", 899) == []
    assert net.arrivals("USA", "MEX", 900) == [970]  # latency 70 still holds
    assert net.link("CAN", "CHN", 10_000).latency_ticks == 70


def test_changes_of_duplication_and_jitter_by_tick():
    net = _net(change=[_change(100, duplicate_probability=1.0, jitter_ticks=10)])
    assert len(net.arrivals("USA", "MEX", 99)) == 1
    arrivals = [net.arrivals("USA", "MEX", 100) for _ in range(50)]
    assert all(len(a) == 2 for a in arrivals)
    assert len({t for a in arrivals for t in a}) > 5  # jitter now spreads them
    assert all(110 <= t <= 130 for a in arrivals for t in a)


@pytest.mark.parametrize("direction, blocked_pairs", [
    ("both", {("CHN", "USA"), ("USA", "CHN")}),
    ("outbound", {("CHN", "USA")}),
    ("inbound", {("USA", "CHN")}),
])
def test_partition_direction_blocks_exactly_that_direction(direction, blocked_pairs):
    net = _net([Partition((("CHN",),), 100, 200, direction)])
    for src in NATIONS:
        for dst in NATIONS:
            if src == dst:
                continue
            expected = (src, dst) in {(a.replace("USA", x), b.replace("USA", x))
                                      for a, b in blocked_pairs for x in ("USA", "MEX", "CAN")}
            assert net.blocked(src, dst, 150) is expected, (src, dst)
            assert not net.blocked(src, dst, 99) and not net.blocked(src, dst, 200)


def test_one_way_partition_leaves_links_between_other_groups_open():
    net = _net([Partition((("CHN",), ("USA",)), 0, None, "outbound")])
    assert net.blocked("CHN", "USA", 5) and net.blocked("CHN", "MEX", 5)
    assert not net.blocked("USA", "MEX", 5) and not net.blocked("MEX", "USA", 5)
    assert not net.blocked("USA", "CHN", 5)
    both = _net([Partition((("CHN",), ("USA",)), 0, None, "both")])
    assert both.blocked("USA", "MEX", 5)


def test_region_matrix_is_symmetric_and_covers_every_region_of_nations_csv():
    from nodes.app.registry import load_nations
    matrix = load_regions()
    regions = {r for r, _ in matrix}
    assert {n.region for n in load_nations().values()} <= regions
    for a in regions:
        for b in regions:
            assert matrix[(a, b)] == matrix[(b, a)]
            if a != b:
                assert matrix[(a, a)] < matrix[(a, b)]


def test_region_matrix_errors_name_the_problem(tmp_path):
    bad = tmp_path / "regions.toml"
    bad.write_text('regions = ["a", "b"]\none_way_ticks = [[5, 10], [12, 5]]\n')
    with pytest.raises(ValueError, match="symmetric"):
        load_regions(bad)
    bad.write_text('regions = ["a", "b"]\none_way_ticks = [[50, 10], [10, 5]]\n')
    with pytest.raises(ValueError, match="not above a's own latency"):
        load_regions(bad)


def test_regions_model_gives_same_region_less_latency_than_cross_region():
    nations = ("FRA", "DEU", "USA", "AUS")
    regions = nation_regions(nations)
    assert regions["FRA"] == regions["DEU"] == "europe"
    net = _net(nations=nations, model="regions")
    matrix = load_regions()
    same = net.link("FRA", "DEU", 0).latency_ticks
    assert same == matrix[("europe", "europe")]
    assert same < net.link("FRA", "USA", 0).latency_ticks < net.link("FRA", "AUS", 0).latency_ticks
    assert net.link("USA", "FRA", 0) == net.link("FRA", "USA", 0)
    scaled = _net(nations=nations, model="regions", latency_scale=2.0)
    assert scaled.link("FRA", "USA", 0).latency_ticks == 2 * net.link("FRA", "USA", 0).latency_ticks
    # A named link's latency is taken as written, not from the matrix.
    named = _net(nations=nations, model="regions", latency_scale=2.0,
                 link=[_link(**{"from": "FRA", "to": "AUS"}, latency_ticks=33)])
    assert named.link("AUS", "FRA", 0).latency_ticks == 33
    # A change of latency_scale applies from its tick.
    later = _net(nations=nations, model="regions", change=[_change(50, latency_scale=0.5)])
    assert later.link("FRA", "DEU", 49).latency_ticks == same
    assert later.link("FRA", "DEU", 50).latency_ticks == round(same * 0.5)
    # Jitter still applies under the regions model.
    jittery = _net(nations=nations, model="regions", jitter_ticks=5)
    assert len({jittery.arrivals("FRA", "DEU", 0)[0] for _ in range(40)}) > 3


def _order(net: Network, count: int = 200) -> list[int]:
    """Send `count` messages one tick apart on one link; return their indices by arrival."""
    arrivals = [(net.arrivals("USA", "MEX", t)[0], t) for t in range(count)]
    return [t for _, t in sorted(arrivals)]


def test_reorder_probability_reorders_and_bounds_the_hold_back():
    assert _order(_net()) == list(range(200))  # no jitter, no reordering: FIFO
    net = _net(reorder_probability=0.3)
    order = _order(net)
    assert order != list(range(200))
    delays = [net.arrivals("USA", "MEX", 0)[0] for _ in range(500)]
    held = [d for d in delays if d != 20]
    assert 0.2 < len(held) / len(delays) < 0.4
    assert all(20 < d <= 20 + REORDER_HOLD_FACTOR * 20 for d in held)
    # Reordering can also start at a tick.
    timed = _net(change=[_change(1000, reorder_probability=1.0)])
    assert _order(timed) == list(range(200))
    assert all(d > 20 for d in (timed.arrivals("USA", "MEX", 1000)[0] - 1000
                                for _ in range(50)))


def test_same_seed_same_arrivals():
    config = dict(jitter_ticks=10, loss_probability=0.1, duplicate_probability=0.1,
                  reorder_probability=0.1, link=[_link(**{"from": "USA", "to": "MEX"},
                                                       latency_ticks=80, loss_probability=0.5)],
                  change=[_change(50, jitter_ticks=30)])
    runs = []
    for _ in range(2):
        net = _net(seed=42, **config)
        runs.append([net.arrivals(s, d, t) for t in range(100) for s in NATIONS for d in NATIONS
                     if s != d])
    assert runs[0] == runs[1]
    other = _net(seed=43, **config)
    assert runs[0] != [other.arrivals(s, d, t) for t in range(100) for s in NATIONS
                       for d in NATIONS if s != d]


def test_uniform_network_without_new_features_draws_as_before():
    """Scenarios written before links, changes and reordering keep their traces: the draws are
    the same as the original model's (loss, duplicate, then jitter per copy)."""
    config = {"latency_ticks": 20, "jitter_ticks": 10, "loss_probability": 0.1,
              "duplicate_probability": 0.2}
    net = Network(config, (), NATIONS, random.Random(9))
    rng = random.Random(9)
    for now in range(300):
        expected = []
        if not rng.random() < 0.1:
            copies = 2 if rng.random() < 0.2 else 1
            expected = [now + max(1, 20 + rng.randint(-10, 10)) for _ in range(copies)]
        assert net.arrivals("USA", "MEX", now) == expected


# ---------------------------------------------------------------------------- scenarios

HEAD = '[scenario]\nname = "t"\nticks_max = 5000\n'
FOUR = HEAD + nations_toml(list(NATIONS))


DEFAULT_RULES = {"requires_pen": True, "pen_silence": "consent", "pen_reply_window_ticks": 1500,
                 "objects_to": ["unknown_consignee", "unlicensed_importer", "missing_end_use",
                                "above_need"], "inspection_budget": None}


def test_un_members_preset_loads_193_nations_with_default_rules():
    from nodes.app.registry import un_members
    s = parse_scenario(HEAD + '[nations]\npreset = "un-members"\n', "study.toml")
    assert len(s.nations) == UN_MEMBERS == len(un_members()) == 193 <= NATIONS_MAX
    assert s.nation_ids == tuple(sorted(s.nation_ids)) == tuple(un_members())
    assert all(power == 1 for _, power in s.nations)
    assert set(s.nation_rules) == set(s.nation_ids)
    assert all(r == DEFAULT_RULES for r in s.nation_rules.values())


def test_count_preset_with_overrides_and_additions():
    s = parse_scenario(HEAD + '[nations]\ncount = 16\npower = 2\n\n'
                       '[[nation]]\nid = "AUT"\npower = 5\npen_silence = "block"\n\n'
                       '[[nation]]\nid = "ARG"\nrequires_pen = false\n\n'
                       '[[nation]]\nid = "USA"\n', "study.toml")
    ids = s.nation_ids
    assert len(ids) == 17 and ids[:16] == tuple(sorted(ids[:16])) and ids[-1] == "USA"
    powers = dict(s.nations)
    assert powers["AUT"] == 5  # overridden in place
    assert ids.index("AUT") == sorted(ids[:16]).index("AUT")
    assert powers["ARG"] == 2 and powers["USA"] == 2 and powers["AFG"] == 2
    assert s.nation_rules["AUT"]["pen_silence"] == "block"
    assert s.nation_rules["ARG"]["requires_pen"] is False
    assert s.nation_rules["AFG"] == DEFAULT_RULES


def test_count_16_commits_blocks():
    world, s = run_text(HEAD.replace("5000", "1500") + "[nations]\ncount = 16\n\n"
                        "[workload]\ntxs_per_tick = 0\n")
    assert s.nations == 16 and len(world.nations) == 16
    assert s.heights_committed >= 3 and s.safety_ok


def test_one_way_partition_end_to_end():
    """CHN cut outbound still hears everyone and commits; cut inbound it hears no one."""
    text = FOUR.replace("5000", "3000") + '[workload]\ntxs_per_tick = 0\n\n' \
        '[[partition]]\ngroups = [["CHN"]]\ndirection = "%s"\n'
    world, s = run_text(text % "outbound")
    assert s.dropped_by_reason["partition"] > 0 and s.safety_ok
    assert len(world.commits["CHN"]) >= 5
    world, s = run_text(text % "inbound")
    assert s.heights_committed >= 5 and s.safety_ok
    assert world.commits["CHN"] == []


def test_network_features_run_end_to_end_deterministically():
    text = (HEAD.replace("5000", "3000")
            + nations_toml(["USA", "MEX", "FRA", "CHN"])
            + '[workload]\ntxs_per_tick = 0.1\n\n'
            '[network]\nmodel = "regions"\nreorder_probability = 0.1\n\n'
            '[[network.link]]\nfrom = "USA"\nto = "MEX"\nloss_probability = 0.3\n\n'
            '[[network.change]]\nat_tick = 1000\nduplicate_probability = 0.2\n')
    _, a = run_text(text)
    _, b = run_text(text)
    assert a.trace_sha256 == b.trace_sha256
    assert a.heights_committed >= 5 and a.safety_ok
    assert a.dropped_by_reason["loss"] > 0
    s = parse_scenario(text, "study.toml")
    assert s.network["link"][0]["from"] == "USA" and s.network["change"][0]["at_tick"] == 1000


# ---------------------------------------------------------------------------- errors

def _error(text: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "study.toml")
    return str(exc.value)


LINK = '\n[[network.link]]\nfrom = "USA"\nto = "MEX"\n'


@pytest.mark.parametrize("text, needles", [
    # [[network.link]]
    (FOUR + LINK + "latency = 5\n",
     ["study.toml:19", "network.link[0].latency", "unknown key", "latency_ticks", "symmetric"]),
    (FOUR + '\n[[network.link]]\nfrom = "USA"\nto = "XYZ"\nlatency_ticks = 9\n',
     ["study.toml:18", "network.link[0].to", "unknown nation 'XYZ'", "CAN, CHN, MEX, USA"]),
    (FOUR + LINK + "latency_ticks = 9\n" + LINK.replace("MEX", "CAN") + 'loss_probability = 2\n',
     ["study.toml:24", "network.link[1].loss_probability", "above the maximum 1.0"]),
    (FOUR + LINK + "latency_ticks = 9\n" + LINK.replace('"USA"', '"MEX"').replace(
        'to = "MEX"', 'to = "USA"') + "latency_ticks = 8\n",
     ["network.link[1].to", "MEX -> USA is already set by network.link[0]"]),
    (FOUR + '\n[[network.link]]\nfrom = "USA"\nto = "USA"\nlatency_ticks = 9\n',
     ["network.link[0].to", "two different nations"]),
    (FOUR + LINK, ["study.toml:16", "network.link[0]", "sets nothing", "latency_ticks"]),
    (FOUR + LINK + 'latency_ticks = "slow"\n',
     ["network.link[0].latency_ticks", "expected int", "latency_ticks = 150"]),
    (FOUR + '\n[network]\nlink = 5\n',
     ["network.link", "expected an array of tables", "[[network.link]]"]),
    (FOUR + '\n[[network.link]]\nto = "MEX"\nlatency_ticks = 9\n',
     ["network.link[0].from", "missing required key", 'from = "USA"']),
    # [[network.change]]
    (FOUR + '\n[[network.change]]\nat_tick = 6000\nloss_probability = 0.1\n',
     ["study.toml:17", "network.change[0].at_tick", "not before ticks_max 5000",
      "from 0 to 4999"]),
    (FOUR + '\n[[network.change]]\nat_tick = 300\nloss_probability = 0.1\n'
     '\n[[network.change]]\nat_tick = 200\nloss_probability = 0.0\n',
     ["study.toml:21", "network.change[1].at_tick", "not after the previous", "in order"]),
    (FOUR + '\n[[network.change]]\nat_tick = 300\nrain = 1\n',
     ["network.change[0].rain", "unknown key", "reorder_probability"]),
    (FOUR + '\n[[network.change]]\nat_tick = 300\n', ["network.change[0]", "sets nothing"]),
    (FOUR + '\n[[network.change]]\nloss_probability = 0.1\n',
     ["network.change[0].at_tick", "missing required key", "at_tick = 4000"]),
    # [network] model, latency_scale, reorder_probability
    (FOUR + '\n[network]\nmodel = "mesh"\n',
     ["network.model", "unknown value 'mesh'", "uniform, regions"]),
    (FOUR + '\n[network]\nmodel = "regions"\nlatency_ticks = 50\n',
     ["study.toml:18", "network.latency_ticks", 'only used with model = "uniform"',
      "latency_scale"]),
    (FOUR + '\n[network]\nlatency_scale = 2.0\n',
     ["network.latency_scale", 'only used with model = "regions"']),
    (FOUR + '\n[network]\nmodel = "regions"\n\n[[network.change]]\nat_tick = 10\n'
     'latency_ticks = 50\n', ["network.change[0].latency_ticks", 'only used with model']),
    (HEAD + nations_toml(["USA", "ZZZ"]) + '\n[network]\nmodel = "regions"\n',
     ["network.model", "nation ZZZ has no region", 'model = "uniform"']),
    (FOUR + '\n[network]\nreorder_probability = -0.5\n',
     ["network.reorder_probability", "below the minimum 0.0"]),
    # [[partition]] direction
    (FOUR + '\n[[partition]]\ngroups = [["CHN"]]\ndirection = "sideways"\n',
     ["study.toml:18", "partition[0].direction", "unknown value 'sideways'",
      "both, outbound, inbound"]),
    # [nations]
    (HEAD + '[nations]\npreset = "g20"\n',
     ["study.toml:5", "nations.preset", "unknown value 'g20'", "un-members"]),
    (HEAD + '[nations]\ncount = 194\n',
     ["study.toml:5", "nations.count", "above the maximum 193", "from 1 to 193"]),
    (HEAD + '[nations]\ncount = 0\n', ["nations.count", "below the minimum 1"]),
    (HEAD + '[nations]\ncount = 3\npreset = "un-members"\n',
     ["nations.count", "both given", "Keep one"]),
    (HEAD + '[nations]\npower = 3\n', ["study.toml:4", "nations", "neither preset nor count"]),
    (HEAD + '[nations]\ncount = 2\nflag = "x"\n', ["nations.flag", "unknown key", "count, power"]),
    (HEAD, ["nation", "missing required table", 'id = "USA"', 'preset = "un-members"']),
    (HEAD + '[nations]\ncount = 2\n\n[[nation]]\nid = "usa"\n',
     ["nation[0].id", "ISO 3166 alpha-3"]),
    (HEAD + '[nations]\npreset = "un-members"\n' + nations_toml(
        [f"X{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(64)]),
     ["nation", "257 nations", f"at most {NATIONS_MAX}"]),
])
def test_error_messages(text, needles):
    message = _error(text)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_nested_tables_are_in_the_reference_with_doc_and_example():
    from helpers import ROOT
    doc = (ROOT / "docs" / "scenario-reference.md").read_text()
    names = [name for name, _ in all_tables()]
    assert "network.link" in names and "network.change" in names and "nations" in names
    for name, table in all_tables():
        assert f"## `[[{name}]]`" in doc or f"## `[{name}]`" in doc
        for key, k in table.keys.items():
            assert k.doc and key in k.example, (name, key)
    assert SCHEMA["network"].keys["link"].table is not None
