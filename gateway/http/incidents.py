"""The core's routes: the org tree, incidents and their actions (the workflow's and the
enabled channels'), the public receipt lookup, and operations (health, metrics, the OpenAPI
document)."""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import fastjsonschema
from sqlalchemy import func, select

from gateway import discovery
from gateway.channel import resolve
from gateway.eido.export import EidoExport
from gateway.http import contract
from gateway.http.openapi import openapi_document
from gateway.http.resource import Call, HttpError, Route, compile_schema, route, schema_error
from gateway.report import InvalidReport, parse_utc
from gateway.store.tables import incidents
from gateway.workflow import records
from gateway.workflow.machine import Actor
from gateway.workflow.service import may_see
from gateway.workflow.table import Role, State

if TYPE_CHECKING:
    from gateway.app import Gateway

# RFC 7946 §12: GeoJSON's own media type.
GEOJSON = b"application/geo+json; charset=utf-8"
NUMBER = r"(?P<number>\d{6}-\d{8}-\d{6})"


class CoreRoutes:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        channels = gw.config.enabled_channels
        # The category codes are the config's ([categories]), not the schema file's nine.
        categories = {code: c.name for code, c in gw.config.categories.items()}
        units = sorted(u.code for u in gw.config.org.units())
        self.validate_action = compile_schema(contract.action_schema(channels, categories, units))
        self.channel_actions = contract.channel_actions(channels)
        # Actions of channels installed but off: refused naming the channel, not as unknown.
        self.actions_off = {
            name: channel
            for name, (channel, _) in contract.channel_actions(
                [discovery.declaration(code) for code in discovery.installed()]
            ).items()
            if name not in self.channel_actions
        }
        self._openapi = json.dumps(openapi_document(gw.config), ensure_ascii=False).encode()

    def routes(self) -> list[Route]:
        return [
            # Any segment: the handler reads it as people type receipts, or says why not.
            route("GET", r"^/api/v1/receipts/(?P<receipt>[^/]+)$", self.receipt, "none"),
            route("GET", r"^/api/v1/units$", self.units),
            route("GET", r"^/api/v1/incidents$", self.list_incidents),
            route("GET", rf"^/api/v1/incidents/{NUMBER}$", self.incident),
            route("GET", rf"^/api/v1/incidents/{NUMBER}/eido$", EidoExport(self.gw).handle),
            route("POST", rf"^/api/v1/incidents/{NUMBER}/actions$", self.action),
            route("GET", r"^/api/v1/openapi\.json$", self.openapi, "none"),
            route("GET", r"^/healthz$", self.healthz, "none"),
            route("GET", r"^/metrics$", self.metrics, "none"),
        ]

    # -- receipts ------------------------------------------------------------------------------

    async def receipt(self, call: Call) -> Any:
        """Public: state and times only, never who reported or what they said. The receipt
        is read as people type it (`records.normalise_receipt`); the answer names it as
        stored."""
        typed = unquote(call.params["receipt"])
        try:
            receipt = records.normalise_receipt(typed)
        except records.NotAReceipt as e:
            raise HttpError(400, "bad_receipt", _not_a_receipt(e), "receipt") from None
        status = await self.gw.db.read(records.receipt_status, receipt)
        if status is None:
            raise HttpError(404, "not_found", f"no receipt {receipt}")
        return 200, status.to_json()

    # -- the org tree and incidents -------------------------------------------------------------

    def units(self, call: Call) -> Any:
        """The org tree (nested), or with ``?format=geojson`` the jurisdictions as a
        FeatureCollection for a map (the console's Leaflet layer)."""
        args = call.query
        unknown = sorted(set(args) - {"format"})
        if unknown:
            raise HttpError(400, "bad_query", f"unknown parameter {unknown[0]}", unknown[0])
        form = args.get("format", "tree")
        if form == "geojson":
            return 200, self.gw.config.org.to_geojson(), GEOJSON
        if form != "tree":
            raise HttpError(
                400, "bad_query", f"format must be tree or geojson, not {form!r}", "format"
            )
        return 200, self.gw.config.org.to_json()

    async def list_incidents(self, call: Call) -> Any:
        who = _actor(call)
        org = self.gw.config.org
        args = call.query
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
        if not 1 <= limit <= 1000:
            raise HttpError(400, "bad_query", f"limit must be 1 to 1000, not {limit}", "limit")
        q = q.limit(limit)
        documents = self.gw.documents

        def run(conn: Any) -> list[dict[str, Any]]:
            return documents.many(conn, list(conn.execute(q).mappings()))

        return 200, {"incidents": await self.gw.db.read(run)}

    async def incident(self, call: Call) -> Any:
        who, number = _actor(call), call.params["number"]
        org, documents = self.gw.config.org, self.gw.documents

        def run(conn: Any) -> dict[str, Any]:
            row = records.load(conn, number)
            if not may_see(who, row["unit"], org):
                raise HttpError(403, "forbidden", f"incident {number} is outside your scope")
            return documents.one(conn, row, detail=True)

        return 200, await self.gw.db.read(run)

    async def action(self, call: Call) -> Any:
        who, number = _actor(call), call.params["number"]
        body = call.json()
        name = body.get("action") if isinstance(body, dict) else None
        off = self.actions_off.get(name) if isinstance(name, str) else None
        if off is not None:
            raise HttpError(
                409,
                "conflict",
                f"{body['action']}: the channel {off.code} ({off.title}) is not enabled "
                f"([channels.{off.code}])",
            )
        try:
            self.validate_action(body)
        except fastjsonschema.JsonSchemaValueException as e:
            raise schema_error(e, "invalid_action") from None
        params = {k: v for k, v in body.items() if k != "action"}
        offered = self.channel_actions.get(body["action"])
        if offered is None:
            return 200, await self.gw.act(number, body["action"], who, params)
        channel, action = offered
        if who.role not in {Role(r) for r in action.roles}:
            raise HttpError(403, "forbidden", f"role {who.role} may not {action.name}")
        for name in action.required:
            if name not in params:
                raise HttpError(422, "invalid_action", f"{action.name} needs {name}", name)
        await self.in_scope(who, number)
        out = resolve(action.handler)(self.gw.services[channel.code], who, number, params)
        return action.status, await out if inspect.isawaitable(out) else out

    async def in_scope(self, who: Actor, number: str) -> None:
        org = self.gw.config.org

        def scope(conn: Any) -> None:
            row = records.load(conn, number)
            if not may_see(who, row["unit"], org):
                raise HttpError(403, "forbidden", f"incident {number} is outside your scope")

        await self.gw.db.read(scope)

    # -- operations --------------------------------------------------------------------------

    def openapi(self, call: Call) -> Any:
        return 200, self._openapi

    async def healthz(self, call: Call) -> Any:
        def ping(conn: Any) -> int:
            return int(conn.execute(select(func.count()).select_from(incidents)).scalar() or 0)

        n = await self.gw.db.read(ping)
        return 200, {"status": "ok", "database": "reachable", "incidents": n}

    async def metrics(self, call: Call) -> Any:
        def counts(conn: Any) -> dict[str, int]:
            rows = conn.execute(
                select(incidents.c.state, func.count()).group_by(incidents.c.state)
            ).all()
            return {state: n for state, n in rows}

        self.gw.metrics.set_states(await self.gw.db.read(counts))
        return 200, self.gw.metrics.render(), b"text/plain; version=0.0.4; charset=utf-8"


def _not_a_receipt(e: records.NotAReceipt) -> str:
    if e.char is None:
        return "a receipt needs at least one letter or digit"
    if e.char.upper() == "U":
        return "U is not in a receipt (Crockford base32 leaves it out)"
    return f"{e.char!r} is not in a receipt (Crockford base32: digits and A to Z but U)"


def _actor(call: Call) -> Actor:
    assert call.actor is not None  # the route requires a token
    return call.actor
