"""Plays a drill scenario's web inject (`gateway.drills.inject`): the citizen's report as
``POST /api/v1/reports`` takes it, checked by the same code (`WebChannel.report`) as a drill
coordinator's submission with the drill flag, under an Idempotency-Key of the run and
inject. It does not cross the HTTP socket (the gateway holds no token of its own to send);
`via` says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.channels.web.service import WebChannel
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import WebReport
from gateway.http.resource import HttpError
from gateway.report import InvalidReport
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role

VIA = "网页上报接口（网关内演练注入）"


@dataclass
class _DrillCall:
    """What `WebChannel.report` reads of a request (`gateway.channel.RouteCall`)."""

    actor: Actor
    now: datetime
    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


async def inject(web: WebChannel, drill: DrillInject) -> Sent:
    content = drill.inject.content
    assert isinstance(content, WebReport)
    doc: dict[str, Any] = {"text": content.text.strip(), "drill": True}
    if content.sender:
        doc["sender"] = {"kind": "phone", "id": content.sender}
        if content.name:
            doc["sender"]["name"] = content.name
    else:
        doc["sender"] = {"kind": "web", "id": "anonymous"}
    loc = drill.inject.location
    if loc is not None:
        place = {
            "lat": loc.lat,
            "lon": loc.lon,
            "accuracy_m": loc.accuracy_m,
            "address": loc.address,
        }
        doc["location"] = {k: v for k, v in place.items() if v is not None}
    key = f"drill-{drill.run}-{drill.inject.id}"
    who = Actor(f"drill-run-{drill.run}", Role.DRILL_COORDINATOR, None)
    now = datetime.fromtimestamp(web.ctx.clock.seconds(), UTC)
    try:
        report = web.report(_DrillCall(who, now, {"idempotency-key": key}), doc)  # type: ignore[arg-type]
    except (HttpError, InvalidReport) as e:
        raise InjectError(f"the web channel refused the report: {e}") from None
    await web.ctx.submit(report)
    return Sent("web", external_id=key, via=VIA)
