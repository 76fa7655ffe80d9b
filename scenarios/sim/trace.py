"""The run trace: one canonical JSON object per line, hashed as it is written.

Every delivery, drop, timeout, decision and violation is a line. Keys are sorted and the
separators fixed, so the same run writes the same bytes, and `sha256` is the run's fingerprint.

Deliveries are most of the lines (O(n^2) per height), then the drops (a duplicate delivery is
one, and lossy links make many) and timeouts, and submissions one per transaction, so
`deliver()`, `drop()`, `drop_net()`, `timeout()`, `submit()` and `decide()` format them directly, byte for
byte what `write()` would make of the same dict (a test holds the two equal), and lines
are hashed and written in batches of `BATCH_LINES`: SHA-256 and the file see the same bytes in
the same order, so the hash is the same as line by line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO

BATCH_LINES = 4096
NAMES_MAX = 4096  # distinct strings (nations, kinds), and the fixed parts of lines, kept


class Trace:
    __slots__ = ("_hash", "_file", "lines", "_dumps", "_pending", "_names", "_drop_heads",
                 "_deliver_heads", "_deliver_middles")

    def __init__(self, path: Path | None) -> None:
        self._hash = hashlib.sha256()
        self._file: IO[bytes] | None = path.open("wb") if path is not None else None
        self.lines = 0
        self._dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
        self._pending: list[str] = []
        self._names: dict[str, str] = {}
        # (node, reason, kind) -> a drop line up to its tick: duplicates make many drop lines
        self._drop_heads: dict[tuple[str, str, str], str] = {}
        # A deliver line's fixed text: dst -> up to its height; (kind, src) -> between its
        # height and round, and between its round and tick. Kept by dst and by (kind, src), not
        # by (src, dst, kind): at n = 193 the 111,000 triples overflowed NAMES_MAX and every
        # line was made from scratch, while dsts and (kind, src) pairs are about a thousand.
        self._deliver_heads: dict[str, str] = {}
        self._deliver_middles: dict[tuple[str, str], tuple[str, str]] = {}

    def write(self, record: dict) -> None:
        self._add(self._dumps(record))

    def _add(self, line: str) -> None:
        self._pending.append(line)
        self.lines += 1
        if len(self._pending) >= BATCH_LINES:
            self._flush()

    def deliver(self, t: int, src: str, dst: str, kind: str, h: int, r: int) -> None:
        """The line of write({"t": t, "ev": "deliver", "src": src, "dst": dst, "kind": kind,
        "h": h, "r": r}), keys in sorted order."""
        head = self._deliver_heads.get(dst)
        if head is None:
            head = f'{{"dst":{self._name(dst)},"ev":"deliver","h":'
            if len(self._deliver_heads) < NAMES_MAX:
                self._deliver_heads[dst] = head
        middle = self._deliver_middles.get((kind, src))
        if middle is None:
            name = self._name
            middle = (f',"kind":{name(kind)},"r":', f',"src":{name(src)},"t":')
            if len(self._deliver_middles) < NAMES_MAX:
                self._deliver_middles[(kind, src)] = middle
        pending = self._pending  # _add, inlined: a line per delivery
        pending.append(f"{head}{h:d}{middle[0]}{r:d}{middle[1]}{t:d}}}")
        self.lines += 1
        if len(pending) >= BATCH_LINES:
            self._flush()

    def drop(self, t: int, node: str, reason: str, kind: str) -> None:
        """The line of write({"t": t, "ev": "drop", "node": node, "reason": reason,
        "kind": kind}): a node refused a message."""
        head = self._drop_heads.get((node, reason, kind))
        if head is None:
            name = self._name
            head = (f'{{"ev":"drop","kind":{name(kind)},"node":{name(node)},'
                    f'"reason":{name(reason)},"t":')
            if len(self._drop_heads) < NAMES_MAX:
                self._drop_heads[(node, reason, kind)] = head
        self._add(f"{head}{t:d}}}")

    def drop_net(self, t: int, src: str, dst: str, kind: str, reason: str) -> None:
        """The line of write({"t": t, "ev": "drop", "src": src, "dst": dst, "kind": kind,
        "reason": reason}): the network lost a message."""
        name = self._name
        self._add(f'{{"dst":{name(dst)},"ev":"drop","kind":{name(kind)},'
                  f'"reason":{name(reason)},"src":{name(src)},"t":{t:d}}}')

    def timeout(self, t: int, node: str, step: str, h: int, r: int) -> None:
        """The line of write({"t": t, "ev": "timeout", "node": node, "step": step, "h": h,
        "r": r})."""
        name = self._name
        self._add(f'{{"ev":"timeout","h":{h:d},"node":{name(node)},"r":{r:d},'
                  f'"step":{name(step)},"t":{t:d}}}')

    def submit(self, t: int, node: str, tx: str) -> None:
        """The line of write({"t": t, "ev": "submit", "node": node, "tx": tx})."""
        self._add(f'{{"ev":"submit","node":{self._name(node)},"t":{t:d},'
                  f'"tx":{self._dumps(tx)}}}')

    def decide(self, t: int, node: str, h: int, block: str, txs: int, via: str) -> None:
        """The line of write({"t": t, "ev": "decide", "node": node, "h": h, "block": block,
        "txs": txs, "via": via}): a node committed a block (one line per node and height)."""
        # A block id is hex: ASCII letters and digits, which JSON writes as they are.
        quoted = f'"{block}"' if block.isascii() and block.isalnum() else self._dumps(block)
        name = self._name
        self._add(f'{{"block":{quoted},"ev":"decide","h":{h:d},"node":{name(node)},"t":{t:d},'
                  f'"txs":{txs:d},"via":{name(via)}}}')

    def _name(self, text: str) -> str:
        encoded = self._names.get(text)
        if encoded is None:
            encoded = self._dumps(text)
            if len(self._names) < NAMES_MAX:
                self._names[text] = encoded
        return encoded

    def _flush(self) -> None:
        if not self._pending:
            return
        data = ("\n".join(self._pending) + "\n").encode()
        self._pending.clear()
        self._hash.update(data)
        if self._file is not None:
            self._file.write(data)

    @property
    def sha256(self) -> str:
        self._flush()
        return self._hash.hexdigest()

    def close(self) -> None:
        self._flush()
        if self._file is not None:
            self._file.close()
            self._file = None
