"""One target's fields, checked and put in the form the registry stores them in.

The same checks for a CSV row (every value a string, as a spreadsheet writes it) and for a
document of the admin API (typed JSON values, which the API has already held against its
JSON Schema): `check_premises` and `check_vehicle` take the values by column name and give
the fields, or every problem found, each naming its column.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.orgtree import OrgTree
from gateway.phone import looks_like_phone

PREMISES_COLUMNS = ("account", "receiver", "line", "name", "address", "lat", "lon", "unit",
                    "phones", "zones", "key", "supervision_s")  # fmt: skip
PREMISES_REQUIRED = ("account", "name", "address", "unit")
VEHICLE_COLUMNS = ("terminal", "plate", "plate_color", "kind", "company", "unit", "phones")
VEHICLE_REQUIRED = ("terminal", "kind")

KIND_NAMES_ZH: Mapping[str, str] = {
    "taxi": "出租车",
    "cash_van": "运钞车",
    "bus": "公交车",
    "police": "警车",
    "truck": "货车",
    "other": "其他",
}
# JT/T 808's plate colour is JT/T 697.7's code (5, green, is the new-energy plate).
PLATE_COLORS_ZH: Mapping[int, str] = {1: "蓝", 2: "黄", 3: "黑", 4: "白", 5: "绿", 9: "其他"}

MAX_PHONES, MAX_PHONE_LENGTH = 10, 32
MAX_ZONES, MAX_ZONE_NAME = 999, 40
SUPERVISION_MIN_S, SUPERVISION_MAX_S = 1, 31 * 86400
KEY_HEX_LENGTHS = (32, 48, 64)  # AES-128, -192, -256 (DC-09 §5.4)
MAX_TERMINAL_DIGITS = 20  # JT/T 808-2019: BCD[10]; 2013: BCD[6]
REMOVE_KEY = "none"  # the CSV's word for "this panel has no key (any more)"

_HEX = re.compile(r"[0-9A-Fa-f]+")
_DIGITS = re.compile(r"[0-9]+")
_LIST_SEPARATORS = re.compile(r"[;；、,，]")
_ZONE_NAME_SEPARATOR = re.compile(r"[:：]")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class Problem:
    column: str
    problem: str

    def __str__(self) -> str:
        return f"column {self.column}: {self.problem}"


@dataclass(frozen=True, slots=True)
class PremisesFields:
    account: str
    receiver: str
    line: str
    name: str
    address: str
    lat: float | None
    lon: float | None
    unit: str
    phones: tuple[str, ...]
    zones: dict[str, str]  # zone number without leading zeros → name, in zone order
    aes_key: str | None  # upper-case hex
    keep_key: bool  # no key given: the stored key (if any) stays
    supervision_s: int | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account, self.receiver, self.line)


@dataclass(frozen=True, slots=True)
class VehicleFields:
    terminal: str
    plate: str | None
    plate_color: int | None
    kind: str
    company: str
    unit: str | None
    phones: tuple[str, ...]


def ascii_upper(value: str) -> str:
    """Latin letters upper-case, nothing else changed (str.upper would make "ß" "SS")."""
    return value.translate(_ASCII_UPPER)


def normalise_terminal(value: str) -> str:
    """A JT/T 808 terminal phone number as the registry keys it: its BCD digits without the
    leading zeros (a spreadsheet drops them anyway)."""
    return value.lstrip("0")


def normalise_zone(value: str) -> str:
    """``"001"`` → ``"1"``: Contact ID writes zones with three digits, SIA with up to four."""
    return value.lstrip("0") or "0"


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class _Checker:
    """Collects the problems of one target's values."""

    def __init__(self, values: Mapping[str, Any], columns: tuple[str, ...]) -> None:
        self.values = values
        self.problems: list[Problem] = []
        for name in values:
            if name not in columns:
                self.fail(name, f"unknown column (allowed: {', '.join(columns)})")

    def fail(self, column: str, problem: str) -> None:
        self.problems.append(Problem(column, problem))

    def text(self, column: str, max_length: int, *, required: bool = False) -> str:
        value = self.values.get(column)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(column, "must be text")
            return ""
        value = value.strip()
        for ch in value:
            if ch in "\r\n":
                self.fail(column, "contains a line break")
                return ""
            if unicodedata.category(ch) in ("Cc", "Cs"):
                self.fail(column, f"contains control character U+{ord(ch):04X}")
                return ""
        if required and not value:
            self.fail(column, "is required")
        elif len(value) > max_length:
            self.fail(column, f"longer than {max_length} characters")
        return value

    def hex_code(self, column: str, low: int, high: int, *, required: bool = False) -> str:
        value = self.text(column, 64, required=required)
        if value and not (_HEX.fullmatch(value) and low <= len(value) <= high):
            self.fail(column, f"{value!r} is not {low} to {high} hex digits")
        return value.translate(_ASCII_UPPER)

    def number(self, column: str, limit: float) -> float | None:
        value = self.values.get(column)
        if blank(value):
            return None
        if isinstance(value, str):
            text = value.strip()
            try:
                value = float(text)
            except ValueError:
                self.fail(column, f"{text!r} is not a number")
                return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(column, "must be a finite number")
            return None
        try:
            value = float(value)  # a JSON integer may be past any float
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            self.fail(column, "must be a finite number")
            return None
        if not -limit <= value <= limit:
            self.fail(column, f"{value:g} is out of range (-{limit:g} to {limit:g})")
            return None
        return float(value)

    def integer(self, column: str) -> int | None:
        value = self.values.get(column)
        if blank(value):
            return None
        if isinstance(value, str):
            if not _DIGITS.fullmatch(value.strip()):
                self.fail(column, f"{value.strip()!r} is not a whole number")
                return None
            return int(value.strip())
        if isinstance(value, float) and value.is_integer():  # JSON Schema's integer: 90.0
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(column, "must be a whole number")
            return None
        return value

    def location(self) -> tuple[float | None, float | None]:
        lat, lon = self.number("lat", 90), self.number("lon", 180)
        lat_given, lon_given = not blank(self.values.get("lat")), not blank(self.values.get("lon"))
        if lat_given and not lon_given:
            self.fail("lon", "lat is given without lon")
        elif lon_given and not lat_given:
            self.fail("lat", "lon is given without lat")
        if lat is None or lon is None:
            return None, None
        return lat, lon

    def unit(self, org: OrgTree, *, required: bool) -> str | None:
        code = self.text("unit", 64, required=required)
        if code and code not in org:
            self.fail("unit", f"unknown unit code {code!r}")
        return code or None

    def phones(self) -> tuple[str, ...]:
        value = self.values.get("phones")
        if blank(value):
            return ()
        if isinstance(value, str):
            items = [p.strip() for p in _LIST_SEPARATORS.split(value) if p.strip()]
        elif isinstance(value, list | tuple) and all(isinstance(p, str) for p in value):
            items = [p.strip() for p in value]
        else:
            self.fail("phones", "must be a list of phone numbers")
            return ()
        for p in items:
            if len(p) > MAX_PHONE_LENGTH or not looks_like_phone(p):
                self.fail("phones", f"{p!r} is not a phone number")
                return ()
        if len(items) > MAX_PHONES:
            self.fail("phones", f"more than {MAX_PHONES} numbers")
        return tuple(dict.fromkeys(items))

    def zones(self) -> dict[str, str]:
        value = self.values.get("zones")
        if blank(value):
            return {}
        pairs: list[tuple[Any, Any]] = []
        if isinstance(value, str):
            for item in _LIST_SEPARATORS.split(value):
                item = item.strip()
                if not item:
                    continue
                parts = _ZONE_NAME_SEPARATOR.split(item, maxsplit=1)
                if len(parts) != 2:
                    self.fail("zones", f"{item!r} is not NUMBER:NAME (e.g. 1:前门)")
                    return {}
                pairs.append((parts[0].strip(), parts[1].strip()))
        elif isinstance(value, dict):
            pairs = list(value.items())
        else:
            self.fail("zones", "must map zone numbers to names")
            return {}
        zones: dict[str, str] = {}
        for number, name in pairs:
            if not isinstance(number, str) or not _DIGITS.fullmatch(number) or len(number) > 4:
                self.fail("zones", f"zone {number!r} is not a number of 1 to 4 digits")
                return {}
            if not isinstance(name, str):
                self.fail("zones", f"the name of zone {number} must be text")
                return {}
            if not name.strip():
                self.fail("zones", f"zone {number} has no name")
                return {}
            name = name.strip()
            if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
                self.fail("zones", f"the name of zone {number} contains a control character")
                return {}
            if len(name) > MAX_ZONE_NAME:
                self.fail("zones", f"the name of zone {number} is longer than {MAX_ZONE_NAME}")
                return {}
            zone = normalise_zone(number)
            if zone in zones:
                self.fail("zones", f"zone {zone} is given twice")
                return {}
            zones[zone] = name
        if len(zones) > MAX_ZONES:
            self.fail("zones", f"more than {MAX_ZONES} zones")
        return dict(sorted(zones.items(), key=lambda kv: int(kv[0])))

    def aes_key(self) -> tuple[str | None, bool]:
        """(the key, keep the stored one): absent or empty keeps it; null or "none" removes
        it, so that a key, which is never shown, is never dropped by a round trip."""
        if "key" not in self.values:
            return None, True
        value = self.values["key"]
        if value is None:
            return None, False
        if not isinstance(value, str):
            self.fail("key", "must be hex text")
            return None, True
        value = value.strip()
        if not value:
            return None, True
        if value.lower() == REMOVE_KEY:
            return None, False
        if not _HEX.fullmatch(value) or len(value) not in KEY_HEX_LENGTHS:
            lengths = f"{KEY_HEX_LENGTHS[0]}, {KEY_HEX_LENGTHS[1]} or {KEY_HEX_LENGTHS[2]}"
            self.fail("key", f"an AES key is {lengths} hex digits, not {len(value)} characters")
            return None, True
        return value.translate(_ASCII_UPPER), False

    def terminal(self) -> str:
        terminal = self.text("terminal", 64, required=True)
        if not terminal:
            return ""
        if re.fullmatch(r"[0-9.]+[eE]\+?[0-9]+", terminal):
            self.fail(
                "terminal",
                f"{terminal!r} is a number in scientific notation (format the column as "
                "text in the spreadsheet)",
            )
        elif not _DIGITS.fullmatch(terminal) or len(terminal) > MAX_TERMINAL_DIGITS:
            self.fail("terminal", f"{terminal!r} is not 1 to {MAX_TERMINAL_DIGITS} decimal digits")
        elif not normalise_terminal(terminal):
            self.fail("terminal", "is all zeros")
        return normalise_terminal(terminal)

    def code(self, column: str, names: Mapping[Any, str], *, required: bool) -> Any:
        """A code of `names`, given as the code or as its Chinese name."""
        value = self.values.get(column)
        if blank(value):
            if required:
                self.fail(column, "is required")
            return None
        by_name = {name: code for code, name in names.items()}
        by_name.update({f"{name}色": code for code, name in names.items()})
        if isinstance(value, str):
            value = value.strip()
            if value in by_name:
                return by_name[value]
            if all(isinstance(code, int) for code in names) and _DIGITS.fullmatch(value):
                value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str | int) and not isinstance(value, bool) and value in names:
            return value
        allowed = ", ".join(f"{code} ({name})" for code, name in names.items())
        self.fail(column, f"{value!r} is not one of {allowed}")
        return None


def premises_key_of(values: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The key (account, receiver, line) of a premises' values, if those three are right,
    whatever else is wrong with them."""
    c = _Checker({k: values.get(k) for k in ("account", "receiver", "line")}, PREMISES_COLUMNS)
    key = (c.hex_code("account", 3, 16, required=True), c.hex_code("receiver", 1, 6),
           c.hex_code("line", 1, 6))  # fmt: skip
    return None if c.problems else key


def terminal_of(values: Mapping[str, Any]) -> str | None:
    """The registry's terminal of a vehicle's values, if it is right."""
    c = _Checker({"terminal": values.get("terminal")}, VEHICLE_COLUMNS)
    terminal = c.terminal()
    return None if c.problems else terminal


def check_premises(
    values: Mapping[str, Any], org: OrgTree
) -> tuple[PremisesFields | None, list[Problem]]:
    c = _Checker(values, PREMISES_COLUMNS)
    account = c.hex_code("account", 3, 16, required=True)
    receiver = c.hex_code("receiver", 1, 6)
    line = c.hex_code("line", 1, 6)
    name = c.text("name", 200, required=True)
    address = c.text("address", 500, required=True)
    lat, lon = c.location()
    unit = c.unit(org, required=True)
    phones = c.phones()
    zones = c.zones()
    key, keep_key = c.aes_key()
    supervision = c.integer("supervision_s")
    if supervision is not None and not SUPERVISION_MIN_S <= supervision <= SUPERVISION_MAX_S:
        c.fail(
            "supervision_s",
            f"{supervision} is out of range ({SUPERVISION_MIN_S} to {SUPERVISION_MAX_S} s)",
        )
    if c.problems:
        return None, c.problems
    assert unit is not None
    fields = PremisesFields(account, receiver, line, name, address, lat, lon, unit, phones,
                            zones, key, keep_key, supervision)  # fmt: skip
    return fields, []


def check_vehicle(
    values: Mapping[str, Any], org: OrgTree
) -> tuple[VehicleFields | None, list[Problem]]:
    c = _Checker(values, VEHICLE_COLUMNS)
    terminal = c.terminal()
    plate = c.text("plate", 16).translate(_ASCII_UPPER)
    if plate and any(ch.isspace() for ch in plate):
        c.fail("plate", f"{plate!r} has a space in it")
    plate_color = c.code("plate_color", PLATE_COLORS_ZH, required=False)
    kind = c.code("kind", KIND_NAMES_ZH, required=True)
    company = c.text("company", 200)
    unit = c.unit(org, required=False)
    phones = c.phones()
    if c.problems:
        return None, c.problems
    fields = VehicleFields(terminal, plate or None, plate_color, kind,
                           company, unit, phones)  # fmt: skip
    return fields, []
