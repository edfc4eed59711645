"""Schemathesis hooks for tests/integration/test_schemathesis.py, loaded by the CLI
through `hooks = "…/schemathesis_hooks.py"` in that run's configuration file (pytest does
not collect this file).

Bearer tokens (made by the test with `alarmgw token create`, passed in the environment):
report submission gets an admin token, the one role that may use every field of the
submission schema (`channel`, `received_at`, `drill`), and so do the registry of targets'
operations (tag `targets`), whose writes only an admin may make, and the drill API's (tag
`drills`: a drill_coordinator or an admin starts and controls a run); every other operation
whose `security` asks for the bearer scheme gets a supervisor's; public operations get none.

Starting a drill (`startDrill`): whether a scenario's TOML text can be played is not for a
schema to say (the server answers 422 with every problem), so a schema-valid body rarely
names a playable one; nor can a schema say that one file's path is not another's folder
(`a` and `a/b`: 400). Its positive cases get `PLAYABLE` as their scenario and lose such a
folder's file — the rest of the body (file name, files by path, base64) as generated — and
must then start a run; negative cases are sent as generated.

Why not schemathesis's configuration alone: `[auth.openapi.bearer]` has one token for the
whole scheme, and a per-operation `headers` table leaks: schemathesis 4.32 builds one
`requests.Session` per worker with the headers of the first operation it runs and sends
them with every later request (the admin token ended up on the workflow operations). And
`[auth.openapi.*]` takes precedence over these providers, so it must stay unset.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

ADMIN_TOKEN = "ALARMGW_ST_ADMIN_TOKEN"
SUPERVISOR_TOKEN = "ALARMGW_ST_SUPERVISOR_TOKEN"

# A scenario the sample city plays: one web inject, an hour on (a fuzzed run sends nothing
# while schemathesis runs, but can be paused, resumed and aborted).
PLAYABLE = """\
name = "schemathesis"
units = ["530102000000"]

[[inject]]
at = "+59:00"
channel = "web"
from = "13800000209"
text = "明湖路66号楼上每天夜里敲打。"
expect = { incident = "noise", category = "dispute", unit = "530102520000" }
"""


def _asks_for_bearer(operation: Any) -> bool:
    """The operation's `security` (or the document's) has a requirement naming `bearer`."""
    security = operation.definition.raw.get(
        "security", operation.schema.raw_schema.get("security", [])
    )
    return any("bearer" in requirement for requirement in security)


def _set_bearer(case: schemathesis.Case, token: str) -> None:
    # A CaseInsensitiveDict: this replaces a generated `authorization` too.
    case.headers["Authorization"] = f"Bearer {token}"


@(
    schemathesis.auth(refresh_interval=None, retry_on=[])
    .apply_to(operation_id="submitReport")
    .apply_to(tag="targets")
    .apply_to(tag="drills")
)
class AdminToken:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return os.environ[ADMIN_TOKEN]

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        _set_bearer(case, data)


@(
    schemathesis.auth(refresh_interval=None, retry_on=[])
    .skip_for(operation_id="submitReport")
    .skip_for(tag="targets")
    .skip_for(tag="drills")
)
class SupervisorToken:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str | None:
        return os.environ[SUPERVISOR_TOKEN] if _asks_for_bearer(context.operation) else None

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        _set_bearer(case, data)


@schemathesis.hook("before_call").apply_to(operation_id="startDrill")
def playable_scenario(ctx: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if positive and isinstance(case.body, dict):
        body = {**case.body, "scenario": PLAYABLE}
        files = body.get("files")
        if isinstance(files, dict):
            folders = {p.rsplit("/", n)[0] for p in files for n in range(1, p.count("/") + 1)}
            body["files"] = {p: data for p, data in files.items() if p not in folders}
        case.body = body
