"""Transcripts of one `Replica`: events in, effects out, state after, as text (testdata/*.txt).

In the spirit of etcd-raft's testdata/*.txt interaction tests. Each file is a script that a
reader can follow line by line; a change to the core shows up as a diff of these files. To accept
a change on purpose, rewrite them and read the diff before committing:

    CHEMTRACE_REWRITE=1 .venv/bin/python -m pytest tests/consensus/test_transcripts.py

The format
----------

A line starting with `>` is an input; the lines after it, up to the next blank, comment or
input line, are its output, which the test renders and compares (and rewrites). Lines starting
with `#` and blank lines are the author's and are kept as they are.

Inputs (times are integer ticks; `@T` sets the clock, which otherwise stays where it was):

    > new a of a,b,c,d              a replica `a` with these validators of equal power, height 1
    > start [@T]                    Start
    > recv MESSAGE [@T]             Receive(MESSAGE), MESSAGE written as below
    > timeout STEP hH/rR [@T]       Timeout; without @T the clock moves to the deadline the
                                    replica asked for in its SetTimeout
    > value hH/rR NAME [@T]         ProposeValue (the application's answer to request-value)
    > skip-to hH [@T]               SkipToHeight
    > restart                       a new replica for the same validator, built from the
                                    last `persist` it emitted (its write-ahead record)

Messages: `proposal hH/rR NAME vr=VR from X`, `prevote hH/rR NAME from X`, `precommit hH/rR
NAME from X` (NAME `nil` for a nil vote). A value is its NAME; its id is sha256(NAME), and an id
is shown as the NAME it belongs to (or its first 4 bytes in hex, for an id of no known name).

Output: one line per effect, in the order the replica returned them (`persist` shows the
write-ahead record: step, lock, valid value, own messages and, when there are any, the others'
messages that justify the lock and the valid value; `set-timeout` the deadline;
`decide` the voters of the certificate). Like the node, the harness hands every message the
replica broadcasts back to it, in order: `~ own MESSAGE` marks such a loop-back, and the effects
below it are its own; a `resume hH` effect (after a decision: the messages buffered for the
new height wait until the Decide is carried out) comes back the same way, as `~ resume hH`. The last line is the state after the input: the clock, height/round, step,
lock and valid value (`NAME@round`), heights decided, messages ignored, and the next deadline.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections import deque
from pathlib import Path

import pytest

from consensus import (
    Broadcast,
    Decide,
    Effect,
    Event,
    Evidence,
    Persist,
    Proposal,
    ProposeValue,
    Receive,
    Replica,
    RequestValue,
    Resume,
    SetTimeout,
    SkipToHeight,
    Start,
    Step,
    Timeout,
    ValidatorSet,
    Vote,
    WalRecord,
)

TESTDATA = Path(__file__).parent / "testdata"
REWRITE = os.environ.get("CHEMTRACE_REWRITE", "") not in ("", "0")
STEPS = {s.name.lower(): s for s in Step}
HEIGHT_ROUND = re.compile(r"^h(\d+)/r(\d+)$")


def value_id(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def valid(height: int, value: object) -> bool:
    """The paper's valid(v): every value but one named BAD."""
    return value != "BAD"


class Transcript:
    """Runs the inputs of one file against a replica and renders what it does."""

    def __init__(self) -> None:
        self.replica: Replica | None = None
        self.validators: ValidatorSet | None = None
        self.now = 0
        self.names: dict[bytes, str] = {}
        self.deadlines: dict[tuple[Step, int, int], int] = {}
        self.persisted: WalRecord | None = None

    # ------------------------------------------------------------------ rendering

    def name(self, vid: bytes | None) -> str:
        if vid is None:
            return "nil"
        return self.names.get(vid, vid[:4].hex())

    def message(self, m: Proposal | Vote) -> str:
        if isinstance(m, Proposal):
            return (f"proposal h{m.height}/r{m.round} {self.name(m.value_id)} vr={m.valid_round} "
                    f"from {m.proposer}")
        return f"{m.step.name.lower()} h{m.height}/r{m.round} {self.name(m.value_id)} from {m.voter}"

    def held(self, vid: bytes | None, round_: int) -> str:
        return "-" if vid is None else f"{self.name(vid)}@{round_}"

    def own(self, m: Proposal | Vote) -> str:
        kind = "proposal" if isinstance(m, Proposal) else m.step.name.lower()
        return f"{kind} r{m.round} {self.name(m.value_id)}"

    def effect(self, e: Effect) -> str:
        if isinstance(e, Persist):
            w = e.record
            own = ", ".join(self.own(m) for m in w.own_votes)
            justifying = ", ".join(self.message(m) for m in w.justification)
            return (f"persist h{w.height}/r{w.round} {w.step.name.lower()} "
                    f"locked={self.held(w.locked_value_id, w.locked_round)} "
                    f"valid={self.held(w.valid_value_id, w.valid_round)} own=[{own}]"
                    + (f" justifying=[{justifying}]" if justifying else ""))
        if isinstance(e, Broadcast):
            return f"broadcast {self.message(e.message)}"
        if isinstance(e, SetTimeout):
            return f"set-timeout {e.step.name.lower()} h{e.height}/r{e.round} at {e.deadline_ticks}"
        if isinstance(e, RequestValue):
            return f"request-value h{e.height}/r{e.round}"
        if isinstance(e, Decide):
            voters = ",".join(v.voter for v in e.certificate)
            return (f"decide h{e.height}/r{e.round} {self.name(e.value_id)} "
                    f"certificate=[{voters}]")
        if isinstance(e, Evidence):
            return (f"evidence against {e.voter}: {self.message(e.first)} / "
                    f"{self.message(e.second)}")
        if isinstance(e, Resume):
            return f"resume h{e.height}"
        raise AssertionError(f"an effect the transcript cannot render: {e!r}")

    def state(self) -> str:
        r = self.replica
        assert r is not None
        deadline = r.next_deadline()
        return (f"state t={self.now} h{r.height}/r{r.round} {r.step.name.lower()} "
                f"locked={self.held(r.locked_value_id, r.locked_round)} "
                f"valid={self.held(r.valid_value_id, r.valid_round)} "
                f"decided={r.decided_heights} ignored={r.messages_ignored} "
                f"deadline={'-' if deadline is None else deadline}")

    # ------------------------------------------------------------------ parsing inputs

    def value(self, name: str) -> tuple[object, bytes | None]:
        if name == "nil":
            return None, None
        vid = value_id(name)
        self.names[vid] = name
        return name, vid

    def parse_message(self, words: list[str]) -> Proposal | Vote:
        kind, hr, name = words[0], words[1], words[2]
        h, r = self.height_round(hr)
        value, vid = self.value(name)
        if kind == "proposal":
            vr = words[3]
            assert vr.startswith("vr=") and words[4] == "from", words
            return Proposal(h, r, value, vid, int(vr[3:]), words[5])
        assert kind in ("prevote", "precommit") and words[3] == "from", words
        return Vote(STEPS[kind], h, r, vid, words[4])

    @staticmethod
    def height_round(text: str) -> tuple[int, int]:
        match = HEIGHT_ROUND.match(text)
        assert match, f"expected hH/rR, got {text!r}"
        return int(match[1]), int(match[2])

    def event(self, words: list[str]) -> Event:
        command, args = words[0], words[1:]
        if command == "start":
            return Start()
        if command == "recv":
            return Receive(self.parse_message(args))
        if command == "timeout":
            step = STEPS[args[0]]
            h, r = self.height_round(args[1])
            deadline = self.deadlines.get((step, h, r))
            if deadline is not None and not self.clock_set:
                self.now = max(self.now, deadline)
            return Timeout(step, h, r)
        if command == "value":
            h, r = self.height_round(args[0])
            value, vid = self.value(args[1])
            return ProposeValue(h, r, value, vid)
        if command == "skip-to":
            return SkipToHeight(int(args[0].removeprefix("h")))
        raise AssertionError(f"unknown input {command!r}")

    # ------------------------------------------------------------------ running

    def run(self, line: str) -> list[str]:
        words = line[1:].split()
        self.clock_set = bool(words) and words[-1].startswith("@")
        if self.clock_set:
            self.now = int(words.pop()[1:])
        if words[0] == "new":
            assert words[2] == "of", line
            self.validators = ValidatorSet.equal(words[3].split(","))
            self.replica = Replica(words[1], self.validators, valid)
            self.deadlines.clear()
            self.persisted = None
            return [self.state()]
        if words[0] == "restart":
            assert self.replica is not None and self.persisted is not None, "nothing persisted"
            wal = self.persisted
            self.replica = Replica(self.replica.me, self.validators, valid, height=wal.height,
                                   wal=wal)
            self.deadlines.clear()
            return [self.effect(Persist(wal)).replace("persist", "from-wal", 1), self.state()]
        assert self.replica is not None, "the first input must be `new`"
        out: list[str] = []
        queue: deque[Event] = deque([self.event(words)])
        first = True
        while queue:
            event = queue.popleft()
            if not first:
                out.append(f"~ resume h{event.height}" if isinstance(event, Resume)
                           else f"~ own {self.message(event.message)}")
            first = False
            for e in self.replica.handle(event, self.now):
                out.append(self.effect(e))
                if isinstance(e, Persist):
                    self.persisted = e.record
                elif isinstance(e, SetTimeout):
                    self.deadlines[(e.step, e.height, e.round)] = e.deadline_ticks
                elif isinstance(e, Broadcast):
                    queue.append(Receive(e.message))
                elif isinstance(e, Resume):
                    queue.append(e)
        out.append(self.state())
        return out


def render(text: str) -> str:
    """The file with every output block rendered afresh from its inputs."""
    transcript = Transcript()
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith(">"):
            out.append(line)
            out.extend(transcript.run(line))
        elif not line.strip() or line.startswith("#"):
            out.append(line)
        # anything else is an old output line: dropped, rendered again above
    return "\n".join(out) + "\n"


FILES = sorted(TESTDATA.glob("*.txt"))


def test_there_are_transcripts() -> None:
    assert {p.stem for p in FILES} >= {"happy-path", "lock-and-repropose", "round-skip",
                                       "restart-from-wal"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fresh = render(text)
    if fresh == text:
        return
    if REWRITE:
        path.write_text(fresh, encoding="utf-8")
        return
    diff = "".join(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True),
                                        f"{path.name} (expected)", f"{path.name} (now)"))
    pytest.fail(f"the replica's transcript changed; if on purpose, rerun with "
                f"CHEMTRACE_REWRITE=1 and read the diff\n{diff}", pytrace=False)


def test_the_harness_catches_a_changed_output() -> None:
    text = "> new a of a,b,c,d\n> start @0\nset-timeout propose h1/r0 at 999\nstate\n"
    fresh = render(text)
    assert "set-timeout propose h1/r0 at 300" in fresh and fresh != text
    assert render(fresh) == fresh
