"""The scenario schema: every key a scenario file may hold, its type, default and meaning.

Scenarios are data (like the `fast/*.toml` test specs of FoundationDB's simulator): a workload table plus fault tables. The
schema below is the single source of truth: the loader validates against it, and
`docs/scenario-reference.md` is checked against it by a test. An unknown key is an error, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from nodes.node import VALIDITY_CHECKS

REQUIRED = object()


@dataclass(frozen=True)
class Key:
    type: str  # "str", "int", "float", "bool", "list[str]", "list[int]", "list[list[str]]"
    default: object
    doc: str
    example: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    table: "Table | None" = None  # for type "tables": the spec of each entry


@dataclass(frozen=True)
class Table:
    doc: str
    keys: dict[str, Key]
    array: bool = False  # [[table]] rather than [table]
    required: bool = False
    extra: dict[str, str] = field(default_factory=dict)


TICKS_MAX_LIMIT = 10_000_000
NATIONS_MAX = 256
UN_MEMBERS = 193  # rows of nodes/data/nations.csv with un_member = 1 (a test checks it)
NATION_PRESETS = ("un-members",)
NETWORK_MODELS = ("uniform", "regions")
PARTITION_DIRECTIONS = ("both", "outbound", "inbound")
class BehaviourKind(StrEnum):
    """The `kind` of a `[[behaviour]]`: one member per key of BEHAVIOURS (a test checks). A
    member is its string, so it compares, hashes, formats and JSON-encodes as the TOML value."""
    CRASH = "crash"
    OPT_OUT = "opt_out"
    MUTE = "mute"
    EQUIVOCATE = "equivocate"
    AMNESIA = "amnesia"
    TWIN = "twin"
    CENSOR = "censor"
    WITHHOLD_OBJECTION = "withhold_objection"
    FALSE_REPORT = "false_report"
    COLLUDE = "collude"
    INVALID_SIGNATURE = "invalid_signature"
    DELAY = "delay"
    MUTATE = "mutate"
    FORGE_VOTES = "forge_votes"
    FORGE_SYNC = "forge_sync"
    FORK = "fork"
    INVALID_BLOCK = "invalid_block"


# What the shared chain carries of a custody event (nodes/app/privacy.py, docs/privacy.md).
PRIVACY_MODES = ("plaintext", "lane-private", "committed-quantities")
SIGNATURE_SCHEMES = ("ed25519", "modelled")  # nodes.chain.modelled.SCHEMES

# Each behaviour kind, what it does, and its params (name -> Key). Byzantine kinds wrap an honest
# node and rewrite what it sends or how it judges; corrupt kinds bend the records officials file.
# The highest round a round partition may name ([[partition]] rounds).
ROUND_PARTITION_ROUND_MAX = 1000

# Where a crash may strike (the crash behaviour's `at`): at a tick, or at a protocol point.
CRASH_POINTS = ("tick", "persist", "lock", "precommit")

BEHAVIOURS: dict[str, tuple[str, dict]] = {
    "crash": ("Stops at from_tick (or, with `at`, at its first such protocol point from "
              "from_tick on); with until_tick, restarts from its persisted state (or, with "
              "wipe, from nothing) and catches up by state sync.", {
                  "wipe": Key("bool", False, "Restart with no blocks and no write-ahead record.",
                              "params = { wipe = true }"),
                  "at": Key("str", "tick", "tick: at from_tick. persist: right after it writes "
                            "its write-ahead record, before what it was about to send goes "
                            "out. lock: the same, at the write that takes a new lock (its "
                            "precommit never leaves). precommit: right after a precommit of its "
                            "own went out. A point not reached before until_tick is no crash.",
                            'params = { at = "lock" }', choices=CRASH_POINTS)}),
    "opt_out": ("Not in the consortium: no node, no vote, no records; shipments through it go "
                "dark. With mode = \"records_only\" it votes but files none of its own records. "
                "Applies to the whole run.", {
                    "mode": Key("str", "full", "full or records_only.",
                                'params = { mode = "records_only" }',
                                choices=("full", "records_only")),
                    "joins_under": Key("list[str]", [], "Privacy modes ([privacy] mode) under "
                                       "which the nation joins after all: its reason to stay "
                                       "out is that its trade would be plaintext to every "
                                       "nation.", 'params = { joins_under = ["lane-private"] }',
                                       choices=PRIVACY_MODES)}),
    "mute": ("Alive and following the protocol, but sends nothing.", {}),
    "equivocate": ("Signs conflicting votes; as proposer, sends different blocks to different "
                   "peers. mode = \"noisy\" sends both versions to everyone (evidence is "
                   "recorded); \"split\" coordinates with the other equivocators to show each "
                   "half of the honest nations its own value.", {
                       "mode": Key("str", "noisy", "noisy or split.",
                                   'params = { mode = "split" }', choices=("noisy", "split"))}),
    "amnesia": ("Forgets its lock (locked_value, locked_round) after every step.", {}),
    "twin": ("A second instance runs with the same key, as in Twins; each instance talks to "
             "half of the other nations.", {}),
    "censor": ("As proposer, leaves out the transactions signed by the given nations; as voter, "
               "prevotes nil on blocks that hold them.", {
                   "nations": Key("list[str]", REQUIRED, "Whose transactions are censored.",
                                  'params = { nations = ["MEX"] }')}),
    "withhold_objection": ("An importing authority that never answers a pre-export "
                           "notification, so its silence rule decides.", {}),
    "false_report": ("Its officials file false quantities: as exporter, a ship under-declares "
                     "what leaves (the rest is diverted); as importer, a receipt under-reports "
                     "what arrived.", {
                         "rate": Key("float", 1.0, "Share of its shipments falsified.",
                                     "params = { rate = 0.5 }", minimum=0.0, maximum=1.0),
                         "under_report_pct": Key("float", 20.0, "How much is left off.",
                                                 "params = { under_report_pct = 20 }",
                                                 minimum=0.0, maximum=100.0)}),
    "collude": ("The listed nations approve each other's diversions: on shipments between two of "
                "them, the exporter under-declares and the importer confirms the false figure.", {
                    "rate": Key("float", 1.0, "Share of their mutual shipments diverted.",
                                "params = { rate = 0.5 }", minimum=0.0, maximum=1.0),
                    "under_report_pct": Key("float", 30.0, "How much is diverted.",
                                            "params = { under_report_pct = 30 }", minimum=0.0,
                                            maximum=100.0)}),
    "invalid_signature": ("Sends its messages with corrupted signatures (peers drop them).", {
        "rate": Key("float", 1.0, "Share of messages corrupted.", "params = { rate = 0.5 }",
                    minimum=0.0, maximum=1.0)}),
    "delay": ("Slows every message it sends by params.ticks.", {
        "ticks": Key("int", REQUIRED, "Extra delay per message.", "params = { ticks = 200 }",
                     minimum=1, maximum=1_000_000)}),
    "mutate": ("Small message mutations, as in ByzzFuzz: each consensus message it sends is, "
               "with chance rate and separately for every peer, changed to round +/- 1, "
               "height +/- 1 or another value (re-signed with its own key), or left out.", {
                   "rate": Key("float", 0.5, "Share of messages mutated, per peer.",
                               "params = { rate = 0.3 }", minimum=0.0, maximum=1.0)}),
    "forge_votes": ("Sends, each round, a proposal for a block of its own in the next round's "
                    "proposer's name and precommits for it in every validator's name, all with "
                    "invalid signatures (a different block to each half of its peers). Peers "
                    "that check signatures drop them.", {}),
    "forge_sync": ("Answers state-sync requests with fabricated blocks under forged, empty or "
                   "stolen certificates; after each commit it also pushes its block and a "
                   "fabricated next one to every peer. Peers that check certificates drop "
                   "the fabrications.", {
                       "certificate": Key("str", "forged", "forged: precommits from every "
                                          "validator with invalid signatures; empty: none; "
                                          "stolen: the real precommits of the block below, "
                                          "relabelled for the fabrication; own: the "
                                          "forger's own signed precommit alone.",
                                          'params = { certificate = "empty" }',
                                          choices=("forged", "empty", "stolen", "own")),
                       "push": Key("bool", True, "Also push fabricated blocks unasked, after "
                                   "each commit.", "params = { push = false }")}),
    "fork": ("The fork nations collude to split the honest nations, as the safety proof "
             "rules out: when one of them proposes, a block goes to a group just big enough to "
             "lock on it with their votes, another block to the rest, and their votes go to "
             "chosen nations only; later they back a fresh value (or claim a valid_round they "
             "never had). Honest locks hold; withheld votes are shown to all after a few "
             "rounds.", {
                 "mode": Key("str", "cycle", "Which split to play: cycle tries each in turn; "
                             "lock_quorum, lock_quorum_fake, prevote_victim and lock_one are "
                             "described in scenarios/faults/adversaries.py.",
                             'params = { mode = "lock_one" }',
                             choices=("cycle", "lock_quorum", "lock_quorum_fake",
                                      "prevote_victim", "lock_one"))}),
    "invalid_block": ("As proposer, proposes a block that breaks one check of valid() and "
                      "passes the others: the wrong previous hash, a proposer that "
                      "is no genesis nation, the wrong application hash, a time before the "
                      "block below, a transaction twice, one already committed, or one with "
                      "a bad signature. Honest nations prevote nil on it.", {
                          "check": Key("str", "cycle", "Which check the block breaks; cycle: "
                                       "the next one at each proposal, from a start drawn by a hash of the "
                                       "nation.",
                                       'params = { check = "time" }',
                                       choices=("cycle", *VALIDITY_CHECKS))}),
}
BEHAVIOUR_KINDS = tuple(BEHAVIOURS)
BYZANTINE_KINDS = (BehaviourKind.MUTE, BehaviourKind.EQUIVOCATE, BehaviourKind.AMNESIA,
                   BehaviourKind.TWIN, BehaviourKind.CENSOR, BehaviourKind.INVALID_SIGNATURE,
                   BehaviourKind.MUTATE, BehaviourKind.FORGE_VOTES, BehaviourKind.FORGE_SYNC,
                   BehaviourKind.FORK, BehaviourKind.INVALID_BLOCK)
CORRUPT_KINDS = (BehaviourKind.WITHHOLD_OBJECTION, BehaviourKind.FALSE_REPORT,
                 BehaviourKind.COLLUDE)
DIVERSION_KINDS = ("under_report", "false_origin", "undeclared_transit", "dark_hop", "overdue",
                   "unregistered", "yield_exceeded")
# Illicit attempts that do not declare themselves (scenarios/trade/workload.py says what each does).
ILLICIT_KINDS = ("smuggle", "mislabel", "pre_precursor", "front_company", "split")
# The grounds on which an importing authority objects to a PEN (nodes/app/authority.py).
OBJECTION_GROUNDS = ("unknown_consignee", "unlicensed_importer", "missing_end_use", "above_need")

SCHEMA: dict[str, Table] = {
    "scenario": Table(
        "What the run is and how long it lasts.",
        {
            "name": Key("str", REQUIRED, "Name of the scenario; names the default output folder.",
                        'name = "baseline"'),
            "description": Key("str", "", "One line: the question this scenario answers.",
                               'description = "Seven nations, no faults"'),
            "seed": Key("int", 0, "Seed of every random choice; `--seed` overrides it.",
                        "seed = 7", minimum=0, maximum=2**63 - 1),
            "ticks_max": Key("int", 20_000, "Virtual ticks to simulate; `--ticks-max` overrides it.",
                             "ticks_max = 20000", minimum=1, maximum=TICKS_MAX_LIMIT),
            "ticks_per_trade_day": Key("int", 100, "Trade time: how many ticks make one day of "
                                       "trade (docs/domain.md, \"Time\"). The network keeps "
                                       "1 tick = 1 ms; trade runs compressed, so a PEN reply "
                                       "window of 15 days is 1,500 ticks and a year of trade "
                                       "36,500.", "ticks_per_trade_day = 100", minimum=1,
                                       maximum=100_000),
            "trade_epoch": Key("str", "2025-01-01", "The calendar date of tick 0: the registry's "
                               "rules (Convention tables, national controls, licences) apply "
                               "as of each event's date.", 'trade_epoch = "2025-01-01"'),
        },
        required=True,
    ),
    "nations": Table(
        "A preset list of consortium members: all UN member states, or the first `count` of "
        "them, in alpha-3 order (nodes/data/nations.csv). Give preset or count, not both. "
        "`[[nation]]` tables may be added: one naming a preset nation overrides its entry, any "
        "other adds a nation.",
        {
            "preset": Key("str", None, "Which nations: all 193 UN member states.",
                          'preset = "un-members"', choices=NATION_PRESETS),
            "count": Key("int", None, "The first N UN member states in alpha-3 order.",
                         "count = 16", minimum=1, maximum=UN_MEMBERS),
            "power": Key("int", 1, "Voting power of every nation, including `[[nation]]` "
                         "entries that do not set their own.", "power = 1", minimum=1,
                         maximum=10_000),
        },
    ),
    "nation": Table(
        f"One consortium member. At least one is required unless `[nations]` is given; at most "
        f"{NATIONS_MAX} in all.",
        {
            "id": Key("str", REQUIRED, "ISO 3166 alpha-3 code of the nation.", 'id = "USA"'),
            "power": Key("int", 1, "Voting power; a quorum is more than 2/3 of the total.",
                         "power = 1", minimum=1, maximum=10_000),
            "requires_pen": Key("bool", True, "Whether exporters must file a pre-export "
                                "notification (PEN) before shipping here.",
                                "requires_pen = true"),
            "pen_silence": Key("str", "consent", "What no reply to a PEN by the deadline means "
                               "(the EU-Ecuador agreement: consent).", 'pen_silence = "consent"',
                               choices=("consent", "block")),
            "pen_reply_window_ticks": Key("int", 1500, "How long this nation has to answer a "
                                          "PEN before silence applies.",
                                          "pen_reply_window_ticks = 1500", minimum=1,
                                          maximum=10_000_000),
            "objects_to": Key("list[str]", list(OBJECTION_GROUNDS), "The grounds on which this "
                              "nation's authority objects to a PEN: an unknown consignee, an "
                              "importer without a valid import licence, no end-use declaration, "
                              "a quantity above the importer's stated need. [] answers every "
                              "PEN with no objection.", 'objects_to = ["unknown_consignee"]',
                              choices=OBJECTION_GROUNDS),
            "inspection_budget": Key("float", None, "Share of the consignments entering or "
                                     "crossing this nation that its customs inspect; default: "
                                     "[inspection] budget.", "inspection_budget = 0.1",
                                     minimum=0.0, maximum=1.0),
        },
        array=True,
    ),
    "network": Table(
        "The link model between every pair of nations (1 tick = 1 ms by convention). Later "
        "layers win key by key: these global values (as changed by `[[network.change]]`), then "
        "the model's latency, then a `[[network.link]]` naming the pair.",
        {
            "model": Key("str", "uniform", "`uniform`: every link takes latency_ticks. "
                         "`regions`: a link takes the one-way latency between its nations' "
                         "regions (nodes/data/nations.csv) from scenarios/data/regions.toml, "
                         "times latency_scale.", 'model = "regions"', choices=NETWORK_MODELS),
            "latency_ticks": Key("int", 20, "Mean one-way delay of a message, in ticks, with "
                                 "model = \"uniform\".", "latency_ticks = 20", minimum=1,
                                 maximum=100_000),
            "latency_scale": Key("float", 1.0, "With model = \"regions\", multiplies every "
                                 "entry of the region matrix.", "latency_scale = 0.5",
                                 minimum=0.01, maximum=100.0),
            "jitter_ticks": Key("int", 10, "Uniform jitter added to each delay, +/- ticks; it "
                                "also reorders messages.", "jitter_ticks = 10",
                                minimum=0, maximum=100_000),
            "loss_probability": Key("float", 0.0, "Chance that a message is lost.",
                                    "loss_probability = 0.01", minimum=0.0, maximum=1.0),
            "duplicate_probability": Key("float", 0.0, "Chance that a message arrives twice.",
                                         "duplicate_probability = 0.01", minimum=0.0, maximum=1.0),
            "reorder_probability": Key("float", 0.0, "Chance that a message is held back by an "
                                       "extra random delay of 1 to 4 x its link's latency, so "
                                       "later messages overtake it.",
                                       "reorder_probability = 0.05", minimum=0.0, maximum=1.0),
            "link": Key("tables", [], "Settings for named nation pairs; see "
                        "`[[network.link]]` below.",
                        '[[network.link]] from = "USA" to = "CHN" latency_ticks = 150',
                        table=Table(
                            "Overrides for one pair of nations, for the whole run; keys left "
                            "out follow the global values and the model.",
                            {
                                "from": Key("str", REQUIRED, "One end (a nation id of the "
                                            "scenario).", 'from = "USA"'),
                                "to": Key("str", REQUIRED, "The other end.", 'to = "CHN"'),
                                "latency_ticks": Key("int", None, "One-way delay on this link, "
                                                     "in ticks (not scaled by latency_scale).",
                                                     "latency_ticks = 150", minimum=1,
                                                     maximum=100_000),
                                "jitter_ticks": Key("int", None, "Jitter on this link, +/- "
                                                    "ticks.", "jitter_ticks = 30", minimum=0,
                                                    maximum=100_000),
                                "loss_probability": Key("float", None, "Chance that a message "
                                                        "on this link is lost.",
                                                        "loss_probability = 0.2", minimum=0.0,
                                                        maximum=1.0),
                                "duplicate_probability": Key("float", None, "Chance that a "
                                                             "message on this link arrives "
                                                             "twice.",
                                                             "duplicate_probability = 0.1",
                                                             minimum=0.0, maximum=1.0),
                                "symmetric": Key("bool", True, "true: the settings hold both "
                                                 "ways; false: only from -> to.",
                                                 "symmetric = false"),
                            },
                            array=True)),
            "change": Key("tables", [], "Global settings that change at a tick; see "
                          "`[[network.change]]` below.",
                          "[[network.change]] at_tick = 4000 loss_probability = 0.1",
                          table=Table(
                              "From at_tick on, the keys given replace the global values; keys "
                              "left out keep their value. List changes in order of at_tick.",
                              {
                                  "at_tick": Key("int", REQUIRED, "First tick of the new "
                                                 "values; below ticks_max.", "at_tick = 4000",
                                                 minimum=0, maximum=TICKS_MAX_LIMIT),
                                  "latency_ticks": Key("int", None, "New latency_ticks (model "
                                                       "\"uniform\").", "latency_ticks = 80",
                                                       minimum=1, maximum=100_000),
                                  "latency_scale": Key("float", None, "New latency_scale (model "
                                                       "\"regions\").", "latency_scale = 2.0",
                                                       minimum=0.01, maximum=100.0),
                                  "jitter_ticks": Key("int", None, "New jitter_ticks.",
                                                      "jitter_ticks = 40", minimum=0,
                                                      maximum=100_000),
                                  "loss_probability": Key("float", None, "New "
                                                          "loss_probability.",
                                                          "loss_probability = 0.1",
                                                          minimum=0.0, maximum=1.0),
                                  "duplicate_probability": Key("float", None, "New "
                                                               "duplicate_probability.",
                                                               "duplicate_probability = 0.05",
                                                               minimum=0.0, maximum=1.0),
                                  "reorder_probability": Key("float", None, "New "
                                                             "reorder_probability.",
                                                             "reorder_probability = 0.2",
                                                             minimum=0.0, maximum=1.0),
                              },
                              array=True)),
        },
    ),
    "partition": Table(
        "Groups of nations that cannot reach each other between two ticks. Nations not listed "
        "form one more group together.",
        {
            "groups": Key("list[list[str]]", REQUIRED, "Lists of nation ids; each list is one "
                          "side of the partition.", 'groups = [["USA", "MEX"], ["CAN", "CHN"]]'),
            "from_tick": Key("int", 0, "First tick of the partition.", "from_tick = 1000",
                             minimum=0, maximum=TICKS_MAX_LIMIT),
            "until_tick": Key("int", None, "Tick at which it heals; omit for a permanent one.",
                              "until_tick = 3000", minimum=1, maximum=TICKS_MAX_LIMIT),
            "direction": Key("str", "both", "`both`: no group reaches another. `outbound`: "
                             "messages from the first group to the others are dropped, the "
                             "reverse pass. `inbound`: messages into the first group from the "
                             "others are dropped, the reverse pass. One-way partitions only cut "
                             "links that touch the first group.", 'direction = "outbound"',
                             choices=PARTITION_DIRECTIONS),
            "rounds": Key("list[int]", [], "A Twins-style round partition: only the proposals "
                          "and votes of these consensus rounds are cut (resends and relays "
                          "included), between from_tick and until_tick; every other message "
                          "passes. Empty: every message.", "rounds = [0, 1]", minimum=0,
                          maximum=ROUND_PARTITION_ROUND_MAX),
            "heights": Key("list[int]", [], "With rounds or leaders: only at these heights "
                           "(empty: every height).", "heights = [2, 3]", minimum=1,
                           maximum=TICKS_MAX_LIMIT),
            "leaders": Key("list[str]", [], "A Twins-style choice of who leads: only the "
                           "proposals and votes of the rounds whose proposer is one of these "
                           "nations are cut (with rounds: rounds named there and led by one of "
                           "them), at every height or at `heights`. Empty: rounds alone decide.",
                           'leaders = ["USA"]'),
        },
        array=True,
    ),
    "behaviour": Table(
        "A fault applied to some nations for a window of ticks.",
        {
            "nations": Key("list[str]", REQUIRED, "Nation ids the behaviour applies to.",
                           'nations = ["CAN"]'),
            "kind": Key("str", REQUIRED, "What the nations do; see the table of kinds below.",
                        'kind = "crash"', choices=BEHAVIOUR_KINDS),
            "from_tick": Key("int", 0, "First tick of the behaviour.", "from_tick = 0",
                             minimum=0, maximum=TICKS_MAX_LIMIT),
            "until_tick": Key("int", None, "Tick at which it ends; omit for a permanent one.",
                              "until_tick = 5000", minimum=1, maximum=TICKS_MAX_LIMIT),
            "params": Key("params", {}, "Settings of the kind; see the table of kinds below.",
                          "params = { wipe = true }"),
        },
        array=True,
    ),
    "workload": Table(
        "Signed transactions submitted by clients at random nations that are up.",
        {
            "txs_per_tick": Key("float", 0.5, "Mean submissions per tick (a Poisson process).",
                                "txs_per_tick = 0.5", minimum=0.0, maximum=1000.0),
            "txs_until_tick": Key("int", None, "Tick of the last submission; omit to submit "
                                  "until ticks_max. Ending early lets the mempools drain, so "
                                  "every submitted transaction can be committed.",
                                  "txs_until_tick = 15000", minimum=1, maximum=TICKS_MAX_LIMIT),
            "payload_bytes": Key("int", 64, "Size of each transaction's payload.",
                                 "payload_bytes = 64", minimum=0, maximum=16 * 1024),
            "shipments": Key("int", 0, "Legitimate precursor shipments along the lanes, each a "
                             "chain of signed custody events.", "shipments = 300", minimum=0,
                             maximum=1_000_000),
            "trade_start_tick": Key("int", 500, "When the first shipment starts (operators "
                                    "are registered at tick 1).", "trade_start_tick = 500",
                                    minimum=1, maximum=TICKS_MAX_LIMIT),
            "trade_until_tick": Key("int", None, "When the last shipment starts; default 60% of "
                                    "ticks_max, leaving time to arrive.",
                                    "trade_until_tick = 12000", minimum=1,
                                    maximum=TICKS_MAX_LIMIT),
            "diversions": Key("dict[str,int]", {}, "Diversions of declared trade by insiders "
                              "(licensed operators, corrupt officials), by kind; the oracle "
                              "knows them, the nodes do not.",
                              "diversions = { under_report = 10, dark_hop = 5 }",
                              minimum=0, maximum=1_000_000, choices=DIVERSION_KINDS),
            "illicit": Key("dict[str,int]", {}, "Illicit attempts that do not declare "
                           "themselves, by kind: smuggle (off-chain, no record at all), mislabel "
                           "(declared to customs as another good), pre_precursor (an unscheduled "
                           "substitute), front_company (a licensed front orders within its "
                           "stated need), split (a front splits an order above its need). Drawn "
                           "along the lanes like trade; only inspections, seizures and the "
                           "authorities' rules can reveal them.",
                           "illicit = { smuggle = 10, mislabel = 5 }", minimum=0,
                           maximum=1_000_000, choices=ILLICIT_KINDS),
        },
    ),
    "consensus": Table(
        "Protocol parameters; timeout_X(r) = X_base + r * X_delta ticks.",
        {
            "timeout_propose_base_ticks": Key("int", 300, "timeout_propose at round 0.",
                                              "timeout_propose_base_ticks = 300", 1, 1_000_000),
            "timeout_propose_delta_ticks": Key("int", 100, "Growth of timeout_propose per round.",
                                               "timeout_propose_delta_ticks = 100", 0, 1_000_000),
            "timeout_prevote_base_ticks": Key("int", 100, "timeout_prevote at round 0.",
                                              "timeout_prevote_base_ticks = 100", 1, 1_000_000),
            "timeout_prevote_delta_ticks": Key("int", 50, "Growth of timeout_prevote per round.",
                                               "timeout_prevote_delta_ticks = 50", 0, 1_000_000),
            "timeout_precommit_base_ticks": Key("int", 100, "timeout_precommit at round 0.",
                                                "timeout_precommit_base_ticks = 100", 1, 1_000_000),
            "timeout_precommit_delta_ticks": Key("int", 50, "Growth of timeout_precommit per "
                                                 "round.", "timeout_precommit_delta_ticks = 50",
                                                 0, 1_000_000),
            "rebroadcast_ticks": Key("int", 150, "A node whose height and round have not "
                                     "moved for this long resends its own messages of the "
                                     "height; still stuck at the next resend, it also relays "
                                     "the signed messages of others that justify its state: "
                                     "the proposal, the polka behind its lock, its round's "
                                     "precommits (the gossip the paper assumes).",
                                     "rebroadcast_ticks = 150", minimum=1, maximum=1_000_000),
            "block_txs_max": Key("int", 500, "Most transactions a proposer puts in one block "
                                 "(their bytes are capped too, so a block fits one message).",
                                 "block_txs_max = 500", minimum=0, maximum=40_000),
            "gossip_batch_ticks": Key("int", 0, "0 gossips each client transaction at once; N "
                                      "holds a nation's client transactions up to N ticks and "
                                      "gossips them in one message (one delivery per peer per "
                                      "batch).", "gossip_batch_ticks = 10", minimum=0,
                                      maximum=10_000),
            "gossip_peers": Key("int", 0, "With gossip_batch_ticks: 0 sends a batch to every "
                                "nation; K sends it only to the proposers of the next K heights "
                                "(K deliveries per batch instead of n - 1; for large fault-free "
                                "runs, since a transaction then waits for its own nation to "
                                "propose if those fail).", "gossip_peers = 4", minimum=0,
                                maximum=256),
            "signatures": Key("str", "ed25519", "How nations sign. `ed25519`: real Ed25519 "
                              "signatures (pynacl), as live nodes use. `modelled`: signatures "
                              "modelled as unforgeable by construction, a keyed hash under a "
                              "secret only the signer's identity and the world hold, at a small "
                              "fraction of the cost: a nation signs only as itself and a forged "
                              "or altered signature still fails, but Ed25519's own encoding rules "
                              "and cost are not modelled (docs/performance.md). For research and "
                              "fuzzing at scale; the trace's end line and summary.json name the "
                              "mode, and a live cluster refuses it.", 'signatures = "modelled"',
                              choices=SIGNATURE_SCHEMES),
        },
    ),
    "domain": Table(
        "Custody rules every node's chaincode applies.",
        {
            "transit_deadline_ticks": Key("int", 6000, "A shipment not received this long "
                                          "after shipping is flagged overdue.",
                                          "transit_deadline_ticks = 6000", minimum=1,
                                          maximum=TICKS_MAX_LIMIT),
            "discrepancy_tolerance_pct": Key("float", 1.0, "Received may differ from shipped "
                                             "by this much before it is flagged.",
                                             "discrepancy_tolerance_pct = 1.0", minimum=0.0,
                                             maximum=100.0),
            "late_report_ticks": Key("int", 2000, "An event filed this long after it happened "
                                     "is flagged late_report.", "late_report_ticks = 2000",
                                     minimum=1, maximum=TICKS_MAX_LIMIT),
        },
    ),
    "inspection": Table(
        "Physical inspections: the ground truth a corrupt official cannot falsify. Each member "
        "nation's customs inspect a share of the consignments that enter or cross it; an "
        "inspection weighs and tests the cargo and files what it found (`inspect`), which the "
        "chaincode compares with the records.",
        {
            "budget": Key("float", 0.0, "Share of consignments each member inspects at entry "
                          "and in transit (a [[nation]] may set its own inspection_budget).",
                          "budget = 0.05", minimum=0.0, maximum=1.0),
            "detection_probability": Key("float", 0.9, "Chance that an inspection of a "
                                         "consignment that differs from its papers finds it "
                                         "(concealment, sampling and field tests miss the rest).",
                                         "detection_probability = 0.9", minimum=0.0,
                                         maximum=1.0),
            "measurement_error_pct": Key("float", 0.3, "Standard deviation of the inspection "
                                         "scale's error, in percent of the mass weighed: the "
                                         "source of false alarms on honest cargo.",
                                         "measurement_error_pct = 0.3", minimum=0.0,
                                         maximum=10.0),
        },
    ),
    "privacy": Table(
        "What of each custody event the shared chain carries (docs/privacy.md). `plaintext`: "
        "every field, to every nation (the reference). `lane-private`: operators, quantities, "
        "consignee and documents stay off the chain, which carries a salted hash commitment; "
        "the plaintext goes only to the nations on the shipment's declared route (and the "
        "oversight nations), which check it against the commitment. `committed-quantities`: "
        "quantities go on chain as Pedersen commitments, and every nation checks conservation "
        "of a shipment from an opening of the difference, which reveals the discrepancy only.",
        {
            "mode": Key("str", "plaintext", "What the chain carries.", 'mode = "lane-private"',
                        choices=PRIVACY_MODES),
            "oversight": Key("list[str]", [], "Nations (the INCB analogue) that receive "
                             "private records besides the nations of their lane; "
                             "oversight_access says which.", 'oversight = ["USA"]'),
            "oversight_access": Key("str", "all", "`all`: the oversight nations receive every "
                                    "record. `on_flag`: they receive a lot's or shipment's "
                                    "trail only when its lane flags it and a member of the lane "
                                    "grants it in a signed `grant` transaction on the chain "
                                    "(selective disclosure; see grantors).",
                                    'oversight_access = "on_flag"', choices=("all", "on_flag")),
            "grantors": Key("list[str]", None, "With oversight_access = \"on_flag\": the "
                            "nations that grant the oversight nations a flagged trail of a lane "
                            "they are on. The lane's members are asked in turn; one not listed "
                            "refuses (counted in domain.privacy.grants.refused_by_nation), and "
                            "a trail none of its lane grants stays with the lane "
                            "(grants.subjects_refused). Unset: every nation grants.",
                            'grantors = ["CHN", "USA"]'),
            "tolerance_g": Key("int", 1000, "With committed-quantities: the discrepancy in "
                               "grams, opened from the commitments, above which every nation "
                               "flags a shipment. An absolute bound: a tolerance in percent of "
                               "a hidden quantity would reveal the quantity.",
                               "tolerance_g = 1000", minimum=0, maximum=10**12),
        },
    ),
    "source": Table(
        "An exporting nation's share of the total traded mass. Lanes are drawn so that each "
        "source carries its share (default: scenarios/data/economy.toml's [[source]] shares, "
        "for the sources on the lanes, rescaled to sum to 1).",
        {
            "nation": Key("str", REQUIRED, "Exporting nation (ISO alpha-3), the `from` of some "
                          "[[lane]].", 'nation = "CHN"'),
            "share": Key("float", REQUIRED, "Its share of the total mass; the shares sum to 1.",
                         "share = 0.7", minimum=0.0, maximum=1.0),
        },
        array=True,
    ),
    "lane": Table(
        "A trade lane; any [[lane]] replaces the built-in trade-route graph "
        "(scenarios/data/lanes.toml). Nations may be outside the consortium.",
        {
            "from": Key("str", REQUIRED, "Exporting nation (ISO alpha-3).", 'from = "CHN"'),
            "to": Key("str", REQUIRED, "Importing nation (ISO alpha-3).", 'to = "MEX"'),
            "via": Key("list[str]", [], "Declared transit nations, in order.", 'via = ["PAN"]'),
            "share": Key("float", REQUIRED, "Share of the exporter's precursor mass on this lane; "
                         "shares from one exporter sum to 1.", "share = 0.4", minimum=0.0,
                         maximum=1.0),
            "chemicals": Key("list[str]", [], "Chemical ids shipped on the lane (default: all "
                             "registered).", 'chemicals = ["npp", "4-ap"]'),
        },
        array=True,
    ),
    "expect": Table(
        "What the run must show for `chemtrace run` to exit 0.",
        {
            "safety": Key("safety", True, "true: no agreement, validity or integrity violation; "
                          "false: a violation must happen; \"any\": violations are accepted when "
                          "they are expected (Byzantine power at least 1/3), but an unexpected "
                          "one still fails the run.", "safety = true"),
            "liveness": Key("safety", True, "true: the nations that are up commit a new height "
                            "within liveness_ticks_max of the last fault ending, and keep "
                            "committing; false when the scenario is meant to stall; \"any\" "
                            "when either may happen (Byzantine power at least 1/3). A run that "
                            "ends before liveness_ticks_max has passed since the last fault "
                            "began or ended is `not judged`, which meets neither true nor false: "
                            "give it a longer ticks_max.",
                            "liveness = true"),
            "liveness_ticks_max": Key("int", 5000, "The liveness bound, in ticks.",
                                      "liveness_ticks_max = 5000", minimum=1,
                                      maximum=TICKS_MAX_LIMIT),
            "liveness_heights": Key("int", 0, "When above 0, the run ends early: at the first "
                                    "tick at which every nation that is up and honest has "
                                    "committed this many heights above the highest one "
                                    "committed by the last fault's end (GST). Liveness is then "
                                    "shown; a stall still runs to ticks_max. The fuzzer sets "
                                    "it to keep its runs short.", "liveness_heights = 5",
                                    minimum=0, maximum=1_000_000),
            "prompt_decisions": Key("bool", False, "true: every height that every up, honest "
                                    "nation entered after the last fault is decided in the "
                                    "first round whose proposer is up and honest and whose "
                                    "timeouts exceed the message delays (the paper's "
                                    "termination argument; a `prompt` violation otherwise). "
                                    "Applies only with no Byzantine nation and no loss after "
                                    "the last fault; the summary says when it did not apply.",
                                    "prompt_decisions = true"),
        },
    ),
}


def all_tables() -> list[tuple[str, Table]]:
    """Every table of SCHEMA with its dotted name, nested arrays of tables (type "tables", such
    as `network.link`) right after their parent."""
    out = []
    for name, table in SCHEMA.items():
        out.append((name, table))
        out += [(f"{name}.{key}", k.table) for key, k in table.keys.items() if k.table is not None]
    return out


def reference_markdown() -> str:
    """The scenario reference, generated from SCHEMA; docs/scenario-reference.md must equal it."""
    lines = [
        "# Scenario file reference",
        "",
        "Generated from `scenarios/spec/schema.py` by `python -m scenarios.spec.schema > "
        "docs/scenario-reference.md`;",
        "a test fails when the two differ. Any key not listed here is an error.",
        "",
        "The same format as a JSON Schema, for editors that check and complete TOML files "
        "(Taplo, Even Better TOML): `docs/scenario.schema.json`, printed by `chemtrace schema`.",
        "",
    ]
    for name, table in all_tables():
        header = f"[[{name}]]" if table.array else f"[{name}]"
        need = "required" if table.required else "optional"
        lines += [f"## `{header}` ({need})", "", table.doc, "",
                  "| key | type | default | meaning | example |", "|---|---|---|---|---|"]
        for key, k in table.keys.items():
            if k.default is REQUIRED:
                default = "required"
            elif k.default is None:
                default = "none"
            elif k.default == "":
                default = '`""`'
            else:
                default = f"`{str(k.default).lower() if isinstance(k.default, bool) else k.default}`"
            doc = k.doc
            if k.minimum is not None or k.maximum is not None:
                doc += f" Range {k.minimum} to {k.maximum}."
            if k.choices:
                doc += " One of: " + ", ".join(f"`{c}`" for c in k.choices) + "."
            type_ = "array of tables" if k.type == "tables" else k.type
            lines.append(f"| `{key}` | {type_} | {default} | {doc} | `{k.example}` |")
        lines.append("")
    lines += ["## Behaviour kinds", "",
              "`kind` in `[[behaviour]]`, and the `params` each takes (an inline table).", "",
              "| kind | what it does | params |", "|---|---|---|"]
    for kind, (doc, params) in BEHAVIOURS.items():
        ps = "; ".join(
            f"`{name}` ({k.type}, " + ("required" if k.default is REQUIRED else
                                       f"default `{k.default}`") + f"): {k.doc}"
            for name, k in params.items()) or "none"
        lines.append(f"| `{kind}` | {doc} | {ps} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(reference_markdown(), end="")
