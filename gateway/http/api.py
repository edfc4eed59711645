"""The HTTP API (twisted.web): reports in, receipts, units, incidents and their actions.

Routes are a small table of (method, pattern, handler). A handler returns a value or a
Deferred of `(status, body)`; every error becomes a JSON document of
`schemas/error.schema.json` naming the field where there is one. Bad input never stops
the server: the worst it gets is a 4xx.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import fastjsonschema
from sqlalchemy import func, select
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server

from gateway import auth
from gateway.errors import ChannelUnavailable, DomainError
from gateway.http import pages
from gateway.http.openapi import openapi_document
from gateway.report import InvalidReport, Report, format_utc, parse_utc
from gateway.schemas import load_schema
from gateway.store.db import StoreUnavailable
from gateway.store.tables import incidents, reports
from gateway.workflow import calls, records
from gateway.workflow.machine import Actor
from gateway.workflow.service import may_see
from gateway.workflow.table import Role, State

log = Logger()

STATUS_OF_KIND = {"invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403}
# Who may claim a channel other than "web", a received_at of their own, or the drill flag.
SYSTEM_ROLES = frozenset({Role.INTEGRATION, Role.ADMIN})
DRILL_SUBMITTERS = frozenset({Role.DRILL_COORDINATOR, Role.INTEGRATION, Role.ADMIN})
# Who answers and rings back 110 calls.
PHONE_ROLES = frozenset({Role.CALLTAKER, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
HTML = b"text/html; charset=utf-8"
NUMBER = r"(?P<number>\d{6}-\d{8}-\d{6})"


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field
        self.headers = headers or {}


def _compile(name: str) -> Callable[[Any], Any]:
    # fastjsonschema rewrites the $refs of the dict it is given: hand it a copy, not the
    # cached schema.
    return fastjsonschema.compile(copy.deepcopy(load_schema(name)))  # type: ignore[no-any-return]


# No report needs more; deeper documents only make trouble for every encoder downstream.
MAX_DEPTH = 32


def _too_deep(doc: Any) -> bool:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _schema_error(e: fastjsonschema.JsonSchemaValueException) -> HttpError:
    path = [str(p) for p in (e.path or [])[1:]]
    field = ".".join(path) or None
    message = e.message.replace("data.", "").replace("data ", "")
    if e.rule == "additionalProperties":
        # fastjsonschema says "must not contain {'colour'} properties": name the field.
        unknown = re.findall(r"'([^']*)'", e.message)
        where = field or "the document"
        if unknown:
            field = ".".join([*path, unknown[0]])
            message = f"unknown field {unknown[0]!r} in {where}"
        else:
            message = f"unknown field in {where}: {message}"
    return HttpError(422, "invalid_report", message, field)


class ApiResource(resource.Resource):
    isLeaf = True

    def __init__(self, gateway: Any) -> None:
        super().__init__()
        self.gw = gateway
        self.tokens = auth.TokenCache()
        self.validate_submission = _compile("report-submission.schema.json")
        self.validate_action = _compile("action.schema.json")
        self._openapi = json.dumps(openapi_document(), ensure_ascii=False).encode()
        r = re.compile
        self.routes: list[tuple[bytes, re.Pattern[str], Callable[..., Any]]] = [
            (b"POST", r(r"^/api/v1/reports$"), self.post_report),
            (b"GET", r(r"^/api/v1/receipts/(?P<receipt>[0-9A-Z]{1,32})$"), self.get_receipt),
            (b"GET", r(r"^/api/v1/units$"), self.get_units),
            (b"GET", r(r"^/api/v1/incidents$"), self.list_incidents),
            (b"GET", r(rf"^/api/v1/incidents/{NUMBER}$"), self.get_incident),
            (b"POST", r(rf"^/api/v1/incidents/{NUMBER}/actions$"), self.post_action),
            (
                b"GET",
                r(r"^/api/v1/calltakers/(?P<calltaker>[0-9A-Za-z_.-]{1,32})/current$"),
                self.get_current_call,
            ),
            (b"GET", r(r"^/api/v1/openapi\.json$"), self.get_openapi),
            (b"GET", r(r"^/report$"), self.get_form),
            (b"POST", r(r"^/report$"), self.post_form),
            (b"GET", r(r"^/$"), self.get_form),
            (b"GET", r(r"^/healthz$"), self.healthz),
            (b"GET", r(r"^/metrics$"), self.metrics),
        ]

    # -- dispatch --------------------------------------------------------------------------

    def render(self, request: server.Request) -> Any:
        path = request.path.decode("utf-8", "replace")
        method = request.method
        if method == b"HEAD":
            method = b"GET"
        allowed: list[str] = []
        for m, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if m != method:
                allowed.append(m.decode())
                continue
            d = defer.maybeDeferred(handler, request, **match.groupdict())
            d.addCallbacks(
                lambda out: self._respond(request, *out), self._fail, errbackArgs=(request,)
            )
            return server.NOT_DONE_YET
        if allowed:
            request.setHeader(b"Allow", ", ".join(allowed).encode())
            return self._error(
                request, HttpError(405, "method_not_allowed", f"use {', '.join(allowed)} on {path}")
            )
        return self._error(request, HttpError(404, "not_found", f"no such path: {path}"))

    def _respond(
        self,
        request: server.Request,
        status: int,
        body: Any,
        content_type: bytes = b"application/json; charset=utf-8",
    ) -> None:
        if isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body, ensure_ascii=False).encode()
        self._write(request, status, data, content_type)

    def _write(
        self, request: server.Request, status: int, data: bytes, content_type: bytes
    ) -> None:
        if request._disconnected:  # type: ignore[attr-defined]
            return
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", content_type)
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"Content-Length", str(len(data)).encode())
        request.write(data)
        request.finish()

    def _fail(self, failure: Failure, request: server.Request) -> None:
        err = failure.value
        if isinstance(err, HttpError):
            e = err
        elif isinstance(err, InvalidReport):
            e = HttpError(422, "invalid_report", err.problem, err.field)
        elif isinstance(err, DomainError):
            kind = getattr(err, "kind", "invalid")
            e = HttpError(STATUS_OF_KIND.get(kind, 422), kind, err.message)
        elif isinstance(err, StoreUnavailable):
            e = HttpError(
                503,
                "unavailable",
                "暂时无法保存，请稍后重试 (store unavailable, retry)",
                headers={"Retry-After": "1"},
            )
        else:
            log.failure(
                "Request failed: {method} {path}",
                failure,
                method=request.method.decode(),
                path=request.path.decode(),
            )
            e = HttpError(500, "internal", "internal error")
        self._error(request, e)

    def _error(self, request: server.Request, e: HttpError) -> bytes:
        for k, v in e.headers.items():
            request.setHeader(k.encode(), v.encode())
        body = {"error": e.error, "message": e.message, "field": e.field}
        if request.startedWriting or request._disconnected:  # type: ignore[attr-defined]
            return b""
        self._respond(request, e.status, body)
        return server.NOT_DONE_YET  # type: ignore[return-value]

    # -- helpers -----------------------------------------------------------------------------

    def json_body(self, request: server.Request) -> Any:
        if getattr(request, "too_large", False):
            raise HttpError(413, "too_large", f"body over {self.gw.config.http.max_body} bytes")
        ctype = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        if ctype != b"application/json":
            raise HttpError(415, "unsupported_media_type", "send Content-Type: application/json")
        assert request.content is not None
        raw = request.content.read()
        try:
            # RFC 8259 §8.1: JSON between systems is UTF-8 (json.loads on bytes would also
            # guess UTF-16 and UTF-32).
            doc = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise HttpError(400, "bad_json", "the body is not UTF-8") from None
        except json.JSONDecodeError as e:
            raise HttpError(
                400, "bad_json", f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
            ) from None
        except ValueError as e:  # NaN, Infinity
            raise HttpError(400, "bad_json", str(e)) from None
        except RecursionError:
            raise HttpError(400, "bad_json", f"JSON nested deeper than {MAX_DEPTH}") from None
        if _too_deep(doc):
            raise HttpError(400, "bad_json", f"JSON nested deeper than {MAX_DEPTH}")
        return doc

    @defer.inlineCallbacks
    def actor(self, request: server.Request, required: bool = True) -> Any:
        header = request.getHeader(b"authorization") or b""
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if required:
                raise HttpError(401, "unauthorized", "send Authorization: Bearer <token>")
            return None
        token = token.strip()
        hit, who = self.tokens.get(token)
        if not hit:
            who = yield self.gw.db.read(auth.lookup, token)
            self.tokens.put(token, who)
        if who is None:
            raise HttpError(401, "unauthorized", "unknown or revoked token")
        return who

    # -- reports -----------------------------------------------------------------------------

    @defer.inlineCallbacks
    def post_report(self, request: server.Request) -> Any:
        doc = self.json_body(request)
        who: Actor | None = yield self.actor(request, required=False)
        report = self.report_from_submission(request, doc, who)
        receipt = yield self.gw.submit(report)
        return 201, receipt.to_json()

    def report_from_submission(
        self, request: server.Request, doc: Any, who: Actor | None
    ) -> Report:
        if not isinstance(doc, dict):
            raise HttpError(422, "invalid_report", "the body must be a JSON object")
        try:
            self.validate_submission(doc)
        except fastjsonschema.JsonSchemaValueException as e:
            raise _schema_error(e) from None
        system = who is not None and who.role in SYSTEM_ROLES
        channel = doc.get("channel", "web" if not system else "api")
        if channel != "web" and not system:
            raise HttpError(
                403,
                "forbidden",
                f"only an integration token may use channel {channel!r}",
                "channel",
            )
        if doc.get("drill") and (who is None or who.role not in DRILL_SUBMITTERS):
            raise HttpError(
                403,
                "forbidden",
                "drill reports need a drill_coordinator, integration or admin token",
                "drill",
            )
        key = request.getHeader(b"idempotency-key")
        external_id = (
            (key.decode("utf-8", "replace").strip() if key else None)
            or doc.get("external_id")
            or str(uuid.uuid4())
        )
        if len(external_id) > 200:
            raise HttpError(
                422, "invalid_report", "Idempotency-Key is over 200 characters", "external_id"
            )
        now = datetime.fromtimestamp(self.gw.clock.seconds(), UTC)
        received = (
            parse_utc(doc["received_at"], "received_at")
            if (system and "received_at" in doc)
            else now
        )
        full = dict(doc, channel=channel, external_id=external_id, received_at=received.isoformat())
        return Report.from_json(full)

    def get_receipt(self, request: server.Request, receipt: str) -> Any:
        """Public: state and times only, never who reported or what they said."""

        def q(conn: Any) -> Any:
            return conn.execute(
                select(
                    reports.c.receipt,
                    reports.c.received_at,
                    incidents.c.state,
                    incidents.c.milestones,
                )
                .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
                .where(reports.c.receipt == receipt)
            ).first()

        def answer(row: Any) -> tuple[int, Any]:
            if row is None:
                raise HttpError(404, "not_found", f"no receipt {receipt}")
            return 200, {
                "receipt": row.receipt,
                "state": row.state,
                "received_at": format_utc(row.received_at),
                "milestones": row.milestones,
            }

        return self.gw.db.read(q).addCallback(answer)

    # -- the citizen's form ------------------------------------------------------------------

    def get_form(self, request: server.Request) -> Any:
        return 200, pages.form_page(self.gw.config.categories), HTML

    @defer.inlineCallbacks
    def post_form(self, request: server.Request) -> Any:
        if getattr(request, "too_large", False):
            raise HttpError(413, "too_large", f"body over {self.gw.config.http.max_body} bytes")
        form = _args(request)
        try:
            doc = pages.form_report(form)
            if form.get("token"):
                request.requestHeaders.setRawHeaders(b"idempotency-key", [form["token"].encode()])
            report = self.report_from_submission(request, doc, None)
        except (ValueError, HttpError) as e:
            message = e.message if isinstance(e, HttpError) else str(e)
            if isinstance(e, InvalidReport | HttpError) and getattr(e, "field", None):
                message = f"{message}（{e.field}）"  # type: ignore[union-attr]
            return 400, pages.form_page(self.gw.config.categories, form, message), HTML
        try:
            receipt = yield self.gw.submit(report)
        except StoreUnavailable:
            return 503, pages.unavailable_page(), HTML
        return 201, pages.done_page(receipt.receipt, receipt.incident), HTML

    # -- the org tree and incidents -------------------------------------------------------------

    @defer.inlineCallbacks
    def get_units(self, request: server.Request) -> Any:
        yield self.actor(request)
        return 200, self.gw.config.org.to_json()

    @defer.inlineCallbacks
    def list_incidents(self, request: server.Request) -> Any:
        who: Actor = yield self.actor(request)
        org = self.gw.config.org
        args = _args(request)
        unknown = set(args) - {"state", "unit", "since", "limit"}
        if unknown:
            raise HttpError(
                400, "bad_query", f"unknown parameter {sorted(unknown)[0]}", sorted(unknown)[0]
            )
        q = select(incidents).order_by(incidents.c.created_at.desc())
        if "state" in args:
            states = args["state"].split(",")
            bad = [s for s in states if s not in State.__members__.values()]
            if bad:
                raise HttpError(400, "bad_query", f"unknown state {bad[0]!r}", "state")
            q = q.where(incidents.c.state.in_(states))
        scope = who.unit or org.root.code
        if "unit" in args:
            if args["unit"] not in org:
                raise HttpError(400, "bad_query", f"unknown unit {args['unit']!r}", "unit")
            if not org.covers(scope, args["unit"]):
                raise HttpError(
                    403, "forbidden", f"unit {args['unit']} is outside your scope", "unit"
                )
            scope = args["unit"]
        if scope != org.root.code:
            q = q.where(incidents.c.unit.in_(sorted(org.subtree(scope))))
        if "since" in args:
            try:
                since = parse_utc(args["since"], "since")
            except InvalidReport as e:
                raise HttpError(400, "bad_query", e.problem, "since") from None
            q = q.where(incidents.c.created_at >= since)
        try:
            limit = int(args.get("limit", "100"))
        except ValueError:
            raise HttpError(400, "bad_query", "limit must be a whole number", "limit") from None
        q = q.limit(max(1, min(limit, 1000)))

        def run(conn: Any) -> list[dict[str, Any]]:
            return records.documents(conn, list(conn.execute(q).mappings()))

        docs = yield self.gw.db.read(run)
        return 200, {"incidents": docs}

    @defer.inlineCallbacks
    def get_incident(self, request: server.Request, number: str) -> Any:
        who: Actor = yield self.actor(request)

        def run(conn: Any) -> dict[str, Any]:
            row = records.load(conn, number)
            if not may_see(who, row["unit"], self.gw.config.org):
                raise HttpError(403, "forbidden", f"incident {number} is outside your scope")
            return records.document(conn, row, detail=True)

        doc = yield self.gw.db.read(run)
        return 200, doc

    @defer.inlineCallbacks
    def post_action(self, request: server.Request, number: str) -> Any:
        who: Actor = yield self.actor(request)
        body = self.json_body(request)
        try:
            self.validate_action(body)
        except fastjsonschema.JsonSchemaValueException as e:
            err = _schema_error(e)
            raise HttpError(422, "invalid_action", err.message, err.field) from None
        params = {k: v for k, v in body.items() if k != "action"}
        if body["action"] == "callback":
            doc = yield self.callback(who, number, params)
            return 202, doc
        if body["action"] == "reply":
            doc = yield self.reply(who, number, params)
            return 202, doc
        doc = yield self.gw.act(number, body["action"], who, params)
        return 200, doc

    # -- telephony ---------------------------------------------------------------------------

    @defer.inlineCallbacks
    def callback(self, who: Actor, number: str, params: dict[str, Any]) -> Any:
        """回拨: ring the call-taker's softphone, then the caller (answers 202: the call is
        under way; its outcome lands on the incident as a callback_result event)."""
        if who.role not in PHONE_ROLES:
            raise HttpError(403, "forbidden", f"role {who.role} may not call back")
        if "calltaker" not in params:
            raise HttpError(422, "invalid_action", "callback needs calltaker", "calltaker")
        phone = self.gw.phone
        if phone is None:
            raise HttpError(409, "conflict", "the phone channel ([channels.ami]) is not enabled")
        yield self.in_scope(who, number)
        try:
            doc = yield defer.Deferred.fromFuture(
                asyncio.ensure_future(phone.callback(number, who, params["calltaker"]))
            )
        except ChannelUnavailable as e:
            raise HttpError(
                503, "unavailable", f"电话系统暂不可用 ({e})", headers={"Retry-After": "5"}
            ) from None
        return doc

    def in_scope(self, who: Actor, number: str) -> defer.Deferred[None]:
        def scope(conn: Any) -> None:
            row = records.load(conn, number)
            if not may_see(who, row["unit"], self.gw.config.org):
                raise HttpError(403, "forbidden", f"incident {number} is outside your scope")

        return self.gw.db.read(scope)

    # -- SMS ---------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def reply(self, who: Actor, number: str, params: dict[str, Any]) -> Any:
        """回复短信: answer the citizen by SMS (202: queued; its sending and delivery receipt
        land on the incident as sms_sent / sms_delivered events)."""
        if who.role not in PHONE_ROLES:
            raise HttpError(403, "forbidden", f"role {who.role} may not answer by SMS")
        if "text" not in params:
            raise HttpError(422, "invalid_action", "reply needs text", "text")
        sms = self.gw.sms
        if sms is None:
            raise HttpError(409, "conflict", "the SMS channel ([channels.smpp]) is not enabled")
        yield self.in_scope(who, number)
        try:
            doc = yield defer.ensureDeferred(
                sms.reply(number, who, params["text"], params.get("to"))
            )
        except InvalidReport as e:
            raise HttpError(422, "invalid_action", e.problem, e.field) from None
        return doc

    @defer.inlineCallbacks
    def get_current_call(self, request: server.Request, calltaker: str) -> Any:
        """The call-taker's screen pop: the call in progress, its incident, the caller's
        open incidents and reports from the same number in the last 30 days."""
        who: Actor = yield self.actor(request)
        if who.role not in PHONE_ROLES:
            raise HttpError(403, "forbidden", f"role {who.role} has no call-taker screen")
        now = datetime.fromtimestamp(self.gw.clock.seconds(), UTC)
        doc = yield self.gw.db.read(calls.current, calltaker, now)
        if doc is None:
            raise HttpError(404, "not_found", f"call-taker {calltaker} has no call in progress")
        return 200, doc

    # -- operations --------------------------------------------------------------------------

    def get_openapi(self, request: server.Request) -> Any:
        return 200, self._openapi

    def healthz(self, request: server.Request) -> Any:
        def ping(conn: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(incidents)).scalar() or 0)

        def ok(n: int) -> tuple[int, Any]:
            return 200, {"status": "ok", "database": "reachable", "incidents": n}

        return self.gw.db.read(ping).addCallback(ok)

    def metrics(self, request: server.Request) -> Any:
        def counts(conn: Any) -> dict[str, int]:
            rows = conn.execute(
                select(incidents.c.state, func.count()).group_by(incidents.c.state)
            ).all()
            return {state: n for state, n in rows}

        def render(c: dict[str, int]) -> tuple[int, bytes, bytes]:
            self.gw.metrics.set_states(c)
            return 200, self.gw.metrics.render(), b"text/plain; version=0.0.4; charset=utf-8"

        return self.gw.db.read(counts).addCallback(render)


def _args(request: server.Request) -> dict[str, str]:
    """Query or form arguments, first value of each, decoded."""
    args: dict[bytes, list[bytes]] = request.args or {}
    return {k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace") for k, v in args.items()}


class LimitedRequest(server.Request):
    """Stops buffering a body past the configured limit; the handler answers 413."""

    max_body = 1 << 20
    too_large = False

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # Twisted parses every POST's Content-Type with the email package (tens of
        # microseconds) to find form bodies; only the citizen form sends one.
        ctype = (self.requestHeaders.getRawHeaders(b"content-type") or [b""])[0].lower()
        self._parsePOSTFormSubmission = b"form" in ctype
        super().requestReceived(command, path, version)

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.max_body:
            self.too_large = True
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.too_large:
            return
        assert self.content is not None
        if self.content.tell() + len(data) > self.max_body:
            self.too_large = True
            self.content.seek(0)
            self.content.truncate()
            return
        super().handleContentChunk(data)
