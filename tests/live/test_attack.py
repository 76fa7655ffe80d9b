"""The hostile campaign of scripts/attack.py, in its quick form, on a private broker and three
`chemtrace node` processes: every campaign is rejected as it should be, and nothing crashes,
hangs, is accepted wrongly or lost (judged from the exported ledgers, not the nodes' counters)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

from helpers import ROOT
from mqtt_helpers import require_mosquitto


def _script():
    spec = importlib.util.spec_from_file_location("attack", ROOT / "scripts" / "attack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["attack"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_quick_campaign_is_rejected_and_loses_nothing(tmp_path):
    require_mosquitto()
    attack = _script()
    rows, totals = asyncio.run(attack.campaign(tmp_path, attack.QUICK))
    by_name = {row.name: row for row in rows}
    for row in rows:
        assert (row.crashed, row.hung, row.accepted_wrongly, row.lost) == (0, 0, 0, 0), row
    for name in ("junk", "oversized", "forged votes", "replays", "takeover", "cross-publish",
                 "damaged store"):
        assert by_name[name].rejected == by_name[name].tried > 0, by_name[name]
    # Proposals far ahead go in batches, each for the next height: per batch the nearest four
    # wait unvalidated, the rest are dropped.
    held = attack.QUICK["far_ahead"] - by_name["far ahead"].rejected
    assert 0 < held <= 4 * -(-attack.QUICK["far_ahead"] // attack.FAR_BATCH)
    assert by_name["sync flood"].rejected >= attack.QUICK["sync"] - 10  # 8 answers, a refill
    assert totals["bad"] == totals["forks"] == totals["lost"] == 0
    assert totals["blocks_checked"] > 0 and totals["reported"] > 0
    assert totals["broker_dropped"] is not None  # the operator reads the broker's $SYS counter
