"""The HTTP plumbing (twisted.web): a table of routes, JSON in and out, bearer tokens, and
errors as JSON documents of `schemas/error.schema.json` naming the field where there is one.

A route's handler gets a `Call` (the request as a route sees it) and returns
``(status, body)`` or ``(status, body, content type)``, or a Deferred or coroutine of that.
The core's routes (incidents, units, receipts, operations), the console's pages and each
enabled channel's (the web channel's report form, the AMI channel's screen pop, …) are
served alike. Bad input never stops the server: the worst it gets is a 4xx.

Who is asking: a bearer token (systems, scripts) or a console session cookie (people in a
browser). A request that changes something on a session's authority must carry the
session's CSRF token (header ``X-CSRF-Token`` or form field ``csrf``). Console pages
(``auth="page"``) send a person without a session to the login page and answer errors as
Chinese HTML. A handler may also return a `Stream`, which takes over the request (the
console's Server-Sent Events).
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fastjsonschema
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server

from gateway import auth
from gateway.errors import DomainError
from gateway.report import InvalidReport
from gateway.store.engine import StoreUnavailable
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role

log = Logger()

STATUS_OF_KIND = {
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "nothing_to_join": 409,
}
JSON = b"application/json; charset=utf-8"
HTML = b"text/html; charset=utf-8"
# No request needs more; deeper documents only make trouble for every encoder downstream.
MAX_DEPTH = 32


SAFE_METHODS = (b"GET", b"HEAD")


class Stream:
    """A response that stays open: `start` writes to the request as long as it likes and
    finishes it (or the client goes away)."""

    def start(self, request: server.Request) -> None:
        raise NotImplementedError


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


@dataclass(frozen=True)
class Route:
    method: bytes
    pattern: re.Pattern[str]
    handler: Callable[[Call], Any]
    auth: str = "required"  # "none" | "optional" | "required" | "page" (console, HTML)
    roles: frozenset[Role] | None = None  # with a token: only these roles


def route(
    method: str,
    pattern: str,
    handler: Callable[[Call], Any],
    auth: str = "required",
    roles: frozenset[Role] | frozenset[str] | None = None,
) -> Route:
    return Route(
        method.encode(),
        re.compile(pattern),
        handler,
        auth,
        frozenset(Role(r) for r in roles) if roles is not None else None,
    )


class Call:
    """One request as a route handler sees it (`gateway.channel.RouteCall`)."""

    def __init__(
        self, site: ApiResource, request: server.Request, params: Mapping[str, str]
    ) -> None:
        self.site = site
        self.request = request
        self.params = dict(params)
        self.actor: Actor | None = None
        self.session: Any = None  # the console session (gateway.console.accounts.Session)
        self.now = datetime.fromtimestamp(site.clock.seconds(), UTC)
        self.gone = False  # the client went away: nothing to answer
        request.notifyFinish().addErrback(self._lost)

    def _lost(self, _f: Failure) -> None:
        self.gone = True

    @property
    def query(self) -> dict[str, str]:
        """Query or form arguments, the first value of each, decoded."""
        args: dict[bytes, list[bytes]] = self.request.args or {}
        return {
            k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace") for k, v in args.items()
        }

    def form(self) -> dict[str, str]:
        return self.query

    def header(self, name: str) -> str | None:
        """A header's value; its octets as ISO-8859-1 (RFC 9110 §5.5: anything but
        printable ASCII in a field value is obs-text), so nothing is lost."""
        value = self.request.getHeader(name.encode())
        return value.decode("latin-1") if value is not None else None

    @property
    def too_large(self) -> bool:
        return bool(getattr(self.request, "too_large", False))

    def body(self, *media_types: str) -> bytes:
        """The body's octets as sent (signed bodies, XML): refuses (413, 415) what is too
        large or, when `media_types` are given, of another Content-Type."""
        if self.too_large:
            raise HttpError(413, "too_large", f"body over {self.site.max_body} bytes")
        if media_types:
            ctype = self.header("content-type") or ""
            if ctype.split(";")[0].strip().lower() not in media_types:
                raise HttpError(
                    415,
                    "unsupported_media_type",
                    f"send Content-Type: {' or '.join(media_types)}",
                )
        assert self.request.content is not None
        self.request.content.seek(0)
        return self.request.content.read()

    def json(self) -> Any:
        """The body as JSON: refuses (413, 415, 400) what is too large, not
        ``application/json``, not UTF-8, malformed or nested deeper than `MAX_DEPTH`."""
        return parse_json(self.body("application/json"))


def parse_json(raw: bytes) -> Any:
    """A body as JSON (a signed body is read with `Call.body` first): refuses (400) what is
    not UTF-8, malformed or nested deeper than `MAX_DEPTH`."""
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


class ApiResource(resource.Resource):
    """Serves a table of routes."""

    isLeaf = True

    def __init__(self, db: Any, clock: Any, max_body: int, routes: list[Route]) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.max_body = max_body
        self.routes = routes
        self.tokens = auth.TokenCache()
        self.sessions: Any = None  # gateway.console.sessions.Sessions, when the console is on
        # Renders an HttpError as a console page: (request, error) → bytes.
        self.error_page: Callable[[server.Request, HttpError], bytes] | None = None

    def render(self, request: server.Request) -> Any:
        path = request.path.decode("utf-8", "replace")
        method = request.method
        if method == b"HEAD":
            method = b"GET"
        allowed: list[str] = []
        for r in self.routes:
            match = r.pattern.match(path)
            if match is None:
                continue
            if r.method != method:
                allowed.append(r.method.decode())
                continue
            call = Call(self, request, match.groupdict())
            d = defer.ensureDeferred(self._run(r, call))
            d.addCallbacks(
                lambda out, call=call: self._answer(call, out),
                self._fail,
                errbackArgs=(call, r.auth == "page"),
            )
            return server.NOT_DONE_YET
        if allowed:
            request.setHeader(b"Allow", ", ".join(allowed).encode())
            return self._answer_error(
                request, HttpError(405, "method_not_allowed", f"use {', '.join(allowed)} on {path}")
            )
        return self._answer_error(request, HttpError(404, "not_found", f"no such path: {path}"))

    async def _run(self, r: Route, call: Call) -> Any:
        if r.auth == "page":
            call.session = await self.session(call, r)
            call.actor = call.session.actor
        elif r.auth != "none":
            call.actor = await self.actor(call.request, required=r.auth == "required", call=call)
        if r.roles is not None and call.actor is not None and call.actor.role not in r.roles:
            raise HttpError(403, "forbidden", f"role {call.actor.role} may not do this")
        out = r.handler(call)
        if inspect.isawaitable(out):
            out = await out
        return out

    # -- answers ---------------------------------------------------------------------------

    def _answer(self, call: Call, out: Any) -> None:
        if isinstance(out, Stream):
            if not call.gone:
                out.start(call.request)
            return
        self._respond(call, *out)

    def _respond(
        self,
        call: Call,
        status: int,
        body: Any,
        content_type: bytes = JSON,
        headers: Mapping[str, str | bytes] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        if call.gone:
            return
        request = call.request
        request.setResponseCode(status)
        for name, value in (headers or {}).items():
            raw = value if isinstance(value, bytes) else value.encode()
            if name.lower() == "set-cookie":
                request.responseHeaders.addRawHeader(b"Set-Cookie", raw)
            else:
                request.setHeader(name.encode(), raw)
        if content_type == HTML:
            # The console's and the citizen's pages: no framing, no inline scripts from
            # elsewhere, no referrer leaking incident numbers.
            request.setHeader(b"X-Frame-Options", b"DENY")
            request.setHeader(b"X-Content-Type-Options", b"nosniff")
            request.setHeader(b"Referrer-Policy", b"same-origin")
        request.setHeader(b"Content-Type", content_type)
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"Content-Length", str(len(data)).encode())
        request.write(data)
        request.finish()

    def _fail(self, failure: Failure, call: Call, page: bool = False) -> None:
        err = failure.value
        if isinstance(err, HttpError):
            e = err
        elif isinstance(err, InvalidReport):
            e = HttpError(422, "invalid_report", err.problem, err.field)
        elif isinstance(err, DomainError):
            kind = getattr(err, "kind", "invalid")
            e = HttpError(STATUS_OF_KIND.get(kind, 422), kind, err.message, err.field)
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
                method=call.request.method.decode(),
                path=call.request.path.decode(),
            )
            e = HttpError(500, "internal", "internal error")
        if call.gone or call.request.startedWriting:
            return
        self._error_headers(call.request, e)
        if page and self.error_page is not None:
            self._respond(call, e.status, self.error_page(call.request, e), HTML)
            return
        self._respond(call, e.status, _error_body(e))

    def _answer_error(self, request: server.Request, e: HttpError) -> bytes:
        """An error answered synchronously from `render` (no route matched)."""
        self._error_headers(request, e)
        data = json.dumps(_error_body(e), ensure_ascii=False).encode()
        request.setResponseCode(e.status)
        request.setHeader(b"Content-Type", JSON)
        request.setHeader(b"Cache-Control", b"no-store")
        return data

    @staticmethod
    def _error_headers(request: server.Request, e: HttpError) -> None:
        for k, v in e.headers.items():
            request.setHeader(k.encode(), v.encode())

    # -- who is asking -----------------------------------------------------------------------

    async def session(self, call: Call, r: Route) -> Any:
        """The console session of a page request; without one, off to the login page."""
        found = None if self.sessions is None else await self.sessions.of(call)
        if found is None:
            raise HttpError(
                303,
                "login",
                "请先登录",
                headers={"Location": self.sessions.login_url(call) if self.sessions else "/"},
            )
        self.check_csrf(call, found)
        return found

    @staticmethod
    def check_csrf(call: Call, session: Any) -> None:
        if call.request.method in SAFE_METHODS:
            return
        sent = call.header("X-CSRF-Token") or call.query.get("csrf") or ""
        if not session.csrf_matches(sent):
            raise HttpError(
                403, "csrf", "页面已过期或来源不明，请刷新页面后重试 (CSRF token missing or wrong)"
            )

    async def actor(
        self, request: server.Request, required: bool = True, call: Call | None = None
    ) -> Actor | None:
        header = request.getHeader(b"authorization") or b""
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if call is not None and self.sessions is not None:
                found = await self.sessions.of(call)
                if found is not None:
                    try:
                        self.check_csrf(call, found)
                    except HttpError:
                        if required:
                            raise
                        return None  # a route anyone may use: as anyone, not as the user
                    call.session = found
                    return found.actor  # type: ignore[no-any-return]
            if required:
                raise HttpError(401, "unauthorized", "send Authorization: Bearer <token>")
            return None
        token = token.strip()
        hit, who = self.tokens.get(token)
        if not hit:
            who = await self.db.read(auth.lookup, token)
            self.tokens.put(token, who)
        if who is None:
            raise HttpError(401, "unauthorized", "unknown or revoked token")
        return who


def compile_schema(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    # fastjsonschema rewrites the $refs of the dict it is given: hand it a copy.
    return fastjsonschema.compile(copy.deepcopy(dict(schema)))  # type: ignore[no-any-return]


def schema_error(e: fastjsonschema.JsonSchemaValueException, error: str) -> HttpError:
    """A 422 naming the field a JSON Schema refused."""
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
    return HttpError(422, error, message, field)


def _error_body(e: HttpError) -> dict[str, Any]:
    return {"error": e.error, "message": e.message, "field": e.field}


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
