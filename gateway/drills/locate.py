"""Where things are in a TOML text: the line of a key, and of a syntax error.

`tomllib` gives values but no positions, and a scenario's problems must name their line.
`key_lines` reads the text once more with a small scanner that knows just enough TOML
(tables, arrays of tables, dotted and quoted keys, inline tables, arrays, the four kinds of
string, comments) to note the line of every key, table header and array element, under the
same key path the checks use (``("inject", 2, "expect", "unit")``). `line_of` answers with
the longest known prefix of a path, so a key that is not written out (a missing one) falls
back to its table's header.

It runs only on text that `tomllib` has accepted, and it is best effort: whatever it does
not understand it steps over, and it never raises (a position is a help to the reader, and
must never hide the problem it positions).
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_left
from collections.abc import Mapping

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_MAX_DEPTH = 100  # tomllib's own recursion stops nesting long before this matters
# tomllib (3.11–3.13) puts the position at the end of its message.
_AT = re.compile(r"(.*) \(at (?:line (\d+), column (\d+)|end of document)\)", re.DOTALL)


def key_lines(text: str) -> dict[KeyPath, int]:
    """The 1-based line of each key path in `text` (its first mention)."""
    scanner = _Scanner(text)
    try:
        scanner.document()
    except Exception:  # noqa: BLE001 — best effort by design (see the module's docstring)
        pass
    return scanner.found


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int:
    """The line of `path`, or of its longest prefix that is written in the file (1 if none)."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return 1


def syntax_position(error: tomllib.TOMLDecodeError, text: str) -> tuple[int, int, str]:
    """(line, column, message) of a `tomllib` error; "end of document" is the last line."""
    message = str(error)
    lineno, colno = getattr(error, "lineno", None), getattr(error, "colno", None)  # 3.14+
    m = _AT.fullmatch(message)
    if m:
        message = m[1]
        if m[2]:
            lineno, colno = int(m[2]), int(m[3])
    if not isinstance(lineno, int) or not isinstance(colno, int):
        lines = text.split("\n")
        lineno, colno = len(lines), len(lines[-1]) + 1
        message += " (at the end of the file)"
    return lineno, colno, message


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.found: dict[KeyPath, int] = {}
        self.arrays: dict[KeyPath, int] = {}  # an array of tables → how many elements so far

    # -- positions ---------------------------------------------------------------------------

    def line(self, at: int | None = None) -> int:
        return bisect_left(self.newlines, self.i if at is None else at) + 1

    def note(self, path: KeyPath, line: int) -> None:
        self.found.setdefault(path, line)

    def peek(self, n: int = 1) -> str:
        return self.s[self.i : self.i + n]

    # -- structure ---------------------------------------------------------------------------

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_blank()
            if self.i >= len(self.s):
                return
            start = self.i
            if self.peek(2) == "[[":
                table = self.header(array=True)
            elif self.peek() == "[":
                table = self.header(array=False)
            else:
                self.keyval(table, 0)
            if self.i == start:  # something this scanner does not know: step over it
                self.i += 1

    def header(self, array: bool) -> KeyPath:
        line = self.line()
        self.i += 2 if array else 1
        parts = self.key()
        self.skip_ws()
        self.i += 2 if array and self.peek(2) == "]]" else 1 if self.peek() == "]" else 0
        if not array:
            table = self.resolve(parts)
            self.note(table, line)
            return table
        owner = self.resolve(parts[:-1]) + tuple(parts[-1:])
        self.arrays[owner] = self.arrays.get(owner, 0) + 1
        self.note(owner, line)
        table = (*owner, self.arrays[owner] - 1)
        self.note(table, line)
        return table

    def resolve(self, parts: list[str]) -> KeyPath:
        """A header's key as a path: an array of tables on the way means its last element."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in self.arrays:
                path = (*path, self.arrays[path] - 1)
        return path

    def keyval(self, base: KeyPath, depth: int) -> None:
        line = self.line()
        parts = self.key()
        if not parts:
            return
        for end in range(1, len(parts) + 1):  # a dotted key defines each of its prefixes
            self.note((*base, *parts[:end]), line)
        self.skip_ws()
        if self.peek() == "=":
            self.i += 1
            self.value((*base, *parts), depth)

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c == '"':
                parts.append(self.basic_string())
            elif c == "'":
                parts.append(self.literal_string())
            else:
                m = _BARE.match(self.s, self.i)
                if not m:
                    return parts
                parts.append(m.group())
                self.i = m.end()
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.i += 1

    def value(self, path: KeyPath, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise RecursionError("nested too deeply")
        self.skip_ws()
        if self.peek(3) in ('"""', "'''"):
            self.multiline_string(self.peek())
        elif self.peek() == '"':
            self.basic_string()
        elif self.peek() == "'":
            self.literal_string()
        elif self.peek() == "{":
            self.inline_table(path, depth + 1)
        elif self.peek() == "[":
            self.array(path, depth + 1)
        else:  # a number, a boolean, a date: up to where the value must end
            while self.i < len(self.s) and self.s[self.i] not in ",]}#\n":
                self.i += 1

    def inline_table(self, path: KeyPath, depth: int) -> None:
        self.i += 1
        while self.i < len(self.s):
            self.skip_blank()
            if self.peek() == "}":
                self.i += 1
                return
            start = self.i
            self.keyval(path, depth)
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.i == start:
                self.i += 1

    def array(self, path: KeyPath, depth: int) -> None:
        self.i += 1
        index = 0
        while self.i < len(self.s):
            self.skip_blank()
            if self.peek() == "]":
                self.i += 1
                return
            start = self.i
            self.note((*path, index), self.line())
            self.value((*path, index), depth)
            index += 1
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.i == start:
                self.i += 1

    # -- lexical -----------------------------------------------------------------------------

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def skip_blank(self) -> None:
        """Spaces, line ends and comments."""
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            else:
                return

    def basic_string(self) -> str:
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s) and self.s[self.i] not in '"\n':
            c = self.s[self.i]
            if c == "\\":
                out.append(self.escape())
                continue
            out.append(c)
            self.i += 1
        self.i += 1
        return "".join(out)

    def escape(self) -> str:
        code = self.s[self.i + 1 : self.i + 2]
        width = {"u": 4, "U": 8}.get(code)
        if width is None:
            self.i += 2
            return _ESCAPES.get(code, code)
        digits = self.s[self.i + 2 : self.i + 2 + width]
        self.i += 2 + width
        try:
            return chr(int(digits, 16))
        except ValueError:
            return digits

    def literal_string(self) -> str:
        end = self.s.find("'", self.i + 1)
        end = len(self.s) if end < 0 else end
        text = self.s[self.i + 1 : end]
        self.i = end + 1
        return text

    def multiline_string(self, quote: str) -> None:
        self.i += 3
        while self.i < len(self.s):
            if quote == '"' and self.s[self.i] == "\\":
                self.i += 2
            elif self.peek(3) == quote * 3:
                self.i += 3
                # Up to two more quotes belong to the content (TOML 1.0: """a"""" is 'a"').
                for _ in range(2):
                    if self.peek() == quote:
                        self.i += 1
                return
            else:
                self.i += 1
