"""The values an inject holds, one kind at a time: texts, phone numbers, mail addresses,
alarm-panel accounts and event codes, terminal numbers, files next to the scenario, places
in the city, units taking part. Each check returns the value as the gateway will use it, or
None after telling the problem (``add(key path, what)``)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import phone
from gateway.channels.dc09 import codes as dc09_codes
from gateway.channels.dc09.frame import Event
from gateway.config import Config
from gateway.drills.locate import KeyPath

MAX_FILE_BYTES = 10 * 1024 * 1024  # an attachment, a fax page, a CAP alert
TEXT_MAX = {"script": 2000, "sms": 1000, "text": 10_000, "line": 200}
# CAP 1.2 §3.2.2 value lists.
CAP_VALUES = {
    "urgency": ("Immediate", "Expected", "Future", "Past", "Unknown"),
    "severity": ("Extreme", "Severe", "Moderate", "Minor", "Unknown"),
    "certainty": ("Observed", "Likely", "Possible", "Unlikely", "Unknown"),
}
FAX_SUFFIXES = (".tif", ".tiff", ".pdf")  # what a fax server mails (gateway.channels.smtp.fax)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # line ends and tabs are text
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\".]+(\.[^@\s<>()\[\],;:\".]+)+")


class Values:
    def __init__(self, config: Config, base: Path, add: Callable[[KeyPath, str], None]) -> None:
        self.config = config
        self.org = config.org
        self.base = base  # files are relative to the scenario's folder
        self.add = add

    def check(self, kind: str, raw: object, path: KeyPath) -> Any:
        """A channel key's value (`gateway.drills.rules.KEYS` names its kind)."""
        if kind in TEXT_MAX:
            return self.text(raw, path, kind)
        if kind in CAP_VALUES:
            if raw not in CAP_VALUES[kind]:
                return self.refuse(path, f"{raw!r} is not one of {', '.join(CAP_VALUES[kind])}")
            return raw
        check: Callable[[object, KeyPath], Any] = getattr(self, kind)
        return check(raw, path)

    def refuse(self, path: KeyPath, what: str) -> Any:
        """Tell the problem; the None a check then returns."""
        self.add(path, what)
        return None

    # -- texts and numbers --------------------------------------------------------------------

    def text(self, raw: object, path: KeyPath, kind: str, required: bool = False) -> str | None:
        if raw is None:
            return self.refuse(path, "required") if required else None
        limit = TEXT_MAX[kind]
        if not isinstance(raw, str) or not raw.strip():
            return self.refuse(path, f"{raw!r}: a text, not blank")
        if len(raw) > limit:
            return self.refuse(path, f"{len(raw)} characters: at most {limit}")
        if (_CONTROL_LINE if kind == "line" else _CONTROL).search(raw):
            allowed = "" if kind == "line" else " (line ends and tabs are)"
            return self.refuse(path, f"control characters are not allowed{allowed}")
        return raw

    def number(self, raw: object, path: KeyPath) -> float | None:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            return self.refuse(path, f"{raw!r}: a number")
        return float(raw)

    def radius(self, raw: object, path: KeyPath) -> float | None:
        value = self.number(raw, path)
        if value is not None and not 0 < value <= 100:
            return self.refuse(path, f"{raw!r}: kilometres, more than 0 and at most 100")
        return value

    # -- who sends ----------------------------------------------------------------------------

    def phone(self, raw: object, path: KeyPath) -> str | None:
        if not isinstance(raw, str) or not phone.looks_like_phone(raw):
            return self.refuse(path, f"{raw!r} is {phone.NOT_A_PHONE}")
        return raw.strip()

    def email(self, raw: object, path: KeyPath) -> str | None:
        if not isinstance(raw, str) or not _EMAIL.fullmatch(raw):
            return self.refuse(path, f"{raw!r} is not a mail address (name@example.cn)")
        return raw

    def account(self, raw: object, path: KeyPath) -> str | None:
        # SIA DC-09 §5.5.1.8: 3 to 16 hex digits. A string: its leading zeros count.
        if not isinstance(raw, str) or not re.fullmatch(r"[0-9A-Fa-f]{3,16}", raw):
            return self.refuse(path, f'{raw!r}: 3 to 16 hex digits, as a string ("0101")')
        return raw.upper()

    def zone(self, raw: object, path: KeyPath) -> str | None:
        text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if not isinstance(text, str) or not re.fullmatch(r"\d{1,4}", text):
            return self.refuse(path, f"{raw!r}: a zone number, 1 to 4 digits")
        return text.lstrip("0") or "0"  # as the receiver files it (frame.Event.zone)

    def terminal(self, raw: object, path: KeyPath) -> str | None:
        # JT/T 808 §4.4.3: the terminal's phone number, 12 BCD digits (2013) or 20 (2019).
        if not isinstance(raw, str) or not re.fullmatch(r"\d{1,20}", raw):
            return self.refuse(path, f"{raw!r}: the terminal number, up to 20 digits, a string")
        return raw

    def chat(self, raw: object, path: KeyPath) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw == 0:
            return self.refuse(path, f"{raw!r}: a Telegram chat id (an integer)")
        return raw

    # -- what an alarm says -------------------------------------------------------------------

    def dc09_event(self, raw: object, path: KeyPath) -> str | None:
        code = raw.strip().upper() if isinstance(raw, str) else ""
        if not re.fullmatch(r"[A-Z]{2}|[ERP]\d{3}", code):
            return self.refuse(path, f'{raw!r}: a SIA code ("BA") or Contact ID ("E130")')
        kind, name = self.dc09_kind(code)
        if kind is None:
            return self.refuse(path, f"{code} is not a known SIA or Contact ID event code")
        kinds = self.config.channels.get("dc09", {}).get("incident_kinds", ["alarm"])
        if kind not in (*kinds, "restoral"):  # a restoral joins its alarm (rules.restorals)
            what = f"{code} ({name}) is a {kind} signal: it opens no incident"
            return self.refuse(path, f"{what} (incident kinds: {', '.join(kinds)})")
        return code

    def dc09_kind(self, code: str) -> tuple[str | None, str]:
        """The kind the receiver gives an event code, with this city's overrides
        (`gateway.channels.dc09.receiver`), and its name; None for a code nobody knows."""
        sia = len(code) == 2
        event = Event("SIA", code) if sia else Event("CID", code[1:], qualifier=code[0])
        known = dc09_codes.SIA_CODES if sia else dc09_codes.CID_CODES
        overrides = self.config.channels.get("dc09", {}).get("codes", {})
        own = overrides.get(code if sia else f"CID{code[1:]}", {})
        base = dc09_codes.meaning(event)
        if event.code not in known and "kind" not in own:
            return None, base.name_zh
        if base.kind == "restoral":
            return "restoral", base.name_zh
        return own.get("kind", base.kind), own.get("name", base.name_zh)

    def jt808_alarm(self, raw: object, path: KeyPath) -> int | None:
        if raw == "sos":  # JT/T 808 table 24, bit 0: the emergency button
            return 0
        bits = self.config.channels.get("jt808", {}).get("alarm_bits", {})
        if isinstance(raw, int) and not isinstance(raw, bool) and str(raw) in bits:
            return raw
        known = ", ".join(["sos", *sorted(bits, key=int)])
        return self.refuse(path, f"{raw!r}: an alarm that opens an incident ({known})")

    # -- files next to the scenario -------------------------------------------------------------

    def file(self, raw: object, path: KeyPath) -> str | None:
        """The absolute path of an existing file, given relative to the scenario."""
        if not isinstance(raw, str) or not raw.strip():
            return self.refuse(path, f"{raw!r}: a file path (relative to the scenario)")
        found = self.base / raw
        try:
            if not found.is_file():
                return self.refuse(path, f"{raw}: no such file ({found})")
            size = found.stat().st_size
        except (OSError, ValueError) as e:
            return self.refuse(path, f"{raw}: cannot read: {e}")
        if size > MAX_FILE_BYTES:
            return self.refuse(path, f"{raw}: {size} bytes, at most {MAX_FILE_BYTES}")
        return str(found.resolve())

    def attachments(self, raw: object, path: KeyPath) -> tuple[str, ...] | None:
        if not isinstance(raw, list):
            return self.refuse(path, "a list of file paths (relative to the scenario)")
        files = [self.file(p, (*path, i)) for i, p in enumerate(raw)]
        return None if None in files else tuple(f for f in files if f is not None)

    def fax_page(self, raw: object, path: KeyPath) -> str | None:
        found = self.file(raw, path)
        if found is not None and not found.lower().endswith(FAX_SUFFIXES):
            return self.refuse(path, f"{raw}: a fax page is a TIFF or PDF file")
        return found

    def cap_file(self, raw: object, path: KeyPath) -> str | None:
        from gateway.channels.cap.message import CapError, parse  # lxml, only when needed

        found = self.file(raw, path)
        if found is None:
            return None
        try:
            alert = parse(Path(found).read_bytes())
        except CapError as e:
            return self.refuse(path, f"{raw}: not a CAP 1.2 alert the gateway takes: {e.message}")
        except OSError as e:
            return self.refuse(path, f"{raw}: cannot read: {e.strerror or e}")
        if alert.status != "Exercise":
            # CAP 1.2 §3.2.1 status: a drill's alert says so itself, so that nobody downstream
            # can take it for a real one, whoever plays it.
            return self.refuse(path, f"{raw}: status {alert.status}: a drill's alert is Exercise")
        return found

    # -- the city -------------------------------------------------------------------------------

    def point(self, lat: float, lon: float, path: KeyPath) -> bool:
        swapped = -90 <= lon <= 90 and -180 <= lat <= 180 and self.org.unit_at(lon, lat)
        hint = "; lat and lon swapped?" if swapped else ""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            what = f"({lat}, {lon}) is not a WGS84 point (lat -90…90, lon -180…180{hint})"
            self.add(path, what)
            return False
        if self.org.unit_at(lat, lon) is None:
            self.add(path, f"({lat}, {lon}) is outside {self.config.city.name} (WGS84{hint})")
            return False
        return True

    def participant(self, unit: object, units: tuple[str, ...] | None, path: KeyPath) -> None:
        """A unit of the city that takes part: in `units` or under one of them."""
        if not isinstance(unit, str) or unit not in self.org:
            self.add(path, self.unknown_unit(unit))
        elif units is not None and not any(self.org.covers(u, unit) for u in units):
            listed = ", ".join(f"{u} {self.org.get(u).name}" for u in units)
            name = self.org.get(unit).name
            self.add(
                path, f"{unit} {name} does not take part: not in units or under one ({listed})"
            )

    def unknown_unit(self, code: object) -> str:
        """Named with the city's codes nearest to it (a typo is usually in the last digits)."""
        given = str(code)
        near = sorted(
            self.org.units(), key=lambda u: (-len(os.path.commonprefix([u.code, given])), u.code)
        )[:4]
        known = ", ".join(f"{u.code} {u.name}" for u in near)
        shown = code if isinstance(code, str) else repr(code)
        return f"{shown} is not a unit of {self.config.city.name} (nearest: {known}, …)"
