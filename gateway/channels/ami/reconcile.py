"""After every (re)connect of the AMI link, what Asterisk has now is the truth: a call that
arrived while the link was down is filed, milestones missed meanwhile are caught up, and a
call the store still has as in progress that Asterisk no longer has is closed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from twisted.logger import Logger

from gateway.channels.ami import store
from gateway.channels.ami.calls import Call, calltaker_id, clean_name, clean_number, duration, end
from gateway.channels.ami.client import AmiError, AmiUnavailable, as_list
from gateway.store.transaction import WriteContext

if TYPE_CHECKING:
    from gateway.channels.ami.service import AmiChannel

log = Logger()


class Reconciler:
    def __init__(self, channel: AmiChannel) -> None:
        self.channel = channel

    async def run(self) -> None:
        ch = self.channel
        assert ch.link is not None
        now = ch.now()
        try:
            listed = await ch.link.action("CoreShowChannels", timeout=30)
            entries = [m for m in as_list(listed) if m.get("Event") == "CoreShowChannel"]
            queued = await ch.link.action("QueueStatus", timeout=30)
        except (AmiUnavailable, AmiError) as e:
            log.warn("AMI: reconcile failed ({e}); the link will be re-established", e=e)
            ch.link.drop()
            return
        in_queue = {
            m.get("Uniqueid", ""): m.get("Queue", "")
            for m in as_list(queued)
            if m.get("Event") == "QueueEntry" and m.get("Queue") in ch.settings.queues
        }
        live = {m.get("Linkedid", "") for m in entries}
        adopted = 0
        for m in entries:
            linkedid = m.get("Linkedid", "")
            if m.get("Uniqueid") != linkedid:
                continue
            known = ch.tracker.calls.get(linkedid)
            if known is not None:
                self._catch_up(known, m, entries, in_queue, now)
                continue
            call = await self._call_from_channel(m, entries, in_queue, now)
            if call is not None:
                for change in ch.tracker.adopt(call, now):
                    ch.apply(change)
                adopted += 1
        for change in ch.tracker.lost(live, now):
            ch.apply(change)
        # Calls the store has as open that neither Asterisk nor we follow any more (the
        # gateway was down when they ended).
        stale = await ch.wait(ch.ctx.read(store.open_linkedids))
        for linkedid in stale:
            if linkedid not in live and linkedid not in ch.tracker.calls:
                await ch.store("stale call", close_stale, linkedid, now)
        log.info(
            "AMI: reconciled: {n} channels live, {adopted} calls picked up",
            n=len(entries),
            adopted=adopted,
        )

    async def _call_from_channel(
        self,
        m: Mapping[str, str],
        entries: list[Mapping[str, str]],
        in_queue: Mapping[str, str],
        now: datetime,
    ) -> Call | None:
        link = self.channel.link
        assert link is not None
        values: dict[str, str] = {}
        for var in ("ALARMGW_TRUNK", "ALARMGW_DRILL", "ALARMGW_RECORDING"):
            try:
                resp = await link.action("Getvar", Channel=m.get("Channel", ""), Variable=var)
            except AmiError:
                return None  # the channel is gone
            values[var] = (resp.get("Value") or "").strip()
        if not values["ALARMGW_TRUNK"]:
            return None  # not a 110 call (a callback or notification leg, a softphone, …)
        number = clean_number(m.get("CallerIDNum"))
        call = Call(
            linkedid=m.get("Linkedid", ""),
            uniqueid=m.get("Uniqueid", ""),
            channel=m.get("Channel", ""),
            caller=number,
            caller_name=clean_name(m.get("CallerIDName"), number),
            trunk=values["ALARMGW_TRUNK"],
            drill=values["ALARMGW_DRILL"] == "1" or values["ALARMGW_TRUNK"] == "drill",
            arrived_at=now - duration(m.get("Duration", "")),
            recording=values["ALARMGW_RECORDING"] or None,
        )
        self._catch_up(call, m, entries, in_queue, now, record=False)
        return call

    def _catch_up(
        self,
        call: Call,
        m: Mapping[str, str],
        entries: list[Mapping[str, str]],
        in_queue: Mapping[str, str],
        now: datetime,
        record: bool = True,
    ) -> None:
        """Bring a call's state up to what Asterisk shows (milestones missed while away)."""
        ch = self.channel
        if m.get("BridgeId") and call.state != "answered":
            agent = next(
                (
                    e.get("Channel", "")
                    for e in entries
                    if e.get("Linkedid") == call.linkedid
                    and e.get("Uniqueid") != call.uniqueid
                    and e.get("BridgeId") == m.get("BridgeId")
                ),
                "",
            )
            who = calltaker_id(agent.rsplit("-", 1)[0]) if agent else ""
            ev = {"Event": "AgentConnect", "Linkedid": call.linkedid, "Interface": who}
            changes = ch.tracker.feed(ev, now) if record else []
            if not record:
                call.state, call.calltaker, call.answered_at = "answered", who or None, now
                call.hold_s = round((now - call.arrived_at).total_seconds(), 3)
            for change in changes:
                ch.apply(change)
        elif call.uniqueid in in_queue and call.state == "arrived":
            call.state, call.queue = "queued", in_queue[call.uniqueid]


def close_stale(ctx: WriteContext, linkedid: str, now: datetime) -> str | None:
    """End a call the store still has as in progress (the link was lost meanwhile)."""
    row = store.load_call(ctx.conn, linkedid)
    if row is None or row["state"] in ("ended", "abandoned"):
        return None
    call = Call(
        linkedid=linkedid,
        uniqueid="",
        channel=row["asterisk_channel"] or "",
        caller=row["caller"] if row["caller"] != "anonymous" else "",
        caller_name=row["caller_name"],
        trunk=row["trunk"],
        drill=row["drill"],
        arrived_at=row["arrived_at"],
        recording=row["recording"],
        state=row["state"],
        queue=row["queue"],
        calltaker=row["calltaker"],
        answered_at=row["answered_at"],
        hold_s=row["hold_s"],
        timeouts=list(row["timeouts"] or ()),
    )
    change = end(call, now, "unknown", reason="link_lost")
    return store.save(ctx, call.row(), change.event, change.data, now)
