"""The drill API (`gateway.drills.http`) in the OpenAPI document (`gateway.http.openapi`
adds it): the start request, the run's progress as `gateway.drills.runs` writes it, and the
operations — pause, resume and abort are one route there, three operations here.

The progress schemas say what `runs.progress` and `runs.mark_late` write, key for key
(tests/drills/test_openapi.py validates a real gateway's answers against them). A scenario's
text is only a string here: whether it can be played is for `gateway.drills.scenario` to
say, with every problem at once (422).
"""

from __future__ import annotations

from typing import Any

from gateway.drills.http import MAX_FILES
from gateway.drills.inject import KIND_CHANNEL
from gateway.drills.runs import SEND_STATES, STATES
from gateway.http.openapi import NO_CONTROL, UNAVAILABLE, error_response, link, ref, response

BASE = "/api/v1/drills"
RUN = BASE + "/{run}"
#: control → (operationId, summary, the states that allow it, its audit event).
CONTROLS = {
    "pause": ("pauseDrillRun", "Pause a running drill (暂停): no inject is sent until it "
              "resumes, and each one still to come moves on by the pause.", "running",
              "drill_paused"),
    "resume": ("resumeDrillRun", "Resume a paused drill (继续).", "paused", "drill_resumed"),
    "abort": ("abortDrillRun", "Abort a running or paused drill (中止): the injects not yet "
              "sent are cancelled.", "running or paused", "drill_aborted"),
}  # fmt: skip

# A start request's file path, as a client should send it: relative, in segments that do not
# start with a dot and fit a file name (63 characters are at most 252 octets of UTF-8; Linux
# allows 255). `gateway.drills.http` refuses absolute paths, ``..`` and what it cannot write.
_SEGMENT = r"[^/.\u0000][^/\u0000]{0,62}"
_RELATIVE = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"
_BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# Something besides white space (Python's str.isspace: the server strips the text).
_NOT_ONLY_SPACE = (
    r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f"
    r"\u205f\u3000]"
)


def _nullable(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "anyOf": [schema, {"type": "null"}]}


def _inject() -> dict[str, Any]:
    date_time = ref("Report", "/$defs/date_time")
    inject: dict[str, Any] = {
        "description": "One inject (模拟警情) of a run and its fate: `pending` until its time, "
        "`sending` while the runner plays it, then `sent` (and, once its report is found, "
        "the report's receipt and the incident it is in), `failed` (`error` says why) or "
        "`cancelled` (the run was aborted first). A surge's alarms are an inject each.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "seq": {
                "description": "Its place in the run, from 0, in the scenario's order.",
                "type": "integer",
                "minimum": 0,
            },
            "inject": {
                "description": "Its id in the scenario (`i3` for inject[3] unless it says "
                "`id`; a surge's alarms `i3.1` …).",
                "type": "string",
                "minLength": 1,
            },
            "channel": {
                "description": "The scenario's channel: phone 电话, sms 短信, web 网页, email "
                "邮件, fax 传真, dc09 报警主机, jt808 车载终端, telegram, cap.",
                "enum": list(KIND_CHANNEL),
            },
            "note": {
                "description": "The scenario's note for the coordinator; never sent.",
                "type": ["string", "null"],
            },
            "expect": {
                "description": "What the center should make of it (预期): its incident's label "
                "in the scenario, category, priority and owning unit.",
                "type": "object",
                "additionalProperties": False,
                "required": ["incident", "category", "priority", "unit"],
                "properties": {
                    "incident": {"type": "string", "minLength": 1},
                    "category": ref("Report", "/$defs/category"),
                    "priority": ref("Report", "/$defs/priority"),
                    "unit": ref("Incident", "/$defs/unit_code"),
                },
            },
            "at": {
                "description": "Seconds from the run's start, as the scenario says.",
                "type": "number",
                "minimum": 0,
            },
            "due_at": {
                "description": "When it is to be sent: the start plus `at`, moved on by each "
                "pause.",
                "allOf": [date_time],
            },
            "status": {
                "description": "pending 待发, sending 发送中, sent 已发, failed 失败, "
                "cancelled 已取消.",
                "enum": list(SEND_STATES),
            },
            "sent_at": _nullable(date_time, "When it was sent; null until then."),
            "via": {
                "description": "How it went out (the channel's own words: a listener, a "
                "number, a chat); null until sent.",
                "type": ["string", "null"],
            },
            "error": {"description": "Why it failed; else null.", "type": ["string", "null"]},
            "report": _nullable(
                ref("Receipt", "/$defs/receipt"),
                "The receipt of the report it became, once found; else null.",
            ),
            "incident": _nullable(
                ref("Incident", "/$defs/number"),
                "The incident its report is in (the master, once merged); else null.",
            ),
            "incident_state": _nullable(
                ref("Incident", "/$defs/state"), "That incident's state; else null."
            ),
            "accepted": {
                "description": "That incident was accepted (受理): it is past `received`.",
                "type": "boolean",
            },
            "late": {
                "description": "Only in `GET /api/v1/drills/{run}`: sent and not accepted "
                "within the accept SLA of its expected priority, or due and not yet sent 30 s "
                "after its time while the run is running (超时).",
                "type": "boolean",
            },
        },
    }
    inject["required"] = [k for k in inject["properties"] if k != "late"]
    return inject


def _run_properties() -> dict[str, Any]:
    date_time = ref("Report", "/$defs/date_time")
    count = {"type": "integer", "minimum": 0}
    counts = {
        "pending": "Not yet sent.",
        "sending": "Being sent.",
        "sent": "Sent.",
        "failed": "Failed.",
        "cancelled": "Cancelled by an abort.",
        "total": "Every inject.",
        "found": "Sent and its report found.",
        "accepted": "Its incident accepted.",
        "late": "Late (only in `GET /api/v1/drills/{run}`).",
    }
    return {
        "id": {"description": "The run's id.", "type": "integer", "minimum": 1},
        "name": {"description": "The scenario's name.", "type": "string"},
        "file": {
            "description": "The scenario's file name, as the request gave it.",
            "type": "string",
        },
        "sha256": {
            "description": "SHA-256 of the scenario's text: which version was played.",
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
        },
        "state": {
            "description": "running 进行中, paused 已暂停, aborted 已中止, done 已结束.",
            "enum": list(STATES),
        },
        "started_by": ref("Event", "/properties/actor")
        | {"description": "Who started it."},  # fmt: skip
        "started_at": date_time,
        "paused_at": _nullable(date_time, "Since when it is paused; null unless paused."),
        "paused_s": {
            "description": "Seconds spent paused, all pauses together.",
            "type": "number",
            "minimum": 0,
        },
        "ended_at": _nullable(date_time, "When it ended or was aborted; else null."),
        "duration_s": {
            "description": "Seconds from the start to its last inject, as planned.",
            "type": "number",
            "minimum": 0,
        },
        "counts": {
            "description": "Its injects by status, and how many were found and accepted.",
            "type": "object",
            "additionalProperties": False,
            "required": [k for k in counts if k != "late"],
            "properties": {k: count | {"description": d} for k, d in counts.items()},
        },
    }


def components() -> dict[str, Any]:
    run_properties = _run_properties()
    return {
        "DrillStart": {
            "description": "A scenario to play (演练脚本), as written, with the files it names "
            "(attachments, CAP alerts …). Checked against this gateway's city and channels "
            "before anything is stored.",
            "type": "object",
            "required": ["scenario"],
            "properties": {
                "file": {
                    "description": "The scenario's file name, for the problems' lines and the "
                    "scorecard (default `<scenario>`).",
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "pattern": NO_CONTROL,
                },
                "scenario": {
                    "description": "The scenario's TOML text (UTF-8).",
                    "type": "string",
                    "pattern": _NOT_ONLY_SPACE,
                },
                "files": {
                    "description": f"The files the scenario names, by their path relative to "
                    f"the scenario's folder (e.g. `files/photo.png`), base64; at most "
                    f"{MAX_FILES}.",
                    "type": "object",
                    "maxProperties": MAX_FILES,
                    "propertyNames": {"maxLength": 300, "pattern": _RELATIVE},
                    "additionalProperties": {"type": "string", "pattern": _BASE64},
                },
            },
        },
        "DrillInject": _inject(),
        "DrillRun": {
            "description": "A drill run (演练) as the coordinator follows it: its state and "
            "clock, and each inject's fate.",
            "type": "object",
            "additionalProperties": False,
            "required": [*run_properties, "injects"],
            "properties": {
                **run_properties,
                "injects": {"type": "array", "items": ref("DrillInject")},
            },
        },
        "DrillRuns": {
            "description": "The latest 50 runs, newest first, each without its injects.",
            "type": "object",
            "additionalProperties": False,
            "required": ["runs"],
            "properties": {
                "runs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": list(run_properties),
                        "properties": run_properties,
                    },
                },
            },
        },
    }


def _late() -> dict[str, Any]:
    """A run as `GET /api/v1/drills/{run}` answers it: with `late`, each inject and in all."""
    return {
        "allOf": [ref("DrillRun")],
        "required": ["counts", "injects"],
        "properties": {
            "counts": {"required": ["late"]},
            "injects": {"items": {"required": ["late"]}},
        },
    }


def operations() -> dict[str, Any]:
    unauthorized = error_response("No, or an unknown or revoked, bearer token (`unauthorized`).")
    may_not_read = error_response(
        "Not a drill_coordinator, admin or supervisor token (`forbidden`)."
    )
    may_not_run = error_response("Not a drill_coordinator or admin token (`forbidden`).")
    not_found = error_response("No such drill run (`not_found`).")
    run = {
        "name": "run",
        "in": "path",
        "required": True,
        "description": "The run's id.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
    }

    def follow() -> dict[str, Any]:
        """The links of an answer that is a run: what a coordinator does next."""
        by_id = {"run": "$response.body#/id"}
        return {
            "GetDrillRun": link("getDrillRun", "The run as it goes on.", **by_id),
            "PauseDrillRun": link("pauseDrillRun", "Pause it.", **by_id),
            "ResumeDrillRun": link("resumeDrillRun", "Resume it.", **by_id),
            "AbortDrillRun": link("abortDrillRun", "Abort it.", **by_id),
            "GetDrillScorecard": link("getDrillScorecard", "Its scorecard so far.", **by_id),
        }

    def control(name: str) -> dict[str, Any]:
        operation, summary, allowed, event = CONTROLS[name]
        return {
            "post": {
                "operationId": operation,
                "tags": ["drills"],
                "summary": summary,
                "description": f"drill_coordinator or admin. Allowed while the run is "
                f"{allowed}; in the audit log as `{event}`, with who did it.",
                "parameters": [run],
                "responses": {
                    "200": response(ref("DrillRun"), "The run after it.") | {"links": follow()},
                    "401": unauthorized,
                    "403": may_not_run,
                    "404": not_found,
                    "409": error_response(
                        f"The run's state does not allow it: it is not {allowed} "
                        "(`conflict`; the message names the state)."
                    ),
                    "503": UNAVAILABLE,
                },
            }
        }

    def scorecard(operation: str, media_type: str, what: str) -> dict[str, Any]:
        return {
            "get": {
                "operationId": operation,
                "tags": ["drills"],
                "summary": f"The run's scorecard (演练评分), {what}",
                "description": "drill_coordinator, admin or supervisor. How the center did, "
                "inject by inject and step by step (answered, accepted, dispatched …, against "
                "the SLA and the scenario's expectations), with charts; of a run still going "
                "on, so far.",
                "parameters": [run],
                "responses": {
                    "200": {
                        "description": f"The scorecard, {what}.",
                        "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "401": unauthorized,
                    "403": may_not_read,
                    "404": not_found,
                    "503": UNAVAILABLE,
                },
            }
        }

    return {
        BASE: {
            "get": {
                "operationId": "listDrillRuns",
                "tags": ["drills"],
                "summary": "The latest drill runs (演练记录), newest first",
                "description": "drill_coordinator, admin or supervisor.",
                "responses": {
                    "200": response(ref("DrillRuns"), "The latest 50 runs.")
                    | {
                        "links": {
                            "GetDrillRun": link(
                                "getDrillRun",
                                "The newest run with its injects.",
                                run="$response.body#/runs/0/id",
                            )
                        }
                    },
                    "401": unauthorized,
                    "403": may_not_read,
                    "503": UNAVAILABLE,
                },
            },
            "post": {
                "operationId": "startDrill",
                "tags": ["drills"],
                "summary": "Start a drill run of a scenario (开始演练)",
                "description": "drill_coordinator or admin. The scenario is checked against "
                "this gateway's city (units, categories, drill senders …) and, inject by "
                "inject, against what it can play (the channel enabled and able to play "
                "drills); every problem is answered at once (422). The run starts now: each "
                "inject is sent at its time through its channel's own intake, as a drill "
                "(演练) end to end.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("DrillStart")}},
                },
                "responses": {
                    "201": response(ref("DrillRun"), "Started: the run, every inject pending.")
                    | {"links": follow()},
                    "400": error_response(
                        "The body is not UTF-8 JSON or nested too deep (`bad_json`), or not "
                        "as described (`bad_request`): not an object, no scenario text, a "
                        "file name that is empty, too long or has control characters, more "
                        f"than {MAX_FILES} files, a path that is not relative or cannot be "
                        "written (a name too long, or `a` and `a/b` both), or a file that is "
                        "not base64; `field` names `scenario`, `file` or `files`."
                    ),
                    "401": unauthorized,
                    "403": may_not_run,
                    "413": error_response("The body is too large (`too_large`)."),
                    "415": error_response(
                        "The body is not application/json (`unsupported_media_type`)."
                    ),
                    "422": error_response(
                        "The scenario cannot be played here (`invalid_scenario`): the "
                        "message has every problem, one a line, naming the file, line and "
                        "key (`test.toml:14: inject[2].expect.unit: …`), an inject on a "
                        "channel this gateway has not enabled or that cannot play drills "
                        "among them. Nothing is stored."
                    ),
                    "503": UNAVAILABLE,
                },
            },
        },
        RUN: {
            "get": {
                "operationId": "getDrillRun",
                "tags": ["drills"],
                "summary": "One drill run with each inject's fate (演练进度)",
                "description": "drill_coordinator, admin or supervisor. What the live view "
                "shows: the run's state and clock, each inject pending, sent (the report it "
                "became and its incident), failed or cancelled, and which are late.",
                "parameters": [run],
                "responses": {
                    "200": response(_late(), "The run, `late` marked.") | {"links": follow()},
                    "401": unauthorized,
                    "403": may_not_read,
                    "404": not_found,
                    "503": UNAVAILABLE,
                },
            }
        },
        **{f"{RUN}/{name}": control(name) for name in CONTROLS},
        f"{RUN}/scorecard": scorecard("getDrillScorecard", "text/html", "an HTML page"),
        f"{RUN}/scorecard.pdf": scorecard("getDrillScorecardPdf", "application/pdf", "a PDF"),
    }


def add_to(schemas: dict[str, Any], paths: dict[str, Any]) -> None:
    """Puts the drill operations and their components into the document's `schemas` and
    `paths`."""
    schemas.update(components())
    paths.update(operations())


TAG = {
    "name": "drills",
    "description": "Drills (演练): start a run of a scenario, follow it, pause, resume or "
    "abort it, read its scorecard (bearer token: drill_coordinator or admin to start and "
    "control a run; also supervisor to follow it and read the scorecard).",
}
