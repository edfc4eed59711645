"""The console's pages: the queue and its live rows, the incident page, the officers'
inbox, the map, statistics and the event stream (logins and tokens: `people`).

Pages read through the store's readers; every action a person takes goes through the
same workflow API as everything else (``POST /api/v1/incidents/{n}/actions``, which
takes the session cookie with its CSRF token)."""

from __future__ import annotations

import mimetypes
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from twisted.internet import threads
from twisted.web import server

from gateway import auth
from gateway.console import queue
from gateway.console.drills import DrillPages
from gateway.console.people import PeopleRoutes
from gateway.console.render import (
    ACTION_NAMES_ZH,
    CHANNEL_BADGES_ZH,
    PARAM_NAMES_ZH,
    ROUTE_REASONS_ZH,
    render,
)
from gateway.console.sessions import Sessions
from gateway.console.stream import EventHub, EventStream, head
from gateway.errors import NotFound
from gateway.http import contract
from gateway.http.resource import HTML, Call, HttpError, Route, route
from gateway.workflow.routing import route as route_incident
from gateway.workflow.service import may_see
from gateway.workflow.table import OPEN_STATES, TRANSITIONS, Role, State, allowed_actions

if TYPE_CHECKING:
    from gateway.app import Gateway

STATIC = Path(__file__).with_name("static")
NUMBER = r"(?P<number>\d{6}-\d{8}-\d{6})"
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})


class ConsoleRoutes:
    def __init__(self, gw: Gateway, hub: EventHub) -> None:
        self.gw = gw
        self.hub = hub
        self.org = gw.config.org
        self.tz_name = gw.config.city.timezone
        self.tz = ZoneInfo(self.tz_name)
        self.sessions = Sessions(gw.db, gw.clock, gw.config.console)
        self.api_tokens: auth.TokenCache | None = None  # the site's, cleared on a revocation
        self._stats_cache: tuple[Any, Any] | None = None  # ((query, log head), (stats, svgs))
        self.categories = {code: c.name for code, c in gw.config.categories.items()}
        self.channel_actions = contract.channel_actions(gw.config.enabled_channels)
        self.channels = {
            code: CHANNEL_BADGES_ZH.get(code, code)
            for c in gw.config.enabled_channels
            for code in (c.report_channel, *c.also_files_under)
        }

    def routes(self) -> list[Route]:
        sup = frozenset(str(r) for r in SUPERVISORS)
        return (
            PeopleRoutes(self).routes()
            + DrillPages(self).routes()
            + [
                route("GET", r"^/console/static/(?P<path>[A-Za-z0-9_./-]+)$", self.static, "none"),
                route("GET", r"^/console/?$", self.queue_page, "page"),
                route("GET", rf"^/console/rows/{NUMBER}$", self.queue_row, "page"),
                route("GET", rf"^/console/incidents/{NUMBER}$", self.incident_page, "page"),
                route("GET", r"^/console/inbox$", self.inbox_page, "page"),
                route("GET", r"^/console/map$", self.map_page, "page"),
                route("GET", r"^/console/map\.json$", self.map_data, "page"),
                route("GET", r"^/console/events$", self.events, "required"),
                route("GET", r"^/console/stats$", self.stats_page, "page", sup),
                route("GET", r"^/console/stats\.csv$", self.stats_csv, "page", sup),
            ]
        )

    # -- helpers ------------------------------------------------------------------------------

    def page(self, call: Call, template: str, status: int = 200, /, **context: Any) -> Any:
        live = call.session
        user = None
        if live is not None:
            u = live.user
            unit = self.org.get(u.unit) if u.unit in self.org else None
            user = {
                "name": u.name,
                "role": str(u.role),
                "unit": u.unit,
                "unit_name": unit.name if unit else u.unit,
                "extension": u.extension,
                "scope": queue.scope_units(self.org, u.unit),
            }
        context.setdefault("nav", "")
        body = render(
            self.tz_name,
            template,
            user=user,
            csrf=live.csrf if live is not None else "",
            city=self.gw.config.city,
            unit_name=self.unit_name,
            channel_name=lambda c: self.channels.get(c, CHANNEL_BADGES_ZH.get(c, c)),
            category_name=lambda c: self.categories.get(c, c or "未分类"),
            action_name=lambda a: ACTION_NAMES_ZH.get(a, a),
            **context,
        )
        return status, body, HTML

    def unit_name(self, code: str | None) -> str:
        if code is None:
            return "（未指定）"
        return self.org.get(code).name if code in self.org else code

    def error_page(self, request: server.Request, e: HttpError) -> bytes:
        titles = {
            401: "请先登录",
            403: "无权访问",
            404: "未找到",
            409: "操作冲突",
            422: "输入有误",
            429: "请求过于频繁",
            503: "暂时不可用",
        }
        return render(
            self.tz_name,
            "error.html",
            user=None,
            csrf="",
            nav="",
            status=e.status,
            title=titles.get(e.status, "出错了"),
            message=e.message,
        )

    # -- static files -------------------------------------------------------------------------

    def static(self, call: Call) -> Any:
        rel = call.params["path"]
        path = (STATIC / rel).resolve()
        if ".." in rel.split("/") or not path.is_relative_to(STATIC) or not path.is_file():
            raise HttpError(404, "not_found", f"no such file: {rel}")
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript",):
            ctype += "; charset=utf-8"
        return 200, path.read_bytes(), ctype.encode(), {"Cache-Control": "public, max-age=3600"}

    # -- login --------------------------------------------------------------------------------

    # -- the queue ----------------------------------------------------------------------------

    async def queue_page(self, call: Call) -> Any:
        f = queue.Filters.from_query(call.query)
        actor = call.actor
        assert actor is not None
        if f.unit is not None and (f.unit not in self.org or not may_see(actor, f.unit, self.org)):
            raise HttpError(403, "forbidden", f"单位 {f.unit} 不在您的管辖范围内")

        def read(conn: Any) -> Any:
            rows, count = queue.queue(conn, self.org, actor, f)
            return rows, count, head(conn)

        rows, count, seq = await self.gw.db.read(read)
        scope = actor.unit or self.org.root.code
        return self.page(
            call,
            "queue.html",
            nav="queue",
            rows=rows,
            count=count,
            limit=queue.QUEUE_LIMIT,
            seq=seq,
            filters=f,
            states=[(str(s), s) for s in State if s in OPEN_STATES],
            units=[(u.code, u.name) for u in self.org.units() if self.org.covers(scope, u.code)],
            categories=self.categories,
            channels=self.channels,
            now=call.now,
        )

    async def queue_row(self, call: Call) -> Any:
        """One row of the queue, for the live update; 204 when it is no longer in it."""
        f = queue.Filters.from_query(call.query)
        actor = call.actor
        assert actor is not None
        found = await self.gw.db.read(queue.row, call.params["number"])
        if (
            found is None
            or found.state not in OPEN_STATES
            or not may_see(actor, found.unit, self.org)
            or not _matches(found, f)
        ):
            return 204, b"", HTML
        return self.page(call, "_row.html", row=found, now=call.now)

    # -- the incident page ---------------------------------------------------------------------

    async def incident_page(self, call: Call) -> Any:
        number = call.params["number"]
        actor = call.actor
        assert actor is not None

        def read(conn: Any) -> Any:
            try:
                doc = self.gw.documents.of(conn, number, detail=True)
            except NotFound:
                return None
            if not may_see(actor, doc["unit"], self.org):
                return False
            merge = queue.merge_candidates(conn, number, self.org, actor)
            history = queue.caller_history(conn, number)
            return doc, merge, history, head(conn)

        found = await self.gw.db.read(read)
        if found is None:
            raise HttpError(404, "not_found", f"没有警情 {number}")
        if found is False:
            raise HttpError(403, "forbidden", f"警情 {number} 不在您的管辖范围内")
        doc, merge, history, seq = found
        state = State(doc["state"])
        role = actor.role
        actions = [
            str(a)
            for a in allowed_actions(state)
            if role in TRANSITIONS[a].roles or (doc["drill"] and role is Role.DRILL_COORDINATOR)
        ]
        came_by = {r.get("channel") for r in doc.get("reports", ())}
        offered = [
            (name, action)
            for name, (_channel, action) in self.channel_actions.items()
            if str(role) in action.roles
            and state not in (State.MERGED,)
            and (not action.answers or came_by.intersection(action.answers))
        ]
        loc = doc.get("location") or {}
        suggestion = None
        if doc.get("category") or loc:
            r = route_incident(
                self.org,
                self.gw.config.categories,
                lat=loc.get("lat"),
                lon=loc.get("lon"),
                address=loc.get("address"),
                category=doc.get("category"),
                priority=doc.get("priority"),
            )
            suggestion = (r.unit, ROUTE_REASONS_ZH.get(r.reason, r.reason))
        scope = actor.unit or self.org.root.code
        dispatchable = [
            (u.code, u.name, u.tier)
            for u in self.org.units()
            if self.org.covers(scope, u.code) or self.org.covers(u.code, scope)
        ]
        if suggestion is not None:
            dispatchable.sort(key=lambda u: u[0] != suggestion[0])
        return self.page(
            call,
            "incident.html",
            nav="queue",
            doc=doc,
            actions=actions,
            offered=offered,
            param_names=PARAM_NAMES_ZH,
            suggestion=suggestion,
            units=dispatchable,
            all_units=[(u.code, u.name) for u in self.org.units()],
            categories=self.categories,
            merge=merge,
            history=history,
            seq=seq,
            calltaker=call.session.user.extension if call.session else None,
            tile_url=self.gw.config.console.tile_url,
            tile_attribution=self.gw.config.console.tile_attribution,
            pop=call.query.get("pop") == "1",
        )

    # -- the officers' inbox --------------------------------------------------------------------

    async def inbox_page(self, call: Call) -> Any:
        actor = call.actor
        assert actor is not None
        drill = call.query.get("drill") == "1"

        def read(conn: Any) -> Any:
            return queue.inbox(conn, self.org, actor, drill), head(conn)

        rows, seq = await self.gw.db.read(read)
        return self.page(
            call, "inbox.html", nav="inbox", rows=rows, seq=seq, drill=drill, now=call.now
        )

    # -- the map ------------------------------------------------------------------------------

    async def map_page(self, call: Call) -> Any:
        actor = call.actor
        assert actor is not None
        seq = await self.gw.db.read(head)
        return self.page(
            call,
            "map.html",
            nav="map",
            seq=seq,
            tile_url=self.gw.config.console.tile_url,
            tile_attribution=self.gw.config.console.tile_attribution,
            drill=call.query.get("drill") == "1",
        )

    async def map_data(self, call: Call) -> Any:
        """The jurisdictions in the user's scope (`OrgTree.to_geojson`, stations above their
        districts) and the open incidents with a point, as GeoJSON (WGS84)."""
        actor = call.actor
        assert actor is not None
        f = queue.Filters.from_query({"drill": call.query.get("drill", "0")})
        rows, _count = await self.gw.db.read(queue.queue, self.org, actor, f, 2000)
        scope = actor.unit or self.org.root.code
        features: list[dict[str, Any]] = [
            dict(unit, properties=dict(unit["properties"], kind="unit"))
            for unit in self.org.to_geojson()["features"]
            if unit["geometry"] is not None and self.org.covers(scope, unit["id"])
        ]
        for r in rows:
            if r.lat is None or r.lon is None:
                continue
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                    "properties": {
                        "kind": "incident",
                        "number": r.number,
                        "state": r.state,
                        "priority": r.priority,
                        "category": self.categories.get(r.category or "", "未分类"),
                        "summary": r.summary,
                        "drill": r.drill,
                        "missed": r.missed,
                    },
                }
            )
        return 200, {"type": "FeatureCollection", "features": features}

    # -- live updates -------------------------------------------------------------------------

    def events(self, call: Call) -> Any:
        actor = call.actor
        assert actor is not None
        last = call.header("Last-Event-ID") or call.query.get("since")
        after: int | None = None
        if last is not None:
            try:
                after = max(0, int(last))
            except ValueError:
                raise HttpError(400, "bad_query", "Last-Event-ID must be a number") from None
        extension = call.session.user.extension if call.session is not None else None
        return EventStream(self.hub, actor, extension, after)

    # -- statistics ---------------------------------------------------------------------------

    def _stats_query(self, call: Call) -> Any:
        from gateway.console import stats

        q = call.query
        today = call.now.astimezone(self.tz).date()
        try:
            end = date.fromisoformat(q["end"]) if q.get("end") else today
            start = date.fromisoformat(q["start"]) if q.get("start") else end - timedelta(days=6)
        except ValueError:
            raise HttpError(422, "bad_query", "日期格式应为 YYYY-MM-DD") from None
        if start > end:
            raise HttpError(422, "bad_query", "开始日期不能晚于结束日期")
        if (end - start).days > 366:
            raise HttpError(422, "bad_query", "统计区间最长一年")
        actor = call.actor
        assert actor is not None
        unit = q.get("unit") or actor.unit
        if unit is not None and (unit not in self.org or not may_see(actor, unit, self.org)):
            raise HttpError(403, "forbidden", f"单位 {unit} 不在您的管辖范围内")
        return stats.Query(start=start, end=end, drill=q.get("drill") == "1", unit=unit)

    async def stats_page(self, call: Call) -> Any:
        from gateway.console import plots, stats

        query = self._stats_query(call)
        # The figures are drawn again only when the log has moved on (seconds of CPU for a
        # page of charts), and off the reactor's thread.
        seq = await self.gw.db.read(head)
        key = (query, seq)
        if self._stats_cache is not None and self._stats_cache[0] == key:
            result, svgs = self._stats_cache[1]
        else:
            result = await self.gw.db.read(stats.compute, self.gw.config, query)
            svgs = await threads.deferToThread(plots.all_svgs, result)
            self._stats_cache = (key, (result, svgs))
        actor = call.actor
        assert actor is not None
        scope = actor.unit or self.org.root.code
        csv_url = "/console/stats.csv?" + urlencode(
            {k: v for k, v in call.query.items() if k in ("start", "end", "unit", "drill")}
        )
        return self.page(
            call,
            "stats.html",
            nav="stats",
            stats=result,
            query=query,
            plots=svgs,
            units=[(u.code, u.name) for u in self.org.units() if self.org.covers(scope, u.code)],
            csv_url=csv_url,
        )

    async def stats_csv(self, call: Call) -> Any:
        from gateway.console import stats, stats_csv

        query = self._stats_query(call)
        result = await self.gw.db.read(stats.compute, self.gw.config, query)
        name = f"alarmgw-stats-{query.start}-{query.end}{'-drill' if query.drill else ''}.csv"
        return (
            200,
            stats_csv.to_csv(result).encode("utf-8"),
            b"text/csv; charset=utf-8",
            {"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _matches(r: queue.Row, f: queue.Filters) -> bool:
    if f.state and r.state != f.state:
        return False
    if f.category and r.category != f.category:
        return False
    if f.channel and f.channel not in r.channels:
        return False
    if f.drill == "0" and r.drill or f.drill == "1" and not r.drill:
        return False
    return True
