"""The run trace: one canonical JSON object per line, hashed as it is written.

Every delivery, drop, timeout, decision, crash and violation is a line. Keys are sorted and the
separators fixed, so the same run writes the same bytes, and `sha256` is the run's fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO


class Trace:
    def __init__(self, path: Path | None) -> None:
        self._hash = hashlib.sha256()
        self._file: IO[bytes] | None = path.open("wb") if path is not None else None
        self.lines = 0
        self._dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode

    def write(self, record: dict) -> None:
        line = (self._dumps(record) + "\n").encode()
        self._hash.update(line)
        if self._file is not None:
            self._file.write(line)
        self.lines += 1

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
