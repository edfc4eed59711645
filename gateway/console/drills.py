"""The console's drill pages (演练): the runs, a new run from a scenario file, and one run's
live view — each inject sent, answered (accepted), pending or late, with pause, resume and
abort for the coordinator, and the scorecard once it ends. The page follows the run through
the drill API (`gateway.drills.http`) on the session's authority."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.console.render import CHANNEL_NAMES_ZH
from gateway.drills import runs
from gateway.drills.inject import KIND_CHANNEL
from gateway.http.resource import Call, HttpError, Route, route
from gateway.workflow.table import STATE_NAMES_ZH

if TYPE_CHECKING:
    from gateway.console.routes import ConsoleRoutes

VIEWERS = frozenset({"drill_coordinator", "supervisor", "admin"})
COORDINATORS = frozenset({"drill_coordinator", "admin"})


class DrillPages:
    def __init__(self, console: ConsoleRoutes) -> None:
        self.console = console
        self.gw = console.gw

    def routes(self) -> list[Route]:
        return [
            route("GET", r"^/console/drills$", self.list_page, "page", VIEWERS),
            route("GET", r"^/console/drills/(?P<run>[0-9]{1,12})$", self.run_page, "page", VIEWERS),
        ]

    async def list_page(self, call: Call) -> Any:
        listed = await self.gw.db.read(runs.runs)
        enabled = {c.code for c in self.gw.config.enabled_channels if c.drill}
        playable = [CHANNEL_NAMES_ZH[k] for k, code in KIND_CHANNEL.items() if code in enabled]
        return self.console.page(
            call,
            "drills.html",
            nav="drills",
            runs=listed,
            states=runs.STATES_ZH,
            playable=playable,
            may_start=str(call.actor.role) in COORDINATORS if call.actor else False,
        )

    async def run_page(self, call: Call) -> Any:
        run = int(call.params["run"])
        try:
            doc = await self.gw.db.read(runs.progress, run)
        except runs.NoSuchRun:
            raise HttpError(404, "not_found", f"没有编号为 {run} 的演练") from None
        runs.mark_late(doc, self.gw.config.sla, call.now)
        return self.console.page(
            call,
            "drill.html",
            nav="drills",
            run=doc,
            kinds=CHANNEL_NAMES_ZH,  # a scenario's channel kinds are channel names
            sends=runs.SEND_STATES_ZH,
            states=runs.STATES_ZH,
            states_zh={str(k): v for k, v in STATE_NAMES_ZH.items()},
            may_control=str(call.actor.role) in COORDINATORS if call.actor else False,
        )
