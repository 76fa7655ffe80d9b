"""The run report: one self-contained `report.html` that a policy team can open offline.

Theory of operation
-------------------

`write_report(world, summary, path)` reads a finished `World` and its summary and writes one HTML
file with no external resource at all: the CSS is inline, there is no JavaScript, and every plot
is an inline SVG drawn by matplotlib on the Agg backend (no display, same bytes in CI as on a
laptop). Text in the SVGs stays text (`svg.fonttype = "none"`), so the plots are small,
searchable and drawn in the reader's own sans-serif font.

Each section opens with one line on how to read it. A section with nothing to show (no trade, no
commits, no flags) says "none" instead of drawing an empty plot, so every run renders.

Limits, because a report must stay readable and small for 193 nations and long runs:
`COMMIT_POINTS_TOTAL_MAX` points in the commits plot, `FLAG_ROWS_MAX` rows in the flags
table, `LIST_ITEMS_MAX` violations or evidence items, `BARS_MAX` bars, and the space-time diagram
draws only the messages the world kept (`world.spacetime`, itself capped by the world).

The report is deterministic for a given run: SVG ids are salted per plot and no date is written,
so only the wall-clock figures differ between two runs of one scenario and seed.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, the same rendering everywhere

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from scenarios.spec.schema import CORRUPT_KINDS, BehaviourKind  # noqa: E402  (false_report, collude, withhold_objection)
from scenarios.sim.summary import RunSummary  # noqa: E402
from nodes.wire.messages import MessageKind  # noqa: E402

COMMIT_POINTS_TOTAL_MAX = 10_000  # over all nations; a long run is thinned, keeping the last
COMMIT_POINTS_MIN = 100  # per nation, however many nations there are
FLAG_ROWS_MAX = 200
LIST_ITEMS_MAX = 50  # violations, evidence, behaviours
BARS_MAX = 200  # every UN member fits
LEGEND_NATIONS_MAX = 16  # beyond this a legend hides the plot
LATENCY_BINS_MAX = 50
TRADE_NODES_MAX = 250  # beyond this the nodes and labels overlap
TRADE_COLUMNS = 5  # sources, mostly sources, transit, mostly destinations, destinations
FIGURE_WIDTH_IN_MAX = 40.0

# Precedence when one nation has several behaviours: the first role found here wins.
ROLES = ("opted out", "Byzantine", "corrupt")
ROLE_STYLE = {  # role -> (node marker, colour)
    "opted out": ("s", "#e08214"),
    "Byzantine": ("D", "#b2182b"),
    "corrupt": ("^", "#7b3294"),
}
MEMBER_COLOUR, NON_MEMBER_COLOUR = "#4393c3", "#bababa"
KIND_COLOURS = {
    "proposal": "#1b9e77",
    "prevote": "#377eb8",
    "precommit": "#e41a1c",
    "txs": "#bdbdbd",
    "sync": "#984ea3",
}
OTHER_KIND_COLOUR = "#a65628"
# Lines of nations that commit alike lie on top of each other: each nation gets its own dash
# pattern and marker, and the lines are drawn widest first, so every one stays visible.
LINE_STYLES = ("-", "--", "-.", ":")
LINE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# Fault and behaviour windows shaded on the time plots, by kind of window.
WINDOW_COLOURS = {"crash": "#fdae61", "partition": "#abd9e9", "Byzantine": "#f4a6a6",
                  "corrupt": "#c2a5cf"}
WINDOW_LABELS_MAX = 12  # beyond this the windows are shaded but not labelled one by one
# Why a diversion or attempt of each kind can get through, after docs/domain.md; a kind not
# listed gets the rule every kind is judged by.
MISSED_WHY = {
    "smuggle": "no papers: no record exists to compare with, and no inspection found it",
    "mislabel": "declared as an uncontrolled good: no precursor record to compare with, and "
                "no inspection found it",
    "pre_precursor": "a substitute uncontrolled on its date travels unrecorded",
    "front_company": "every record is in order: a registered front with a valid licence and a "
                     "stated need equal to its order",
    "dark_hop": "the detour crossed a nation that keeps no records; a dark_hop flag is a "
                "coverage gap that licit trade on the route gets too",
}
MISSED_WHY_DEFAULT = "no flag, rejection or inspection named its lot, shipment, PEN or inspection"
GRAMS = re.compile(r"\b(\d+) g\b")

SECTIONS = (
    ("summary", "Summary"),
    ("commits", "Commits over time"),
    ("latency", "Commit latency"),
    ("messages", "Messages per nation"),
    ("spacetime", "Space-time diagram of the first heights"),
    ("flags", "Flags"),
    ("economy", "What got through"),
    ("trade", "Trade graph"),
)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 70rem; padding: 1rem 2rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2.2rem; }
p.how { color: #555; font-style: italic; margin-top: 0; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: bold; }
.bad { color: #cf222e; font-weight: bold; }
.none { color: #777; }
figure { margin: 0.5rem 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
code { background: #f6f6f6; padding: 0 0.2rem; }
ul.compact li { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85rem; }
"""


# ---------------------------------------------------------------------------------- public


def write_report(world, summary: RunSummary, path: Path | str) -> Path:
    """Write `path` (usually DIR/report.html) for a finished run and return it."""
    path = Path(path)
    roles = nation_roles(world)
    parts = [
        _head(world, summary),
        _section("summary", "Read the verdicts first: safety and liveness say whether the "
                 "nations agreed and kept committing; the figures below them say how well and "
                 "how fast.", _summary_body(world, summary)),
        _section("commits", "One line per nation: the height it had committed at each tick. "
                 "Each nation has its own dash and marker, so lines on top of each other (the "
                 "nations kept pace) stay visible; a flat stretch is a stall, a late vertical "
                 "jump is a nation catching up by state sync. Shaded bands are the scenario's "
                 "fault and behaviour windows, labelled at the top.",
                 _figure_or_none(_plot_commits(world), "no commits")),
        _section("latency", "How many transactions waited how long, in ticks, from submission "
                 "to their first commit. A long right tail means some waited for timeouts or "
                 "for a fault to heal.", _figure_or_none(_plot_latency(world, summary),
                                                         "no committed transactions")),
        _section("messages", "Messages each nation sent over the whole run. A nation near zero "
                 "was down or mute; one far above the rest was rebroadcasting or misbehaving.",
                 _figure_or_none(_plot_messages(world, roles), "no messages")),
        _section("spacetime", "Who sent what to whom in the first heights: each line runs from "
                 "the sender at the tick it sent to the receiver at the tick it arrived, "
                 "coloured by message kind. Steep lines are fast links; missing lines are "
                 "messages that were dropped. Shaded bands are fault and behaviour windows.",
                 _figure_or_none(_plot_spacetime(world), "no messages delivered"
                                 if getattr(world, "records_messages", True) else
                                 "a live cluster does not record when each message was sent "
                                 "and delivered")),
        _section("flags", "What the chaincode flagged, as recorded on the ledger, with what "
                 "really happened from the simulator's plan: a flag on a diversion is a catch, "
                 "a flag on legitimate trade is a false flag.", _flags_body(world, summary)),
        _section("economy", "What got through: the diversions and illicit attempts no flag, "
                 "rejection or inspection caught (heaviest first), and for each nation on a "
                 "licit route the licit mass through it whose custody chain is whole, and the "
                 "mass through it that goes dark somewhere on its route.",
                 _economy_body(summary)),
        _section("trade", "The trade routes: arrows point along the lanes and are as thick as "
                 "the share of shipped mass on them. Blue nations keep records, grey ones do "
                 "not; shapes mark nations with a scenario behaviour.",
                 _trade_body(world, roles)),
        "</body>\n</html>\n",
    ]
    path.write_text("".join(parts), encoding="utf-8")
    return path


def nation_roles(world) -> dict[str, str]:
    """Each nation named in a non-crash behaviour, mapped to "opted out", "corrupt" or
    "Byzantine" (see ROLES for the precedence when a nation has several)."""
    found: dict[str, set[str]] = {}
    for b in getattr(world.scenario, "behaviours", ()):
        if b.kind == BehaviourKind.CRASH:
            continue  # a crash is a fault, not a stance: it shows in the commits plot
        if b.kind == BehaviourKind.OPT_OUT:
            role = "opted out"
        elif b.kind in CORRUPT_KINDS:
            role = "corrupt"
        else:
            role = "Byzantine"
        for nation in b.nations:
            found.setdefault(nation, set()).add(role)
    return {n: next(r for r in ROLES if r in rs) for n, rs in found.items()}


# ---------------------------------------------------------------------------------- html


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _head(world, summary: RunSummary) -> str:
    s = world.scenario
    name = summary.scenario
    nav = " ".join(f'<a href="#{key}">{_esc(title)}</a>' for key, title in SECTIONS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>chemtrace report: {_esc(name)} (seed {_esc(summary.seed)})"
        f"</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>chemtrace report: {_esc(name)}</h1>\n"
        f"<p>{_esc(s.description or '')}</p>\n<nav>{nav}</nav>\n"
    )


def _section(key: str, how: str, body: str) -> str:
    title = dict(SECTIONS)[key]
    return (f'<section id="{key}">\n<h2>{_esc(title)}</h2>\n'
            f'<p class="how">How to read it: {_esc(how)}</p>\n{body}\n</section>\n')


def _none(what: str = "none") -> str:
    return f'<p class="none">{_esc(what)}</p>\n'


def _none_inline(what: str = "none") -> str:
    return f'<span class="none">{_esc(what)}</span>'


def _verdict(ok: bool | None, good: str, bad: str, unknown: str = "unknown") -> str:
    if ok is None:
        return f'<span class="none">{_esc(unknown)}</span>'
    return f'<span class="ok">{_esc(good)}</span>' if ok else f'<span class="bad">{_esc(bad)}</span>'


def _rows(rows: list[tuple[str, str]]) -> str:
    """Rows whose values are already HTML."""
    return "<table>\n" + "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>\n"
                                  for k, v in rows) + "</table>\n"


def _num(value, fmt: str = ",") -> str:
    if value is None:
        return _none_inline()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _esc(format(value, fmt))
    return _esc(value)


def _item_list(items: list, describe) -> str:
    if not items:
        return _none()
    shown = "".join(f"<li>{_esc(describe(item))}</li>\n" for item in items[:LIST_ITEMS_MAX])
    rest = len(items) - LIST_ITEMS_MAX
    more = f"<p>and {rest:,} more (see summary.json)</p>\n" if rest > 0 else ""
    return f'<ul class="compact">\n{shown}</ul>\n{more}'


def _compact(record: dict) -> str:
    kind = record.get("kind", "?")
    rest = {k: v for k, v in record.items() if k != "kind"}
    return f"{kind}: {json.dumps(rest, sort_keys=True, default=str)}"


def _summary_body(world, summary: RunSummary) -> str:
    s = world.scenario
    expect = summary.expect or {}
    verdicts = [
        ("scenario", _esc(summary.scenario)),
        ("description", _esc(s.description or "") or _none_inline()),
        ("source", _esc(summary.source)),
        ("seed", _esc(summary.seed)),
        ("ticks", _num(summary.ticks)),
        ("nations", _esc(f"{len(world.nations)}: {', '.join(world.nations)}")),
        ("safety", _verdict(summary.safety_ok, "ok", "VIOLATED")
         + _esc(f" (expected {_toml(expect.get('safety'))})")),
        ("liveness", _verdict(summary.liveness_ok, "ok", "stalled", "not judged")
         + _esc(f" (expected {_toml(expect.get('liveness'))}): {summary.liveness}")),
        ("expectation", _verdict(summary.expect_ok, "held", "FAILED")),
    ]
    if summary.byzantine_power_fraction is not None:
        verdicts.append(("Byzantine power fraction", _num(summary.byzantine_power_fraction,
                                                           ".3f")))
    if summary.reproduce:
        verdicts.append(("reproduce with", f"<code>{_esc(summary.reproduce)}</code>"))
    figures = [
        ("heights committed", _num(summary.heights_committed)),
        ("transactions committed / submitted",
         f"{_num(summary.txs_committed)} / {_num(summary.txs_submitted)}"),
        ("commit latency p50 / p99 (ticks)", _esc(summary.latency_text())),
        ("messages sent / delivered / dropped",
         f"{_num(summary.messages_sent)} / {_num(summary.messages_delivered)} / "
         f"{_num(summary.messages_dropped)}"),
        ("drops by reason", _esc(", ".join(f"{k} {v:,}" for k, v in
                                           (summary.dropped_by_reason or {}).items()))
         or _none_inline()),
        ("bytes sent", _num(summary.bytes_sent)),
        ("wall time (s) / transactions per wall second",
         f"{_num(summary.wall_s)} / {_num(summary.txs_per_wall_s, ',.0f')}"),
    ]
    d = summary.domain or {}
    if d.get("shipments"):
        injected = d.get("diversions_injected") or {}
        flagged = d.get("diversions_flagged") or {}
        by_kind = ", ".join(f"{k} {flagged.get(k, 0)}/{n}" for k, n in injected.items() if n)
        outside = d.get("route_nations_outside_consortium") or []
        figures += [
            ("shipments (mass)", _esc(f"{d['shipments']:,} ({d.get('shipped_kg', 0):,.0f} kg)")),
            ("traced complete (% of mass)", _num(d.get("traced_complete_pct"))),
            ("diversions flagged / injected", _esc(
                f"{sum(flagged.values())} / {sum(injected.values())}"
                + (f" ({by_kind})" if by_kind else ""))),
            ("detection rate", _num(d.get("detection_rate"), ".1%")),
            ("detection delay p50 (ticks)", _num(d.get("detection_delay_ticks_p50"))),
            ("false flags", _num(d.get("false_flags"))),
            ("leaked (kg)", _num(d.get("leaked_kg"), ",.1f")),
            ("illicit attempts: detected / all (kg seized, kg leaked)", _esc(
                f"{d.get('illicit', {}).get('detected', 0):,} / "
                f"{d.get('illicit', {}).get('attempts', 0):,} "
                f"({d.get('illicit', {}).get('seized_kg', 0):,.1f}, "
                f"{d.get('illicit', {}).get('leaked_kg', 0):,.1f})")),
            ("inspections (found a difference)", _esc(
                f"{d.get('inspections', {}).get('count', 0):,} "
                f"({d.get('inspections', {}).get('found_difference', 0):,})")),
            ("PEN objections: licit / illicit", _esc(
                f"{d.get('pen_objections', {}).get('licit', 0):,} / "
                f"{d.get('pen_objections', {}).get('illicit', 0):,}")),
            ("route nations outside the consortium", _esc(", ".join(
                f"{o['nation']} ({o['mass_share']:.1%} of mass)" for o in outside))
             or _none_inline()),
        ]
    else:
        figures.append(("trade", _none_inline("none: this scenario ships no precursors")))
    workload = getattr(s, "workload", None) or {}
    injected = [f"{kind}: {count:,} injected in declared trade"
                for kind, count in sorted((workload.get("diversions") or {}).items()) if count]
    injected += [f"{kind}: {count:,} illicit attempts" + (" (in 4 parts each)"
                                                          if kind == "split" else "")
                 for kind, count in sorted((workload.get("illicit") or {}).items()) if count]
    faults = ([_describe_behaviour(b) for b in getattr(s, "behaviours", ())]
              + [_describe_partition(p) for p in getattr(s, "partitions", ())] + injected)
    return (
        "<h3>Verdicts</h3>\n" + _rows(verdicts)
        + "<h3>Violations</h3>\n" + _item_list(summary.violations or [], _compact)
        + "<h3>Equivocation evidence</h3>\n"
        + _item_list(summary.evidence or [], _compact)
        + "<h3>Main figures</h3>\n" + _rows(figures)
        + "<h3>Faults, behaviours, diversions and illicit attempts in the scenario</h3>\n"
        + _item_list(faults, str)
    )


def _toml(value) -> str:
    """Verdicts as the scenario file writes them: true, false, "any"."""
    return json.dumps(value) if value is not None else "?"


def _window(from_tick, until_tick) -> str:
    return f"ticks {from_tick}-{'end' if until_tick is None else until_tick}"


def _describe_behaviour(b) -> str:
    params = getattr(b, "params", None)
    extra = f" {json.dumps(params, sort_keys=True, default=str)}" if params else ""
    return f"{b.kind}: {', '.join(b.nations)}, {_window(b.from_tick, b.until_tick)}{extra}"


def _describe_partition(p) -> str:
    groups = " | ".join(", ".join(g) for g in p.groups)
    params = getattr(p, "params", None)
    extra = f" {json.dumps(params, sort_keys=True, default=str)}" if params else ""
    return f"partition: {groups}, {_window(p.from_tick, p.until_tick)}{extra}"


def _flags_body(world, summary: RunSummary) -> str:
    by_kind = (summary.domain or {}).get("flags_by_kind") or {}
    counts = ", ".join(f"{k} {v:,}" for k, v in by_kind.items() if v)
    head = f"<p>Flags by kind (first honest commit of each block): {_esc(counts or 'none')}</p>\n"
    if getattr(world, "ledger_flags", None) is not None:  # a live cluster: its longest ledger
        reader, flags = "the longest node ledger", list(world.ledger_flags)
    else:
        reader = next((n for n in world.nations if world.nodes.get(n) is not None), None)
        if reader is None:
            return head + _none("none: no nation is up at the end of the run to read the "
                                "ledger")
        flags = list(world.nodes[reader].chaincode.state.flags)
    if not flags:
        return head + _none("none: the ledger holds no flag")
    rows = []
    for f in flags[:FLAG_ROWS_MAX]:
        rows.append("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in (
            f.time_ticks, f.kind, f.subject, f.event_id or "(deadline)", kg_text(f.detail),
            _truth(world, f))) + "</tr>\n")
    rest = len(flags) - FLAG_ROWS_MAX
    more = f"<p>and {rest:,} more flags not shown</p>\n" if rest > 0 else ""
    return (head + f"<p>Read from the ledger of {_esc(reader)}, {len(flags):,} flags.</p>\n"
            "<table>\n<tr><th>tick</th><th>kind</th><th>subject</th><th>event</th>"
            "<th>detail</th><th>what really happened</th></tr>\n" + "".join(rows) + "</table>\n"
            + more)


def kg_text(detail: str) -> str:
    """A chaincode detail with its masses in kg, as the rest of the report: the ledger records
    grams ("shipped 2187 g, received 1619 g" reads "shipped 2.187 kg, received 1.619 kg")."""
    return GRAMS.sub(lambda m: f"{int(m.group(1)) / 1000:,.3f} kg", detail)


def _economy_body(summary: RunSummary) -> str:
    d = summary.domain or {}
    if not d.get("shipments"):
        return _none("none: this scenario ships no precursors")
    missed = d.get("missed") or []
    if missed:
        rows = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in (
            m["kind"], m["shipment"], m["lot"], m["chemical"], f"{m['kg']:,.3f}",
            MISSED_WHY.get(m["kind"], MISSED_WHY_DEFAULT))) + "</tr>\n" for m in missed)
        more = d.get("missed_count", len(missed)) - len(missed)
        body = (f"<h3>Missed: {d.get('missed_count', len(missed)):,}, "
                f"{d.get('leaked_kg', 0):,.1f} kg leaked</h3>\n<table>\n<tr><th>kind</th>"
                "<th>shipment</th><th>lot</th><th>chemical</th><th>kg</th>"
                "<th>why it was missed</th></tr>\n" + rows
                + "</table>\n" + (f"<p>and {more:,} lighter ones not shown</p>\n"
                                   if more > 0 else ""))
    else:
        body = "<h3>Missed</h3>\n" + _none("none: every diversion and attempt was caught")
    traced, dark = d.get("traced_kg_by_nation") or {}, d.get("dark_kg_by_nation") or {}
    nations = sorted(set(traced) | set(dark), key=lambda n: (-traced.get(n, 0), n))
    rows = "".join(f"<tr><td>{_esc(n)}</td><td>{traced.get(n, 0):,.1f}</td>"
                   f"<td>{dark.get(n, 0):,.1f}</td></tr>\n" for n in nations)
    return body + ("<h3>Licit mass by nation (kg)</h3>\n<table>\n<tr><th>nation</th>"
                   "<th>traced</th><th>dark</th></tr>\n" + rows + "</table>\n"
                   if nations else "")


def _truth(world, flag) -> str:
    domain = getattr(world.workload, "domain", None)  # the trade's oracle, if a trade runs
    if domain is None:
        return "unknown"
    plan = domain.by_subject.get(flag.subject) or domain.by_event.get(flag.event_id)
    if plan is None:
        return "not in the trade plan"
    if domain.is_coverage_gap(plan, flag.kind):
        return f"{plan.id}'s declared route crosses a nation that keeps no records (coverage gap)"
    if plan.diversion is None:
        return f"legitimate shipment {plan.id} (false flag)"
    return f"diversion {plan.diversion} in {plan.id} (caught)"


def _trade_body(world, roles: dict[str, str]) -> str:
    graph = getattr(world.workload, "routes", None)
    if graph is None or graph.number_of_nodes() == 0:
        return _none("none: no trade routes among these nations")
    figure = _figure_or_none(_plot_trade(graph, roles), "none")
    off_route = sorted(n for n in roles if n not in graph)
    note = ""
    if off_route:
        note = ("<p>Marked nations not on any route: "
                + _esc(", ".join(f"{n} ({roles[n]})" for n in off_route)) + "</p>\n")
    shown = graph.number_of_nodes()
    if shown > TRADE_NODES_MAX:
        note += (f"<p>Only the {TRADE_NODES_MAX} nations carrying the most mass are drawn, of "
                 f"{shown:,}.</p>\n")
    return figure + note


# ---------------------------------------------------------------------------------- plots


def _svg(fig, salt: str) -> str:
    """The figure as an inline <svg> element (no XML prolog), then the figure is closed."""
    buf = io.StringIO()
    # Salted ids keep the clip paths of several inline SVGs apart; no metadata means no date and
    # no Dublin Core links in the file.
    with matplotlib.rc_context({"svg.hashsalt": f"chemtrace-{salt}", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight",
                    metadata={"Date": None, "Creator": None, "Type": None, "Format": None})
    plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")
    if start < 0:
        raise RuntimeError("matplotlib produced no <svg> element")
    # matplotlib numbers its groups per figure (figure_1, axes_1, ...): prefix every id and
    # every reference to one, so ids stay unique across the plots of one page.
    text = text[start:]
    for old, new in (('id="', f'id="{salt}-'), ('href="#', f'href="#{salt}-'),
                     ("url(#", f"url(#{salt}-")):
        text = text.replace(old, new)
    return text


def _figure_or_none(svg: str | None, none: str) -> str:
    if svg is None:
        return _none(f"none: {none}")
    return f"<figure>\n{svg}\n</figure>\n"


def _label(text: str) -> str:
    """matplotlib reads $...$ as maths; nation codes and kinds are shown literally."""
    return str(text).replace("$", r"\$")


def _thin(points: list[tuple[int, int]], points_max: int) -> list[tuple[int, int]]:
    if len(points) <= points_max:
        return points
    step = math.ceil(len(points) / points_max)
    return points[::step] + [points[-1]]


def _plot_commits(world) -> str | None:
    commits = {n: world.commits.get(n) or [] for n in world.nations}
    if not any(commits.values()):
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    many = len(world.nations) > LEGEND_NATIONS_MAX
    points_max = max(COMMIT_POINTS_MIN, COMMIT_POINTS_TOTAL_MAX // len(world.nations))
    drawn = [n for n in world.nations if commits[n]]
    for i, nation in enumerate(drawn):
        points = _thin(sorted(commits[nation]), points_max)
        ticks = [0] + [t for t, _ in points] + [world.scenario.ticks_max]
        heights = [0] + [h for _, h in points] + [points[-1][1]]
        # widest first; markers spread over the run, each nation's a little apart from the last
        width = 0.8 if many else 1.2 + 1.6 * (len(drawn) - 1 - i) / max(1, len(drawn) - 1)
        ax.step(ticks, heights, where="post", linewidth=width, alpha=0.5 if many else 0.9,
                linestyle=LINE_STYLES[i % len(LINE_STYLES)],
                marker=None if many else LINE_MARKERS[i % len(LINE_MARKERS)], markersize=4,
                markevery=(i % 8 / 8 * 0.1, 0.1), label=_label(nation),
                gid=f"commit-line-{nation}")
    _shade_windows(ax, world)
    ax.set_xlabel("tick")
    ax.set_ylabel("height committed")
    ax.set_xlim(0, world.scenario.ticks_max)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if not many:
        # lower right: heights rise to the upper right, and window labels sit at the top
        ax.legend(loc="lower right", fontsize=8, ncol=2, frameon=True, framealpha=0.9)
    return _svg(fig, "commits")


def fault_windows(world) -> list[tuple[str, str, int, int]]:
    """The scenario's windows in time: (kind of window, label, from tick, until tick), for
    crashes, partitions and behaviours (one without an until_tick lasts to the end). An opt-out
    is no window: the nation has no node at all, and the trade graph marks it."""
    s = world.scenario
    end = s.ticks_max
    roles = nation_roles(world)
    out = []
    for b in getattr(s, "behaviours", ()):
        if b.kind == BehaviourKind.OPT_OUT:
            continue
        kind = ("crash" if b.kind == BehaviourKind.CRASH
                else roles.get(b.nations[0], "Byzantine"))
        out.append((kind, f"{b.kind} {', '.join(b.nations)}", b.from_tick,
                    end if b.until_tick is None else b.until_tick))
    for p in getattr(s, "partitions", ()):
        out.append(("partition", "partition " + " | ".join("+".join(g) for g in p.groups),
                    p.from_tick, end if p.until_tick is None else p.until_tick))
    return out


def _shade_windows(ax, world) -> None:
    """Shade each fault and behaviour window on a plot whose x axis is the tick, labelled at
    the top (one row per window, so overlapping windows stay apart)."""
    windows = fault_windows(world)
    for i, (kind, label, start, until) in enumerate(windows):
        colour = WINDOW_COLOURS.get(kind, WINDOW_COLOURS["Byzantine"])
        ax.axvspan(start, until, color=colour, alpha=0.35, zorder=0, linewidth=0,
                   gid=f"window-{i}")
        if len(windows) <= WINDOW_LABELS_MAX:
            ax.text(start, 1.0 - 0.06 * i, f" {_label(label)}", transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", ha="left", color="#333", clip_on=True, zorder=5)


def _plot_latency(world, summary: RunSummary) -> str | None:
    lat = list(world.latencies_ticks)
    if not lat:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.8))
    span = max(lat) - min(lat)
    bins = max(1, min(LATENCY_BINS_MAX, span + 1))
    ax.hist(lat, bins=bins, color="#4393c3", edgecolor="white", linewidth=0.4)
    for key, style in (("latency_ticks_p50", "--"), ("latency_ticks_p99", ":")):
        value = getattr(summary, key)
        if value is not None:
            ax.axvline(value, color="#222", linestyle=style, linewidth=1,
                       label=f"{key.split('_')[-1]} = {value} ticks")
    ax.set_xlabel("ticks from submission to first commit")
    ax.set_ylabel("transactions")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig, "latency")


def _plot_messages(world, roles: dict[str, str]) -> str | None:
    sent = [(n, world.sent_by_nation.get(n, 0)) for n in world.nations]
    if not any(count for _, count in sent):
        return None
    sent = sent[:BARS_MAX]
    width = min(FIGURE_WIDTH_IN_MAX, max(6.0, 0.25 * len(sent)))
    fig, ax = plt.subplots(figsize=(width, 3.8))
    colours = [ROLE_STYLE[roles[n]][1] if n in roles else MEMBER_COLOUR for n, _ in sent]
    ax.bar(range(len(sent)), [c for _, c in sent], color=colours)
    ax.set_xticks(range(len(sent)), [_label(n) for n, _ in sent],
                  rotation=90 if len(sent) > 12 else 0, fontsize=7 if len(sent) > 40 else 9)
    ax.set_ylabel("messages sent")
    ax.grid(alpha=0.3, axis="y")
    used = sorted({roles[n] for n, _ in sent if n in roles}, key=ROLES.index)
    if used:
        handles = [Line2D([], [], color=MEMBER_COLOUR, linewidth=6, label="no behaviour")]
        handles += [Line2D([], [], color=ROLE_STYLE[r][1], linewidth=6, label=r) for r in used]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                  fontsize=8)
    return _svg(fig, "messages")


def _kind_group(kind: str) -> str:
    return "sync" if kind.startswith("sync") else kind


def _plot_spacetime(world) -> str | None:
    messages = list(world.spacetime)
    if not messages:
        return None
    row = {n: i for i, n in enumerate(world.nations)}
    segments: dict[str, list] = {}
    for sent, delivered, src, dst, kind, _height, _round in messages:
        if src not in row or dst not in row:
            continue
        segments.setdefault(_kind_group(kind), []).append(
            ((sent, row[src]), (delivered, row[dst])))
    if not segments:
        return None
    height_in = min(FIGURE_WIDTH_IN_MAX, max(3.5, 0.3 * len(world.nations)))
    fig, ax = plt.subplots(figsize=(12, height_in))
    order = [k for k in KIND_COLOURS if k in segments] + sorted(set(segments) - set(KIND_COLOURS))
    handles = []
    for kind in order:
        colour = KIND_COLOURS.get(kind, OTHER_KIND_COLOUR)
        lines = segments[kind]
        # txs gossip is the bulk: draw it faint and underneath, consensus messages on top
        # and proposals, the rarest, on top of the votes.
        faint, rare = kind == MessageKind.TXS, kind in (MessageKind.PROPOSAL, "sync")
        zorder = 1 if faint else (4 if rare else 2)
        ax.add_collection(LineCollection(lines, colors=colour,
                                         linewidths=0.6 if faint else (1.6 if rare else 0.9),
                                         alpha=0.35 if faint else 0.85, zorder=zorder))
        ends = [end for _, end in lines]
        ax.scatter([x for x, _ in ends], [y for _, y in ends], s=9 if rare else 4,
                   color=colour, zorder=zorder + 0.5, linewidths=0)
        handles.append(Line2D([], [], color=colour, linewidth=2,
                              label=f"{_label(kind)} ({len(lines):,})"))
    ticks = [t for m in messages for t in (m[0], m[1])]
    ax.set_xlim(min(ticks) - 1, max(ticks) + 1)
    ax.set_ylim(-0.5, len(world.nations) - 0.5)
    _shade_windows(ax, world)
    ax.set_yticks(range(len(world.nations)), [_label(n) for n in world.nations],
                  fontsize=7 if len(world.nations) > 40 else 9)
    ax.invert_yaxis()
    ax.set_xlabel("tick (line from send to delivery; dot at the receiver)")
    heights = sorted({m[5] for m in messages})
    ax.set_title(f"heights {heights[0]}-{heights[-1]}, {len(messages):,} messages", fontsize=9)
    ax.grid(alpha=0.2, axis="y")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
              fontsize=8)
    return _svg(fig, "spacetime")


def _plot_trade(graph: nx.DiGraph, roles: dict[str, str]) -> str | None:
    if graph.number_of_nodes() > TRADE_NODES_MAX:
        keep = sorted(graph.nodes, key=lambda n: (-graph.nodes[n].get("mass_share", 0.0), n))
        graph = graph.subgraph(keep[:TRADE_NODES_MAX])
    # Sorted nodes and edges and a fixed seed: the same routes give the same picture.
    g = nx.DiGraph()
    g.add_nodes_from(sorted(graph.nodes(data=True)))
    g.add_edges_from(sorted(graph.edges(data=True)))
    pos, rows = _flow_layout(g)
    fig, ax = plt.subplots(figsize=(10, min(FIGURE_WIDTH_IN_MAX, max(4.5, 0.9 * rows))))
    shares = [d.get("mass_share", 0.0) for _, _, d in g.edges(data=True)]
    top = max(shares, default=0.0) or 1.0
    node_top = max((d.get("mass_share", 0.0) for _, d in g.nodes(data=True)), default=0.0) or 1.0
    size = {n: (500 + 900 * d.get("mass_share", 0.0) / node_top)
            * (1.6 if roles.get(n) == "corrupt" else 1.0)  # a triangle fills less of its box
            for n, d in g.nodes(data=True)}
    # node_size in node order lets each arrow stop at the rim of the node it points to
    nx.draw_networkx_edges(g, pos, ax=ax, width=[0.6 + 7.0 * s / top for s in shares],
                           edge_color="#777", alpha=0.7, arrows=True, arrowsize=14,
                           connectionstyle="arc3,rad=0.12",
                           node_size=[size[n] for n in g.nodes])
    for role in (None,) + ROLES:
        nodes = [n for n in g.nodes if roles.get(n) == role]
        if not nodes:
            continue
        marker, edge = ROLE_STYLE[role] if role else ("o", "#333")
        nx.draw_networkx_nodes(
            g, pos, nodelist=nodes, ax=ax, node_shape=marker,
            node_size=[size[n] for n in nodes],
            node_color=[MEMBER_COLOUR if g.nodes[n].get("member") else NON_MEMBER_COLOUR
                        for n in nodes],
            edgecolors=edge, linewidths=3.0 if role else 0.8)
    nx.draw_networkx_labels(g, pos, ax=ax, labels={n: _label(n) for n in g.nodes},
                            font_size=8)
    handles = [
        Line2D([], [], marker="o", linestyle="", markersize=10, markerfacecolor=MEMBER_COLOUR,
               markeredgecolor="#333", label="member (keeps records)"),
        Line2D([], [], marker="o", linestyle="", markersize=10,
               markerfacecolor=NON_MEMBER_COLOUR, markeredgecolor="#333",
               label="not a member (no records)"),
    ]
    for role in ROLES:
        if any(roles.get(n) == role for n in g.nodes):
            marker, edge = ROLE_STYLE[role]
            handles.append(Line2D([], [], marker=marker, linestyle="", markersize=10,
                                  markerfacecolor="white", markeredgecolor=edge,
                                  markeredgewidth=2.5, label=role))
    handles.append(Line2D([], [], color="#777", linewidth=4,
                          label=f"thickest edge = {top:.1%} of mass"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
              fontsize=8, labelspacing=1.2)
    ax.set_title("sources on the left, transit in the middle, destinations on the right",
                 fontsize=9)
    ax.set_axis_off()
    ax.margins(0.1)
    return _svg(fig, "trade")


def _flow_layout(g: nx.DiGraph) -> tuple[dict[str, tuple[float, float]], int]:
    """Place each nation by the direction its mass flows: x is the share of its route mass that
    comes in (0 for a pure exporter, 1 for a pure destination), snapped to TRADE_COLUMNS columns;
    nations of one column are stacked by mass, the heaviest in the middle. Routes have cycles
    (A -> B via C and C -> A via B), so a layered DAG layout would not always exist; this one
    does, and it reads left to right like the trade. Returns positions and the tallest column."""
    columns: dict[int, list[str]] = {}
    for n in g.nodes:
        in_mass = sum(d.get("mass_share", 0.0) for _, _, d in g.in_edges(n, data=True))
        out_mass = sum(d.get("mass_share", 0.0) for _, _, d in g.out_edges(n, data=True))
        x = in_mass / (in_mass + out_mass) if in_mass + out_mass > 0 else 0.5
        columns.setdefault(round(x * (TRADE_COLUMNS - 1)), []).append(n)
    pos = {}
    for col, nations in columns.items():
        nations.sort(key=lambda n: (-g.nodes[n].get("mass_share", 0.0), n))
        # heaviest in the middle, then alternating above and below
        for i, n in enumerate(nations):
            offset = (i + 1) // 2 * (1 if i % 2 else -1)
            # a small slant within a column keeps arrows between neighbours off the nodes
            pos[n] = (col + 0.12 * offset, float(offset))
    return pos, max((len(v) for v in columns.values()), default=1)
