"""Targets from a CSV file, as a spreadsheet saves it.

A header row names the columns (`fields.PREMISES_COLUMNS` / `fields.VEHICLE_COLUMNS`, in
any order; the optional ones may be left out). Lines starting with ``#`` before the header
are comments; empty rows are skipped. The file is UTF-8 (with or without the BOM Excel
writes) or, failing that, GB18030 (which a Chinese Excel's "CSV" is, and which GBK and
GB2312 are subsets of).

Every row is checked before anything is written, and every problem is reported as
``FILE:LINE: column COLUMN: problem``: an import writes all of its rows or none.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from gateway.orgtree import OrgTree
from gateway.targets import fields
from gateway.targets.fields import PremisesFields, Problem, VehicleFields

T = TypeVar("T")

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class FileProblem:
    line: int  # 1-based, the line the row starts on
    column: str | None  # as the header names it; None for a problem of the whole row
    problem: str

    def format(self, name: str) -> str:
        where = f"column {self.column}: " if self.column else ""
        return f"{name}:{self.line}: {where}{self.problem}"


@dataclass
class Read(Generic[T]):
    """A file read: its encoding, and its rows (line, fields) or its problems."""

    encoding: str
    rows: list[tuple[int, T]] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, str]:
    """(the text, the encoding it was read in). UTF-8 first: a GB18030 decoder takes
    almost any bytes, so it would read a UTF-8 file as mojibake rather than fail."""
    if data.startswith(UTF8_BOM):
        try:
            return data[len(UTF8_BOM) :].decode("utf-8"), "UTF-8 (with BOM)"
        except UnicodeDecodeError as e:
            raise UnicodeError(f"has a UTF-8 BOM but is not UTF-8 (byte {e.start + 3})") from None
    if data.startswith(UTF16_BOMS):
        raise UnicodeError(
            'is UTF-16 (Excel\'s "Unicode text"): save it as "CSV UTF-8" or "CSV" instead'
        )
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030"
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UnicodeError(f"is neither UTF-8 nor GB18030 (line {line}, byte {e.start})") from None


def _records(text: str) -> list[tuple[int, list[str]]]:
    """(the line a record starts on, its cells); a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    out = []
    line = 1
    for cells in reader:
        out.append((line, cells))
        line = reader.line_num + 1
    return out


def _read(
    data: bytes,
    columns: Sequence[str],
    required: Sequence[str],
    check: Callable[[Mapping[str, Any]], tuple[T | None, list[Problem]]],
    key_of: Callable[[Mapping[str, Any]], Hashable | None],
    key_column: str,
    describe: Callable[[Any], str],
) -> Read[T]:
    try:
        text, encoding = decode(data)
    except UnicodeError as e:
        return Read("unknown", problems=[FileProblem(1, None, f"the file {e}")])
    out: Read[T] = Read(encoding)
    try:
        records = _records(text)
    except csv.Error as e:
        return Read(encoding, problems=[FileProblem(1, None, f"not CSV: {e}")])
    header: list[str] | None = None
    first_line: dict[Hashable, int] = {}
    for line, cells in records:
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            if cells[0].lstrip().startswith("#"):
                continue
            header = [c.strip().lower() for c in cells]
            out.problems += _header_problems(line, header, columns, required)
            if out.problems:
                return out
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            out.problems.append(
                FileProblem(line, None, f"{len(cells)} cells, the header has {len(header)}")
            )
            continue
        values = dict(zip(header, cells, strict=False))
        item, problems = check(values)
        out.problems += [FileProblem(line, p.column, p.problem) for p in problems]
        # Two rows for one target are reported even when something else is wrong with them.
        k = key_of(values)
        if k is not None and k in first_line:
            where = f"{describe(k)} is on line {first_line[k]} too"
            out.problems.append(FileProblem(line, key_column, where))
            continue
        if k is not None:
            first_line[k] = line
        if item is not None:
            out.rows.append((line, item))
    if header is None:
        out.problems.append(
            FileProblem(1, None, f"no header row (the columns: {', '.join(columns)})")
        )
    return out


def _header_problems(
    line: int, header: list[str], columns: Sequence[str], required: Sequence[str]
) -> list[FileProblem]:
    problems = []
    seen: set[str] = set()
    for name in header:
        if not name:
            problems.append(FileProblem(line, None, "a column without a name in the header"))
        elif name not in columns:
            allowed = ", ".join(columns)
            problems.append(FileProblem(line, name, f"unknown column (allowed: {allowed})"))
        elif name in seen:
            problems.append(FileProblem(line, name, "named twice in the header"))
        seen.add(name)
    for name in required:
        if name not in seen:
            problems.append(FileProblem(line, name, "required, missing from the header"))
    return problems


def read_premises(data: bytes, org: OrgTree) -> Read[PremisesFields]:
    return _read(
        data,
        fields.PREMISES_COLUMNS,
        fields.PREMISES_REQUIRED,
        lambda values: fields.check_premises(values, org),
        fields.premises_key_of,
        "account",
        _describe_premises,
    )


def read_vehicles(data: bytes, org: OrgTree) -> Read[VehicleFields]:
    return _read(
        data,
        fields.VEHICLE_COLUMNS,
        fields.VEHICLE_REQUIRED,
        lambda values: fields.check_vehicle(values, org),
        fields.terminal_of,
        "terminal",
        lambda terminal: f"terminal {terminal}",
    )


def _describe_premises(key: tuple[str, str, str]) -> str:
    account, receiver, line = key
    where = "".join(f", {n} {v}" for n, v in (("receiver", receiver), ("line", line)) if v)
    return f"account {account}{where}"
