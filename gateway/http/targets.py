"""The admin API of the registry of targets (`gateway.targets`): premises with alarm panels
and vehicles with JT/T 808 terminals, listed, shown, upserted and deleted.

Reading takes an `admin`, `supervisor` or `dispatcher` token, writing an `admin` one; either
way within the token's scope (its unit's subtree; a vehicle without a unit is the root's).
A PUT is checked as a CSV import's row is (`gateway.targets.fields`), then against its
JSON Schema (`gateway.http.targets_openapi`, as the OpenAPI document publishes it). A
premises' AES key is write-only: documents say `has_key`, never the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import fastjsonschema

from gateway.errors import DomainError, NotFound
from gateway.http.resource import Call, HttpError, Route, compile_schema, route, schema_error
from gateway.http.targets_openapi import MAX_ID, premises_input, vehicle_input
from gateway.store.transaction import WriteContext
from gateway.targets import fields, records
from gateway.targets.fields import Problem
from gateway.workflow.machine import Actor
from gateway.workflow.service import may_see

if TYPE_CHECKING:
    from gateway.app import Gateway

READERS = frozenset({"admin", "supervisor", "dispatcher"})
WRITERS = frozenset({"admin"})
PREMISES = r"^/api/v1/targets/premises"
VEHICLES = r"^/api/v1/targets/vehicles"


class OutOfScope(DomainError):
    kind = "forbidden"


class TargetRoutes:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.org = gw.config.org
        units = sorted(u.code for u in self.org.units())
        self.check_premises = compile_schema(premises_input(units))
        self.check_vehicle = compile_schema(vehicle_input(units))

    def routes(self) -> list[Route]:
        return [
            route("GET", PREMISES + "$", self.list_premises, roles=READERS),
            route("PUT", PREMISES + "$", self.put_premises, roles=WRITERS),
            route("GET", PREMISES + r"/(?P<id>[0-9]{1,19})$", self.get_premises, roles=READERS),
            route(
                "DELETE", PREMISES + r"/(?P<id>[0-9]{1,19})$", self.delete_premises, roles=WRITERS
            ),
            route("GET", VEHICLES + "$", self.list_vehicles, roles=READERS),
            route("PUT", VEHICLES + "$", self.put_vehicle, roles=WRITERS),
            route(
                "GET", VEHICLES + r"/(?P<terminal>[0-9]{1,20})$", self.get_vehicle, roles=READERS
            ),
            route(
                "DELETE",
                VEHICLES + r"/(?P<terminal>[0-9]{1,20})$",
                self.delete_vehicle,
                roles=WRITERS,
            ),
        ]

    # -- premises ----------------------------------------------------------------------------

    async def list_premises(self, call: Call) -> Any:
        who = _actor(call)
        args = _query(call, {"account", "unit", "limit", "after"})
        account = None
        if "account" in args:
            account = args["account"].upper()
            if fields.premises_key_of({"account": account}) is None:
                raise HttpError(400, "bad_query", "account is 3 to 16 hex digits", "account")
        units = self._scope(who, args.get("unit"))
        limit, after = _limit(args), _after(args)

        def run(conn: Any) -> list[dict[str, Any]]:
            rows = records.list_premises(
                conn, account=account, units=units, after=after, limit=limit
            )
            return [records.premises_document(r) for r in rows]

        return 200, {"premises": await self.gw.db.read(run)}

    async def get_premises(self, call: Call) -> Any:
        who, premises_id = _actor(call), _id(call)
        row = await self.gw.db.read(records.premises_by_id, premises_id)
        if row is None:
            raise HttpError(404, "not_found", f"no premises {premises_id}")
        if not may_see(who, row["unit"], self.org):
            raise HttpError(403, "forbidden", f"premises {premises_id} is outside your scope")
        return 200, records.premises_document(row)

    async def put_premises(self, call: Call) -> Any:
        who, body = _actor(call), call.json()
        if not isinstance(body, dict):
            raise HttpError(422, "invalid", "the body must be a JSON object")
        # The import's checks first, for their messages; then the schema, which refuses
        # what they let pass in a CSV cell (a phone list as text, a zone as 01).
        item, problems = fields.check_premises(body, self.org)
        if item is None:
            raise _refused(problems)
        try:
            self.check_premises(body)
        except fastjsonschema.JsonSchemaValueException as e:
            raise schema_error(e, "invalid") from None
        org, now = self.org, call.now

        def run(ctx: WriteContext) -> tuple[str, dict[str, Any]]:
            before = records.premises_by_key(ctx.conn, item.key)
            for unit in (item.unit, before["unit"] if before else item.unit):
                if not may_see(who, unit, org):
                    raise OutOfScope(f"unit {unit} is outside your scope", "unit")
            (outcome,) = records.upsert_premises(ctx.conn, [item], now)
            row = records.premises_by_key(ctx.conn, item.key)
            assert row is not None
            return outcome, records.premises_document(row)

        outcome, doc = await self.gw.db.write(run)
        return (201 if outcome == "new" else 200), doc

    async def delete_premises(self, call: Call) -> Any:
        who, premises_id, org = _actor(call), _id(call), self.org

        def run(ctx: WriteContext) -> dict[str, Any]:
            row = records.premises_by_id(ctx.conn, premises_id)
            if row is None:
                raise NotFound(f"no premises {premises_id}")
            if not may_see(who, row["unit"], org):
                raise OutOfScope(f"premises {premises_id} is outside your scope")
            records.delete_premises(ctx.conn, premises_id)
            return records.premises_document(row)

        return 200, await self.gw.db.write(run)

    # -- vehicles ------------------------------------------------------------------------------

    async def list_vehicles(self, call: Call) -> Any:
        who = _actor(call)
        args = _query(call, {"kind", "plate", "unit", "limit", "after"})
        kind = args.get("kind")
        if kind is not None and kind not in fields.KIND_NAMES_ZH:
            kinds = ", ".join(fields.KIND_NAMES_ZH)
            raise HttpError(400, "bad_query", f"kind is one of {kinds}", "kind")
        plate = args.get("plate")
        if plate is not None:
            plate = fields.ascii_upper(plate.strip())
            if not 1 <= len(plate) <= 16:
                raise HttpError(400, "bad_query", "plate is 1 to 16 characters", "plate")
        # A vehicle of no unit is the root's: in the root's list only (as `may_see` has it).
        units = self._scope(who, args.get("unit"))
        limit, after = _limit(args), _after(args)

        def run(conn: Any) -> list[dict[str, Any]]:
            rows = records.list_vehicles(
                conn, kind=kind, plate=plate, units=units, after=after, limit=limit
            )
            return [records.vehicle_document(r) for r in rows]

        return 200, {"vehicles": await self.gw.db.read(run)}

    async def get_vehicle(self, call: Call) -> Any:
        who, terminal = _actor(call), _terminal(call)
        row = await self.gw.db.read(records.vehicle_by_terminal, terminal)
        if row is None:
            raise HttpError(404, "not_found", f"no vehicle with terminal {terminal}")
        if not may_see(who, row["unit"], self.org):
            raise HttpError(403, "forbidden", f"vehicle {terminal} is outside your scope")
        return 200, records.vehicle_document(row)

    async def put_vehicle(self, call: Call) -> Any:
        who, body = _actor(call), call.json()
        if not isinstance(body, dict):
            raise HttpError(422, "invalid", "the body must be a JSON object")
        # The import's checks first, for their messages; then the schema, which refuses
        # what they let pass in a CSV cell (a phone list as text, a zone as 01).
        item, problems = fields.check_vehicle(body, self.org)
        if item is None:
            raise _refused(problems)
        try:
            self.check_vehicle(body)
        except fastjsonschema.JsonSchemaValueException as e:
            raise schema_error(e, "invalid") from None
        org, now = self.org, call.now

        def run(ctx: WriteContext) -> tuple[str, dict[str, Any]]:
            before = records.vehicle_by_terminal(ctx.conn, item.terminal)
            for unit in (item.unit, before["unit"] if before else item.unit):
                if not may_see(who, unit, org):
                    raise OutOfScope(f"unit {unit or '(none)'} is outside your scope", "unit")
            (outcome,) = records.upsert_vehicles(ctx.conn, [item], now)
            row = records.vehicle_by_terminal(ctx.conn, item.terminal)
            assert row is not None
            return outcome, records.vehicle_document(row)

        outcome, doc = await self.gw.db.write(run)
        return (201 if outcome == "new" else 200), doc

    async def delete_vehicle(self, call: Call) -> Any:
        who, terminal, org = _actor(call), _terminal(call), self.org

        def run(ctx: WriteContext) -> dict[str, Any]:
            row = records.vehicle_by_terminal(ctx.conn, terminal)
            if row is None:
                raise NotFound(f"no vehicle with terminal {terminal}")
            if not may_see(who, row["unit"], org):
                raise OutOfScope(f"vehicle {terminal} is outside your scope")
            records.delete_vehicle(ctx.conn, terminal)
            return records.vehicle_document(row)

        return 200, await self.gw.db.write(run)

    # -- helpers -------------------------------------------------------------------------------

    def _scope(self, who: Actor, unit: str | None) -> frozenset[str] | None:
        """The units a list may show (None: all), as the incident list scopes its queue."""
        org = self.org
        scope = who.unit or org.root.code
        if unit is not None:
            if unit not in org:
                raise HttpError(400, "bad_query", f"unknown unit {unit!r}", "unit")
            if not org.covers(scope, unit):
                raise HttpError(403, "forbidden", f"unit {unit} is outside your scope", "unit")
            scope = unit
        return None if scope == org.root.code else frozenset(org.subtree(scope))


def _actor(call: Call) -> Actor:
    assert call.actor is not None  # the routes require a token
    return call.actor


def _query(call: Call, allowed: set[str]) -> dict[str, str]:
    args = call.query
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise HttpError(400, "bad_query", f"unknown parameter {unknown[0]}", unknown[0])
    return args


def _whole(args: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = args.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit():
        raise HttpError(400, "bad_query", f"{name} must be a whole number", name)
    value = int(text)
    if not low <= value <= high:
        raise HttpError(400, "bad_query", f"{name} must be {low} to {high}, not {value}", name)
    return value


def _limit(args: dict[str, str]) -> int:
    return _whole(args, "limit", 100, 1, records.MAX_LIST)


def _after(args: dict[str, str]) -> int:
    return _whole(args, "after", 0, 0, MAX_ID)


def _id(call: Call) -> int:
    value = int(call.params["id"])
    if not 1 <= value <= MAX_ID:
        raise HttpError(404, "not_found", f"no premises {value}")
    return value


def _terminal(call: Call) -> str:
    terminal = fields.normalise_terminal(call.params["terminal"])
    if not terminal:
        raise HttpError(404, "not_found", "no vehicle with terminal 0")
    return terminal


def _refused(problems: Sequence[Problem]) -> HttpError:
    """422 naming the first field at fault; the message lists every problem."""
    return HttpError(422, "invalid", "; ".join(map(str, problems)), problems[0].column)
