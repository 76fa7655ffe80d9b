"""Line numbers of the keys in a TOML text, for the scenario loader's error messages.

`tomllib` gives values without positions. This scanner walks the text that `tomllib` has already
accepted and records the line where each key path first appears, in every form TOML allows:
table headers (`[network]`), arrays of tables (`[[nation]]`, `[[network.link]]`), dotted keys
(`network.loss_probability = 2`), inline tables (`params = { wipe = true }`) and arrays of inline
tables (`nation = [{ id = "USA" }, { id = "MEX" }]`, on one line or many).

A path is a tuple of names and indices: `nation[1].power` is `("nation", 1, "power")`.
"""

from __future__ import annotations

import re

Path = tuple  # of str (a key) and int (an index into an array)

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_PATH_PART = re.compile(r"(\w+)|\[(\d+)\]")
_SCALAR = re.compile(r"[^,\]}\s#]+(?: [0-9:.+Z-]+)?")  # a number, boolean or date-time


def parse_path(path: str) -> Path:
    """`behaviour[2].params.nations` -> ("behaviour", 2, "params", "nations")."""
    return tuple(name if name else int(index) for name, index in _PATH_PART.findall(path))


def line_of(lines: dict[Path, int], path: str) -> int | None:
    """The line of `path`, or of its longest prefix that the text has (the table of a missing
    key); None when not even its first part is written."""
    parts = parse_path(path)
    for end in range(len(parts), 0, -1):
        if parts[:end] in lines:
            return lines[parts[:end]]
    return None


def key_lines(text: str) -> dict[Path, int]:
    """Map each key path written in `text` (valid TOML) to the 1-based line it first appears on."""
    return _Scanner(text).run()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        self.arrays: dict[Path, int] = {}  # array-of-tables path -> entries seen so far

    # ------------------------------------------------------------------ characters

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def advance(self, n: int = 1) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + n)
        self.pos += n

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces and comments, and newlines too where the grammar allows them."""
        while self.pos < len(self.text):
            c = self.peek()
            if c in " \t\r" or (newlines and c == "\n"):
                self.advance()
            elif c == "#":
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def string(self) -> str:
        """Read a string at pos (any of the four kinds) and return its value's text."""
        for quote in ('"""', "'''"):
            if self.peek(3) == quote:
                end = self.pos + 3
                while True:
                    end = self.text.index(quote, end)
                    if quote == "'''" or self.text[end - 1] != "\\":
                        break
                    end += 1
                while self.text[end + 3:end + 4] == quote[0]:  # up to two quotes close the string
                    end += 1
                value = self.text[self.pos + 3:end]
                self.advance(end + 3 - self.pos)
                return value
        quote = self.peek()
        end = self.pos + 1
        while self.text[end] != quote:
            end += 2 if quote == '"' and self.text[end] == "\\" else 1
        value = self.text[self.pos + 1:end]
        self.advance(end + 1 - self.pos)
        return value

    # ------------------------------------------------------------------ grammar

    def key(self) -> list[str]:
        """A dotted key such as `network.link` or `"a b".c`."""
        parts = []
        while True:
            self.skip_blank(newlines=False)
            if self.peek() in ('"', "'"):
                parts.append(self.string())
            else:
                m = _BARE.match(self.text, self.pos)
                if not m:
                    return parts
                parts.append(m.group())
                self.advance(m.end() - self.pos)
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.advance()

    def resolve(self, names: list[str]) -> Path:
        """A header's names with the current index put after each array of tables they pass."""
        path: Path = ()
        for name in names:
            path += (name,)
            if path in self.arrays:
                path += (self.arrays[path] - 1,)
        return path

    def record(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    def record_ancestors(self, names: list[str], line: int) -> None:
        """The tables a header defines on the way (`network` for `[[network.link]]`), where no
        header of their own came first: an error about them points at this line."""
        for end in range(1, len(names)):
            self.record(self.resolve(names[:end]), line)

    def run(self) -> dict[Path, int]:
        current: Path = ()
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            line = self.line
            if self.peek(2) == "[[":
                self.advance(2)
                names = self.key()
                self.advance(2)
                self.record_ancestors(names, line)
                parent = self.resolve(names[:-1]) + (names[-1],)
                self.record(parent, line)
                self.arrays[parent] = self.arrays.get(parent, 0) + 1
                current = parent + (self.arrays[parent] - 1,)
                self.record(current, line)
            elif self.peek() == "[":
                self.advance()
                names = self.key()
                self.record_ancestors(names, line)
                current = self.resolve(names)
                self.advance()
                self.record(current, line)
            else:
                self.key_value(current)

    def key_value(self, base: Path) -> None:
        line = self.line
        names = self.key()
        for end in range(1, len(names) + 1):
            self.record(base + tuple(names[:end]), line)
        self.skip_blank(newlines=False)
        self.advance()  # "="
        self.skip_blank(newlines=False)
        self.value(base + tuple(names))

    def value(self, path: Path) -> None:
        c = self.peek()
        if c == "{":
            self.items("}", lambda _: self.key_value(path))
        elif c == "[":
            def element(index: int) -> None:
                self.record(path + (index,), self.line)
                self.value(path + (index,))
            self.items("]", element)
        elif c in ('"', "'"):
            self.string()
        else:  # a number, boolean or date: up to the next delimiter
            m = _SCALAR.match(self.text, self.pos)
            self.advance(m.end() - self.pos if m else 1)

    def items(self, close: str, each) -> None:
        """The comma-separated items of an inline table or array, `each(index)` reading one."""
        self.advance()
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == close:
                self.advance()
                return
            if self.peek() == ",":
                self.advance()
                continue
            each(index)
            index += 1
