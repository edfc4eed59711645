"""The drill API: start a run of a scenario, follow it, pause, resume or abort it, and read
its scorecard. A `drill_coordinator` (or `admin`) token; supervisors may follow and read.

``POST /api/v1/drills`` takes the scenario as written and the files it names::

    {"file": "mixed.toml", "scenario": "<the TOML text>",
     "files": {"files/photo.png": "<base64>", ...}}

It is checked against this gateway's configuration (`gateway.drills.scenario`) and, inject by
inject, against what this gateway can play (the channel enabled, able to play drills); every
problem is answered at once (422, ``problems``: one line each, naming the line and key).
"""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
import tomllib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from gateway.drills import runs
from gateway.drills.inject import KIND_CHANNEL
from gateway.drills.locate import key_lines, line_of
from gateway.drills.scenario import Problem, Scenario, ScenarioError, scenario_from_text
from gateway.http.resource import Call, HttpError, Route, route
from gateway.store.transaction import WriteContext

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.drills.service import DrillService

COORDINATORS = frozenset({"drill_coordinator", "admin"})
READERS = COORDINATORS | {"supervisor"}
BASE = r"^/api/v1/drills"
RUN = BASE + r"/(?P<run>[0-9]{1,12})"
MAX_FILES = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class DrillRoutes:
    def __init__(self, gw: Gateway, runner: DrillService) -> None:
        self.gw = gw
        self.runner = runner

    def routes(self) -> list[Route]:
        return [
            route("POST", BASE + "$", self.start, roles=COORDINATORS),
            route("GET", BASE + "$", self.list_runs, roles=READERS),
            route("GET", RUN + "$", self.run, roles=READERS),
            route(
                "POST", RUN + r"/(?P<control>pause|resume|abort)$", self.control, roles=COORDINATORS
            ),
            route("GET", RUN + r"/scorecard(?P<pdf>\.pdf)?$", self.scorecard, roles=READERS),
        ]

    async def start(self, call: Call) -> Any:
        body = call.json()
        if not isinstance(body, dict):
            raise HttpError(400, "bad_request", "the body is a JSON object")
        scenario, files = self.checked(body)
        assert call.actor is not None

        def started(ctx: WriteContext) -> dict[str, Any]:
            run = runs.start(ctx, scenario, files, call.actor, call.now)  # type: ignore[arg-type]
            return runs.progress(ctx.conn, run)

        doc = await self.gw.db.write(started)
        self.runner.poke()
        return 201, doc

    def checked(self, body: dict[str, Any]) -> tuple[Scenario, dict[str, bytes]]:
        """The scenario of a start request, checked in a folder holding its files; the
        files' paths in it are given back relative, as the request names them."""
        text, name, files = _fields(body)
        with tempfile.TemporaryDirectory(prefix="alarmgw-drill-") as tmp:
            root = Path(tmp)
            for rel, data in files.items():
                path = root / rel
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
                except (OSError, ValueError):  # a name too long, a NUL, "a" and "a/b"
                    why = f"files: {rel!r} cannot be a file there"
                    raise HttpError(400, "bad_request", why, "files") from None
            unplayable = self._unplayable(text, name)
            try:
                scenario = scenario_from_text(text, self.gw.config, file=name, base=root)
            except ScenarioError as e:
                raise _Invalid(sorted([*e.problems, *unplayable], key=_by_line)) from None
            doc = _relative(scenario.to_json(), str(root.resolve()) + "/")
        if unplayable:
            raise _Invalid(unplayable)
        return Scenario.from_json(doc), files

    def _unplayable(self, text: str, name: str) -> list[Problem]:
        """The injects on a channel this gateway cannot play drills on."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return []  # the scenario's check says where
        injects = data.get("inject")
        lines = key_lines(text)
        out = []
        for i, inject in enumerate(injects if isinstance(injects, list) else []):
            kind = inject.get("channel") if isinstance(inject, dict) else None
            if not isinstance(kind, str):  # a list is unhashable; the scenario's check says
                continue
            if kind in KIND_CHANNEL and (why := self._cannot(kind)) is not None:
                path = ("inject", i, "channel")
                out.append(Problem(name, line_of(lines, path), f"inject[{i}].channel", why))
        return out

    def _cannot(self, kind: str) -> str | None:
        code = KIND_CHANNEL[kind]
        channel = self.gw.config.channel(code)
        if channel is None:
            return f"{kind}: channel {code} is not enabled in this gateway ([channels.{code}])"
        if channel.drill is None:
            return f"{kind}: channel {code} cannot play drill injects"
        return None

    async def list_runs(self, call: Call) -> Any:
        return 200, {"runs": await self.gw.db.read(runs.runs)}

    async def run(self, call: Call) -> Any:
        doc = await self._read(runs.progress, int(call.params["run"]))
        return 200, runs.mark_late(doc, self.gw.config.sla, call.now)

    async def control(self, call: Call) -> Any:
        run, control = int(call.params["run"]), call.params["control"]
        fn = {"pause": runs.pause, "resume": runs.resume, "abort": runs.abort}[control]
        # NoSuchRun and RunStateError are DomainErrors: 404 and 409, not a bug in the writer.
        doc = await self.gw.db.write(fn, run, call.now, call.actor)
        self.runner.poke()
        return 200, doc

    async def scorecard(self, call: Call) -> Any:
        from gateway.drills import scorecard

        run = int(call.params["run"])
        await self._read(runs.progress, run)  # 404 for an unknown run
        await self.gw.db.write(runs.match_reports, run)
        card = await self.gw.db.read(scorecard.score, run, self.gw.config)
        if call.params.get("pdf"):
            pdf = await _in_thread(scorecard.pdf, card)
            return 200, pdf, b"application/pdf"
        html = await _in_thread(scorecard.html, card)
        return 200, html.encode(), b"text/html; charset=utf-8"

    async def _read(self, fn: Any, run: int) -> Any:
        try:
            return await self.gw.db.read(fn, run)
        except runs.NoSuchRun as e:
            raise HttpError(404, "not_found", str(e)) from None


class _Invalid(HttpError):
    """A scenario that cannot be played: 422 with every problem."""

    def __init__(self, problems: Any) -> None:
        lines = [str(p) for p in problems]
        super().__init__(422, "invalid_scenario", "\n".join(lines))
        self.problems = lines


def _fields(body: dict[str, Any]) -> tuple[str, str, dict[str, bytes]]:
    text = body.get("scenario")
    if not isinstance(text, str) or not text.strip():
        raise HttpError(400, "bad_request", "scenario: the scenario file's text", "scenario")
    name = body.get("file", "<scenario>")
    if not isinstance(name, str) or not name or len(name) > 200 or _CONTROL.search(name):
        why = "file: the scenario's file name, no control characters"
        raise HttpError(400, "bad_request", why, "file")
    raw = body.get("files", {})
    if not isinstance(raw, dict) or len(raw) > MAX_FILES:
        raise HttpError(400, "bad_request", f"files: at most {MAX_FILES}, by path", "files")
    files = {}
    for rel, data in raw.items():
        path = PurePosixPath(rel)
        if path.is_absolute() or ".." in path.parts or not path.parts or len(rel) > 300:
            raise HttpError(400, "bad_request", f"files: {rel!r} is not a relative path", "files")
        try:
            files[str(path)] = base64.b64decode(data, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise HttpError(400, "bad_request", f"files: {rel}: not base64", "files") from None
    return text, name, files


def _relative(doc: Any, prefix: str) -> Any:
    """`doc` with every string starting with `prefix` (a checked file's absolute path) cut."""
    if isinstance(doc, dict):
        return {k: _relative(v, prefix) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_relative(v, prefix) for v in doc]
    if isinstance(doc, str) and doc.startswith(prefix):
        return doc.removeprefix(prefix)
    return doc


def _by_line(p: Problem) -> tuple[int, int]:
    return (p.line or 0, p.column or 0)


def _in_thread(fn: Any, *args: Any) -> Any:
    from twisted.internet import threads

    return threads.deferToThread(fn, *args)
