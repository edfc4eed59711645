"""The rules of a scenario file: `check` parses a text and checks all of it, collecting every
problem with its key path, and only then turns the paths into lines (`gateway.drills.locate`).
It returns plain checked values; `gateway.drills.scenario` builds the model from them.

What it decided, and why:

- Unknown keys are refused everywhere (a typo would silently drop an expectation); each
  channel has its own keys (`KEYS`).
- The injects are listed in time order (``at``), so that the file reads as the timeline.
- An expected unit is a unit of the city that takes part: one of ``units`` or under one of
  them (a district bureau's drill includes its stations; the city center takes part only if
  listed, although it is above every unit).
- A label is one incident: the category, priority and unit its injects give must agree, one
  of them at least gives the category and the unit, and the priority defaults to the
  category's. Injects the gateway itself joins into one incident (one sender within
  ``[correlation] sender_window``, one panel zone or terminal alarm within ``alarm_window``,
  `gateway.workflow.correlate`) but that expect different incidents are refused: that
  expectation cannot be met. A panel's restoral expects the incident of that panel's alarm.
- A surge's strings (texts, senders, accounts, the label, the address) are templates with
  ``{n}`` (1 … count); its alarms are spread evenly over ``over``, or at seeded pseudo-random
  times. A label without ``{n}`` makes the surge one incident (many callers about one
  fire); with ``{n}`` each alarm is its own. Every alarm of a surge is checked; the first
  one refused stops the rest (one message, not ten thousand).
- Limits: a drill lasts at most `MAX_DURATION_S`, a surge has at most `MAX_SURGE` alarms,
  a scenario at most `MAX_INJECTS`.
"""

from __future__ import annotations

import math
import random
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway import phone
from gateway.config import Config, key_path
from gateway.drills import values
from gateway.drills.locate import KeyPath, key_lines, line_of, syntax_position
from gateway.report import Location

MAX_DURATION_S = 4 * 3600
MAX_SURGE = 10_000
MAX_INJECTS = 20_000

# Each channel's keys: (kind of value, required). The kinds are checked in `values`.
KEYS: dict[str, dict[str, tuple[str, bool]]] = {
    "phone": {"from": ("phone", True), "script": ("script", True), "caller_name": ("line", False)},
    "sms": {"from": ("phone", True), "text": ("sms", True)},
    "web": {"text": ("text", True), "from": ("phone", False), "name": ("line", False)},
    "email": {
        "from": ("email", True),
        "subject": ("line", True),
        "text": ("text", True),
        "attachments": ("attachments", False),
    },
    "fax": {"from": ("phone", True), "text": ("text", False), "page": ("fax_page", False)},
    "dc09": {"account": ("account", True), "event": ("dc09_event", True), "zone": ("zone", False)},
    "jt808": {"terminal": ("terminal", True), "alarm": ("jt808_alarm", False)},
    "telegram": {"chat": ("chat", True), "text": ("text", False)},
    "cap": {
        "file": ("cap_file", False),
        "event": ("line", False),
        "urgency": ("urgency", False),
        "severity": ("severity", False),
        "certainty": ("certainty", False),
        "headline": ("line", False),
        "text": ("text", False),
        "radius_km": ("radius", False),
    },
}
CHANNELS = tuple(KEYS)
FIELD_NAMES = {"from": "sender", "alarm": "alarm_bit"}  # the TOML key → the content's field
_TEMPLATES = frozenset({"phone", "email", "script", "sms", "text", "line", "account", "terminal"})
TOP_KEYS = ("name", "description", "units", "inject")
INJECT_KEYS = ("id", "at", "channel", "location", "expect", "note")
SURGE_KEYS = ("count", "over", "spread", "seed")
LOCATION_KEYS = ("address", "lat", "lon", "accuracy_m")
EXPECT_KEYS = ("incident", "category", "priority", "unit")
_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_LABEL_MAX = 64
_SPEC = re.compile(r"0?\d{0,2}[dxX]?")  # {n:04d}, {n:3}, {n:X}
_OFFSET = re.compile(r"\+?(?:(\d{1,3}):)?(\d{1,4}):(\d\d)")
TIME_FORMS = '"+m:ss", "+h:mm:ss" or a number of seconds'


@dataclass(frozen=True)
class CheckedInject:
    """One alarm to play (a surge's alarms each), with its label's full expectation."""

    id: str
    at: float
    channel: str
    content: dict[str, Any]  # the channel's content dataclass's fields
    location: Location | None
    incident: str
    category: str
    priority: int
    unit: str
    note: str | None
    index: int  # of its [[inject]]
    line: int
    n: int | None  # its number in a surge


@dataclass(frozen=True)
class Checked:
    name: str
    description: str | None
    units: tuple[str, ...]
    injects: tuple[CheckedInject, ...]  # in time order


@dataclass(frozen=True)
class Found:
    """A problem: its line and column (a syntax error's), key path and what is wrong."""

    line: int
    key: str
    message: str
    column: int | None = None


# -- times -------------------------------------------------------------------------------------


def parse_offset(value: object) -> float | None:
    """``"+0:30"`` (m:ss), ``"+1:05:00"`` (h:mm:ss) or a number of seconds; None if not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _OFFSET.fullmatch(value.strip())
    if not m or int(m[3]) >= 60 or (m[1] is not None and int(m[2]) >= 60):
        return None
    return float(int(m[1] or 0) * 3600 + int(m[2]) * 60 + int(m[3]))


def format_offset(seconds: float) -> str:
    """``+0:30``, ``+14:05``, ``+1:05:00`` (to the second)."""
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"+{h}:{m:02d}:{s:02d}" if h else f"+{m}:{s:02d}"


# -- the check -------------------------------------------------------------------------------


def check(text: str, config: Config, base: Path) -> Checked | list[Found]:
    """A scenario's text checked against the city: the values, or every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line, column, message = syntax_position(e, text)
        return [Found(line, "", message, column)]
    except RecursionError:  # tomllib recurses once per nested array or inline table
        return [Found(1, "", "nested too deeply")]
    lines = key_lines(text)
    rules = _Rules(config, base, lines)
    checked = rules.scenario(data)
    if checked is not None and not rules.problems:
        return checked
    found = [(line_of(lines, path), i, path, what) for i, (path, what) in enumerate(rules.problems)]
    return [Found(line, key_path(path), what) for line, _, path, what in sorted(found)]


class _Rules:
    def __init__(self, config: Config, base: Path, lines: dict[KeyPath, int]) -> None:
        self.config = config
        self.org = config.org
        self.values = values.Values(config, base, self.add)
        self.lines = lines
        self.problems: list[tuple[KeyPath, str]] = []
        self._keys: set[KeyPath] = set()
        self.told = 0  # every problem found, also those not repeated

    def add(self, path: KeyPath, what: str) -> None:
        # One problem a key: the first one found is the cause of the others.
        self.told += 1
        if path not in self._keys:
            self._keys.add(path)
            self.problems.append((path, what))

    # -- the file ---------------------------------------------------------------------------

    def scenario(self, data: dict[str, Any]) -> Checked | None:
        self.unknown_keys(data, (), TOP_KEYS, "")
        name = self.values.text(data.get("name"), ("name",), "line", required=True)
        description = self.values.text(data.get("description"), ("description",), "text")
        units = self.units(data.get("units"))
        raw = data.get("inject")
        if not isinstance(raw, list) or not raw:
            self.add(("inject",), "a scenario needs at least one [[inject]]")
            raw = []
        injects: list[CheckedInject] = []
        previous: float | None = None
        for index, item in enumerate(raw):
            at = self.inject_time(item, index, previous)
            if at is not None:
                previous = at
                injects += self.inject(item, index, at, units)
            if len(injects) > MAX_INJECTS:
                self.add(("inject", index), f"more than {MAX_INJECTS} alarms in one scenario")
                break
        injects.sort(key=lambda i: (i.at, i.index, i.n or 0))
        self.unique_ids(injects)
        injects = self.incidents(injects)
        self.correlation(injects)
        self.restorals(injects)
        if name is None or units is None or self.problems:
            return None
        return Checked(name, description, units, tuple(injects))

    def units(self, raw: object) -> tuple[str, ...] | None:
        """The participating units; those that are units of the city when some are not (the
        file is refused then, but the expectations are still checked against the others)."""
        if not isinstance(raw, list) or not raw:
            self.add(("units",), "the participating units: a list of unit codes, at least one")
            return None
        out: list[str] = []
        for i, code in enumerate(raw):
            if not isinstance(code, str) or code not in self.org:
                self.add(("units", i), self.values.unknown_unit(code))
            elif code in out:
                self.add(("units", i), f"{code} is listed twice")
            else:
                out.append(code)
        return tuple(out)

    def unknown_keys(
        self, table: dict[str, Any], path: KeyPath, allowed: Iterable[str], where: str
    ) -> None:
        known = tuple(allowed)
        for key in table:
            if key not in known:
                here = f" for {where}" if where else ""
                self.add((*path, key), f"unknown key (allowed{here}: {', '.join(known)})")

    # -- one [[inject]] -----------------------------------------------------------------------

    def inject_time(self, item: object, index: int, previous: float | None) -> float | None:
        here: KeyPath = ("inject", index)
        if not isinstance(item, dict):
            self.add(here, "an inject is a table ([[inject]])")
            return None
        at = parse_offset(item.get("at"))
        if at is None:
            what = "required" if "at" not in item else f"{item['at']!r} is not a time"
            self.add((*here, "at"), f"{what}: {TIME_FORMS} from the start")
        elif previous is not None and at < previous:
            self.add(
                (*here, "at"),
                f"{format_offset(at)} is before inject[{index - 1}] at "
                f"{format_offset(previous)}: list the injects in time order",
            )
        elif at > MAX_DURATION_S:
            self.add((*here, "at"), f"{format_offset(at)}: a drill lasts at most 4 hours")
        return at

    def inject(
        self, item: dict[str, Any], index: int, at: float, units: tuple[str, ...] | None
    ) -> list[CheckedInject]:
        here: KeyPath = ("inject", index)
        channel = item.get("channel")
        if not isinstance(channel, str) or channel not in KEYS:
            what = "required" if channel is None else f"unknown channel {channel!r}"
            self.add((*here, "channel"), f"{what} (one of {', '.join(CHANNELS)})")
            return []
        keys = KEYS[channel]
        self.unknown_keys(item, here, (*INJECT_KEYS, *SURGE_KEYS, *keys), f"channel {channel}")
        inject_id = item.get("id", f"i{index}")
        if not isinstance(inject_id, str) or not _ID.fullmatch(inject_id):
            self.add((*here, "id"), f"{inject_id!r}: 1 to 40 letters, digits, _ or -")
            inject_id = f"i{index}"
        # Files are read once, whatever the count: they are not templates.
        files = {
            key: self.values.check(kind, item[key], (*here, key))
            for key, (kind, _) in keys.items()
            if kind not in _TEMPLATES and key in item
        }
        if not any(k in item for k in SURGE_KEYS):
            one = self.alarm(item, here, channel, inject_id, at, None, units, files)
            return [one] if one is not None else []
        surge = self.surge(item, here, at)
        if not self.templates(item, here, keys) or surge is None:
            return []
        out: list[CheckedInject] = []
        for n, t in enumerate(surge, start=1):
            one = self.alarm(item, here, channel, f"{inject_id}.{n}", t, n, units, files)
            if one is None:
                return []
            out.append(one)
        return out

    def alarm(
        self,
        item: dict[str, Any],
        here: KeyPath,
        channel: str,
        inject_id: str,
        at: float,
        n: int | None,
        units: tuple[str, ...] | None,
        files: dict[str, Any],
    ) -> CheckedInject | None:
        def render(value: object) -> Any:
            return value.format(n=n) if n is not None and isinstance(value, str) else value

        before = self.told
        location = self.location(item.get("location"), (*here, "location"), render)
        content: dict[str, Any] = {}
        for key, (kind, required) in KEYS[channel].items():
            if key not in item:
                if required:
                    self.add((*here, key), f"required for channel {channel}")
                continue
            value = (
                files[key]
                if key in files
                else self.values.check(kind, render(item[key]), (*here, key))
            )
            if value is not None:
                content[FIELD_NAMES.get(key, key)] = value
        if None not in files.values():  # a refused file would make a second, false problem
            self.channel_rules(channel, content, location, here)
        expect = self.expect(item.get("expect"), (*here, "expect"), render, units)
        note = self.values.text(render(item.get("note")), (*here, "note"), "text")
        if expect is None or self.told > before or None in files.values():
            return None
        label, category, priority, unit = expect
        index = int(here[1])
        line = self.lines.get(here, 1)
        return CheckedInject(
            inject_id, at, channel, content, location, label, category, priority, unit, note,
            index, line, n,
        )  # fmt: skip

    def channel_rules(
        self, channel: str, content: dict[str, Any], loc: Location | None, here: KeyPath
    ) -> None:
        """What one key cannot say alone."""
        point = loc is not None and loc.lat is not None
        if channel == "fax" and ("text" in content) == ("page" in content):
            self.add((*here, "text"), "a fax has either text (drawn as a page) or page (a file)")
        elif channel == "telegram" and "text" not in content and not point:
            self.add((*here, "text"), "a Telegram inject sends a text, a location, or both")
        elif channel == "jt808" and not point:
            self.add((*here, "location"), "a terminal's alarm carries its position: lat and lon")
        elif channel == "cap" and "file" in content:
            extra = sorted(set(content) - {"file"})
            if extra:
                self.add((*here, extra[0]), "a CAP inject is either a file or made from keys")
        elif channel == "cap":
            for key in ("event", "urgency", "severity"):
                if key not in content:
                    self.add((*here, key), "required for a CAP alert made from keys (or: file)")
            if not point or loc is None or not loc.address:
                self.add((*here, "location"), "a CAP alert's area: address, lat and lon")

    def surge(self, item: dict[str, Any], here: KeyPath, at: float) -> list[float] | None:
        """The times of a surge's alarms."""
        count, over = item.get("count"), parse_offset(item.get("over"))
        spread, seed = item.get("spread", "even"), item.get("seed", 0)
        before = self.told
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SURGE:
            self.add((*here, "count"), f"{count!r}: a surge's number of alarms, 1 to {MAX_SURGE}")
        if over is None or over < 1:
            got = "required" if "over" not in item else f"{item['over']!r}"
            self.add((*here, "over"), f"{got}: a surge's duration, at least 1 s: {TIME_FORMS}")
        elif at + over > MAX_DURATION_S:
            end = format_offset(at + over)
            self.add((*here, "over"), f"the surge ends at {end}: a drill lasts at most 4 hours")
        if spread not in ("even", "random"):
            self.add((*here, "spread"), f'{spread!r}: "even" or "random"')
        if isinstance(seed, bool) or not isinstance(seed, int):
            self.add((*here, "seed"), f"{seed!r}: an integer")
        elif "seed" in item and spread != "random":
            self.add((*here, "seed"), 'a seed only applies to spread = "random"')
        if self.told > before or over is None or not isinstance(count, int):
            return None
        if spread == "even":
            return [at + over * k / count for k in range(count)]
        rng = random.Random(seed)
        return sorted(at + rng.random() * over for _ in range(count))

    def templates(
        self, item: dict[str, Any], here: KeyPath, keys: dict[str, tuple[str, bool]]
    ) -> bool:
        """A surge's strings may use {n} and nothing else."""
        strings = [((*here, k), v) for k, v in item.items() if k in keys or k == "note"]
        strings = [(p, v) for p, v in strings if isinstance(v, str)]
        strings = [
            (p, v) for p, v in strings if p[-1] == "note" or keys[str(p[-1])][0] in _TEMPLATES
        ]
        for table, key in (("location", "address"), ("expect", "incident")):
            sub = item.get(table)
            if isinstance(sub, dict) and isinstance(sub.get(key), str):
                strings.append(((*here, table, key), sub[key]))
        ok = True
        for path, value in strings:
            try:
                fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value)]
                for name, spec, conversion in fields:
                    if name is not None and (name != "n" or conversion):
                        shown = f"{name}!{conversion}" if conversion else name
                        raise ValueError(f"unknown field {{{shown}}}")
                    # A width is a few digits: "{n:0999999999}" would build a gigabyte.
                    if spec and not _SPEC.fullmatch(spec):
                        raise ValueError(f"format {{n:{spec}}} (e.g. {{n:04d}})")
            except ValueError as e:
                self.add(path, f"{e}: a surge's texts may use {{n}}; braces as {{{{ and }}}}")
                ok = False
        return ok

    def location(
        self, raw: object, path: KeyPath, render: Callable[[object], Any]
    ) -> Location | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            self.add(path, "a table: { address = …, lat = …, lon = … }")
            return None
        self.unknown_keys(raw, path, LOCATION_KEYS, "location")
        v, before = self.values, self.told
        address = v.text(render(raw.get("address")), (*path, "address"), "line")
        lat, lon = (v.number(raw.get(k), (*path, k)) for k in ("lat", "lon"))
        accuracy = v.number(raw.get("accuracy_m"), (*path, "accuracy_m"))
        if self.told > before:
            return None
        if (lat is None) != (lon is None) or (address is None and lat is None):
            self.add(path, "an address, or lat and lon (WGS84 degrees), or both")
            return None
        if lat is not None and lon is not None and not v.point(lat, lon, path):
            return None
        if accuracy is not None and not 0 <= accuracy <= 100_000:
            self.add((*path, "accuracy_m"), f"{accuracy}: metres, 0 to 100000")
            return None
        return Location(lat=lat, lon=lon, accuracy_m=accuracy, address=address)

    def expect(
        self,
        raw: object,
        path: KeyPath,
        render: Callable[[object], Any],
        units: tuple[str, ...] | None,
    ) -> tuple[str, str, int, str] | None:
        """(label, category, priority, unit); an empty value is given by another inject of
        the label (see `incidents`)."""
        if not isinstance(raw, dict):
            self.add(path, "required: { incident = …, category = …, unit = … }")
            return None
        self.unknown_keys(raw, path, EXPECT_KEYS, "expect")
        label = render(raw.get("incident"))
        if not isinstance(label, str) or not label.strip() or len(label) > _LABEL_MAX:
            got = "required" if label is None else repr(label)
            self.add(
                (*path, "incident"), f"{got}: the incident's label, 1 to {_LABEL_MAX} characters"
            )
            return None
        category = raw.get("category")
        if category is not None and category not in self.config.categories:
            known = ", ".join(sorted(self.config.categories))
            self.add((*path, "category"), f"{category!r} is not a category (known: {known})")
        priority = raw.get("priority")
        if priority is not None and (isinstance(priority, bool) or priority not in (1, 2, 3, 4)):
            self.add((*path, "priority"), f"{priority!r}: 1 (红), 2 (橙), 3 (黄) or 4 (蓝)")
        unit = raw.get("unit")
        if unit is not None:
            self.values.participant(unit, units, (*path, "unit"))
        return label, category or "", priority or 0, unit or ""

    # -- across injects -----------------------------------------------------------------------

    def unique_ids(self, injects: Sequence[CheckedInject]) -> None:
        first: dict[str, int] = {}
        for i in injects:
            if first.setdefault(i.id, i.index) != i.index:
                self.add(("inject", i.index, "id"), f"{i.id!r} is also inject[{first[i.id]}]")

    def incidents(self, injects: Sequence[CheckedInject]) -> list[CheckedInject]:
        """Each label's expectation, merged from its injects (which then all carry it)."""
        given: dict[str, dict[str, tuple[Any, int]]] = {}
        first: dict[str, str] = {}
        for i in injects:
            known = given.setdefault(i.incident, {})
            for key in ("category", "priority", "unit"):
                value = getattr(i, key)
                if not value:
                    continue
                was, where = known.setdefault(key, (value, i.index))
                if was != value:
                    self.add(
                        ("inject", i.index, "expect", key),
                        f"{value} differs from inject[{where}]'s {was} for incident "
                        f"{i.incident!r}: one incident has one {key}",
                    )
        out: list[CheckedInject] = []
        for i in injects:
            known = given[i.incident]
            if i.id == first.setdefault(i.incident, i.id):  # said once, at its first inject
                for key in ("category", "unit"):
                    if key not in known:
                        what = f"incident {i.incident!r} needs a {key}: give it on one inject"
                        self.add(("inject", i.index, "expect"), what)
            category = known.get("category", ("", 0))[0]
            default = (
                self.config.categories[category].priority
                if category in self.config.categories
                else 0
            )
            merged = {k: v for k, (v, _) in known.items()}
            out.append(replace(i, **{"priority": default, **merged}))
        return out

    def correlation(self, injects: Sequence[CheckedInject]) -> None:
        """The gateway joins one sender's reports (one panel's zone, one terminal's alarm)
        within a window into one incident: expecting two incidents there cannot be met."""
        c = self.config.correlation
        last: dict[str, CheckedInject] = {}
        for i in injects:
            key, by = _correlation_key(i)
            if key is None:
                continue
            window, setting = (
                (c.alarm_window, "alarm_window")
                if by in ("account", "terminal")
                else (c.sender_window, "sender_window")
            )
            before = last.get(key)
            last[key] = i
            if before is None or i.at - before.at > window or before.incident == i.incident:
                continue
            gap = format_offset(i.at - before.at)[1:]
            self.add(
                ("inject", i.index, by),
                f"the same {by} as {before.id} ({gap} earlier, incident {before.incident!r}): "
                f"the gateway joins them within {window} s ([correlation] {setting}), so "
                f"incident {i.incident!r} cannot be a different one",
            )

    def restorals(self, injects: Sequence[CheckedInject]) -> None:
        """A panel's restoral joins its open alarm: it expects that alarm's label."""
        alarms: dict[str, set[str]] = {}
        for i in injects:
            if i.channel != "dc09":
                continue
            account = i.content["account"]
            if self.values.dc09_kind(i.content["event"])[0] != "restoral":
                alarms.setdefault(account, set()).add(i.incident)
            elif i.incident not in alarms.get(account, set()):
                self.add(
                    ("inject", i.index, "expect", "incident"),
                    f"{i.content['event']} is a restoral: it joins an alarm of account {account} "
                    "played before it, so it expects that alarm's incident",
                )


def _correlation_key(i: CheckedInject) -> tuple[str | None, str]:
    """What `gateway.workflow.correlate` matches an inject's report by, and the key saying it."""
    c = i.content
    if i.channel == "dc09":
        return f"alarm:{c['account']}:{c.get('zone') or ''}", "account"
    if i.channel == "jt808":
        return f"alarm:jt808:{c['terminal'].lstrip('0')}:{c.get('alarm_bit', 0)}", "terminal"
    if i.channel in ("phone", "sms", "fax", "web") and c.get("sender"):
        return f"phone:{phone.normalise(c['sender'])}", "from"
    if i.channel == "email":
        return f"email:{c['sender'].lower()}", "from"
    if i.channel == "telegram":
        return f"telegram:{c['chat']}", "chat"
    return None, ""
