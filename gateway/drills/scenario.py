"""Drill scenarios (演练脚本): a TOML file, checked completely against the city's configuration.

A scenario names the drill, the units taking part and a timeline of injects (模拟警情): at an
offset from the drill's start, one alarm on one channel — what that channel needs to send
it (a caller number and a Chinese script for a phone call, a sender and a text for an SMS,
…), where it happens, and what the center should make of it (category, priority, owning
unit, and an incident label: injects with one label must end in one incident). A surge
(``count`` alarms ``over`` a duration) tests the center's capacity; it is expanded into its
single alarms here. ``drills/README.md`` describes every key.

`load_scenario` reads, checks (`gateway.drills.rules`) and builds the model below; every
problem of a file is reported at once as a `ScenarioError`, one line each naming the file,
the line, the key path and what is wrong:
``drills/x.toml:14: inject[2].expect.unit: 530102519999 is not a unit of 示例市 (…)``.

Whether the gateway can play a scenario now (the channel enabled, the sender listed among
the channel's drill identities: `drill_numbers`, `drill_senders`, `drill_accounts`,
`drill_terminals`, `drill_chats`) is not a property of the file: the drill runner checks it
against the running configuration.

``python -m gateway.drills.scenario FILE [--config CITY.toml]`` tries a file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.config import Config, ConfigError, load_config
from gateway.drills import rules
from gateway.drills.rules import format_offset
from gateway.report import Location

MAX_FILE_BYTES = 1024 * 1024

__all__ = [
    "Content",
    "Expectation",
    "ExpectedIncident",
    "Inject",
    "Problem",
    "Scenario",
    "ScenarioError",
    "format_offset",
    "load_scenario",
    "scenario_from_text",
]


# -- problems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # None: about the whole file (it cannot be read)
    key: str  # the key path, e.g. inject[2].expect.unit; "" for a syntax error
    message: str
    column: int | None = None  # a syntax error's

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        where += "" if self.column is None else f":{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ScenarioError(Exception):
    """The scenario cannot be played: `problems` lists every problem found, the message has
    one a line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = tuple(problems)


# -- what an inject sends, per channel (`from` in the file is `sender`) ------------------------


@dataclass(frozen=True)
class PhoneCall:
    """A call to 110 through the drill trunk (asterisk/: always a drill); espeak-ng speaks
    the script into it."""

    sender: str  # the calling number
    script: str
    caller_name: str | None = None


@dataclass(frozen=True)
class Sms:
    sender: str  # to be played: one of [channels.smpp] drill_numbers
    text: str


@dataclass(frozen=True)
class WebReport:
    """The citizen form, posted as a drill; the inject's location fills its place."""

    text: str
    sender: str | None = None  # the reporter's phone
    name: str | None = None


@dataclass(frozen=True)
class Mail:
    sender: str  # to be played: one of [channels.smtp] drill_senders
    subject: str
    text: str
    attachments: tuple[str, ...] = ()  # absolute paths


@dataclass(frozen=True)
class Fax:
    """A fax: a text the runner draws as a page, or a TIFF/PDF file as a fax server mails it."""

    sender: str  # the calling fax number
    text: str | None = None
    page: str | None = None  # absolute path


@dataclass(frozen=True)
class PanelAlarm:
    """A SIA DC-09 alarm panel's event: SIA (``BA``) or Contact ID (``E130``)."""

    account: str  # to be played: one of [channels.dc09] drill_accounts
    event: str
    zone: str | None = None


@dataclass(frozen=True)
class TerminalAlarm:
    """A JT/T 808 terminal's alarm at the inject's point (bit 0: the emergency button)."""

    terminal: str  # to be played: one of [channels.jt808] drill_terminals
    alarm_bit: int = 0


@dataclass(frozen=True)
class TelegramMessage:
    """A message in a drill chat: the text, then the location if the inject has a point."""

    chat: int  # to be played: one of [channels.telegram] drill_chats
    text: str | None = None


@dataclass(frozen=True)
class CapAlert:
    """A CAP 1.2 alert, status Exercise: a file as written, or one made of these values with
    a circle of `radius_km` around the inject's point and its address as the areaDesc."""

    file: str | None = None  # absolute path
    event: str | None = None
    urgency: str | None = None
    severity: str | None = None
    certainty: str = "Observed"
    headline: str | None = None
    text: str | None = None
    radius_km: float = 1.0


Content = (
    PhoneCall
    | Sms
    | WebReport
    | Mail
    | Fax
    | PanelAlarm
    | TerminalAlarm
    | TelegramMessage
    | CapAlert
)
CONTENT_TYPES: dict[str, type[Content]] = {
    "phone": PhoneCall,
    "sms": Sms,
    "web": WebReport,
    "email": Mail,
    "fax": Fax,
    "dc09": PanelAlarm,
    "jt808": TerminalAlarm,
    "telegram": TelegramMessage,
    "cap": CapAlert,
}


# -- the scenario ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What the center should make of an inject: its label's incident (one label, one
    incident), category, priority (1 红 … 4 蓝) and owning unit."""

    incident: str
    category: str
    priority: int
    unit: str


@dataclass(frozen=True)
class InjectSource:
    """Where an inject was written: its ``[[inject]]`` (0-based, as in the key paths), that
    table's line, and for a surge's alarm its number ``n`` (1 … count)."""

    index: int
    line: int
    n: int | None = None


@dataclass(frozen=True)
class Inject:
    """One alarm to play, `at` seconds after the drill's start, on `channel`."""

    id: str  # "i3" for inject[3] unless it says `id`; a surge's alarms "i3.1" …
    at: float
    channel: str  # phone, sms, web, email, fax, dc09, jt808, telegram, cap
    content: Content  # what the channel sends
    location: Location | None  # where it happens (WGS84); sent by channels that carry one
    expect: Expectation
    note: str | None  # for the coordinator's view; never sent
    source: InjectSource

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "channel": self.channel,
            "content": _plain(asdict(self.content)),
            "location": None if self.location is None else _location_json(self.location),
            "expect": asdict(self.expect),
            "note": self.note,
            "source": asdict(self.source),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Inject:
        """The inverse of `to_json` (a stored run's record), for documents it wrote."""
        content: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in doc["content"].items()
        }
        loc = doc.get("location")
        return cls(
            id=doc["id"],
            at=float(doc["at"]),
            channel=doc["channel"],
            content=CONTENT_TYPES[doc["channel"]](**content),
            location=None if loc is None else Location(**loc),
            expect=Expectation(**doc["expect"]),
            note=doc.get("note"),
            source=InjectSource(**doc["source"]),
        )


@dataclass(frozen=True)
class ExpectedIncident:
    """One label: what its incident should end as, and the injects that should make it."""

    label: str
    category: str
    priority: int
    unit: str
    injects: tuple[str, ...]  # inject ids, in time order


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str | None
    units: tuple[str, ...]  # the participating units (each with the units under it)
    injects: tuple[Inject, ...]  # in time order, surges expanded
    incidents: tuple[ExpectedIncident, ...]  # in the order of their first inject
    file: str  # as given to load_scenario
    sha256: str  # of the file's bytes: which version of the scenario was played
    duration: float  # seconds from the start to the last inject

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "file": self.file,
            "sha256": self.sha256,
            "units": list(self.units),
            "duration_s": self.duration,
            "injects": [i.to_json() for i in self.injects],
            "incidents": [_plain(asdict(i)) for i in self.incidents],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Scenario:
        return cls(
            name=doc["name"],
            description=doc.get("description"),
            units=tuple(doc["units"]),
            injects=tuple(Inject.from_json(i) for i in doc["injects"]),
            incidents=tuple(
                ExpectedIncident(**{**i, "injects": tuple(i["injects"])}) for i in doc["incidents"]
            ),
            file=doc["file"],
            sha256=doc["sha256"],
            duration=float(doc["duration_s"]),
        )


# -- loading -----------------------------------------------------------------------------------


def load_scenario(path: str | Path, config: Config) -> Scenario:
    """Read and check a scenario file for the city of `config`; `ScenarioError` lists every
    problem. The files it names (attachments, fax pages, CAP alerts) are relative to it."""
    label = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ScenarioError([Problem(label, None, "", f"cannot read: {e.strerror or e}")]) from e
    if len(data) > MAX_FILE_BYTES:
        what = f"{len(data)} bytes: a scenario has at most {MAX_FILE_BYTES}"
        raise ScenarioError([Problem(label, None, "", what)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ScenarioError([Problem(label, line, "", f"not UTF-8: {e.reason}")]) from e
    return _build(text, config, label, Path(path).parent, hashlib.sha256(data).hexdigest())


def scenario_from_text(
    text: str, config: Config, *, file: str = "<scenario>", base: Path | None = None
) -> Scenario:
    """As `load_scenario`, for a text already read; its files are relative to `base`."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return _build(text, config, file, base or Path.cwd(), digest)


def _build(text: str, config: Config, label: str, base: Path, digest: str) -> Scenario:
    checked = rules.check(text, config, base)
    if isinstance(checked, list):
        raise ScenarioError([Problem(label, f.line, f.key, f.message, f.column) for f in checked])
    injects = tuple(_inject(i) for i in checked.injects)
    labels: dict[str, list[Inject]] = {}
    for inject in injects:
        labels.setdefault(inject.expect.incident, []).append(inject)
    incidents = tuple(
        ExpectedIncident(label, *_expected(members[0]), tuple(i.id for i in members))
        for label, members in labels.items()
    )
    return Scenario(
        name=checked.name,
        description=checked.description,
        units=checked.units,
        injects=injects,
        incidents=incidents,
        file=label,
        sha256=digest,
        duration=max((i.at for i in injects), default=0.0),
    )


def _inject(c: rules.CheckedInject) -> Inject:
    return Inject(
        id=c.id,
        at=c.at,
        channel=c.channel,
        content=CONTENT_TYPES[c.channel](**c.content),
        location=c.location,
        expect=Expectation(c.incident, c.category, c.priority, c.unit),
        note=c.note,
        source=InjectSource(c.index, c.line, c.n),
    )


def _expected(inject: Inject) -> tuple[str, int, str]:
    return inject.expect.category, inject.expect.priority, inject.expect.unit


def _location_json(loc: Location) -> dict[str, Any]:
    return {"lat": loc.lat, "lon": loc.lon, "accuracy_m": loc.accuracy_m, "address": loc.address}


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    """Tuples as JSON arrays."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in doc.items()}


# -- trying a file -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.drills.scenario",
        description="Check a drill scenario file against a city's configuration.",
    )
    parser.add_argument("file", help="the scenario (TOML)")
    parser.add_argument("--config", help="the city's configuration (default: the sample city)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.file, config)
    except ScenarioError as e:
        print(e, file=sys.stderr)
        return 1
    over = format_offset(scenario.duration).removeprefix("+")
    print(f"OK: {scenario.name}, {len(scenario.injects)} injects over {over}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
