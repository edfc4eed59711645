"""Schemathesis hooks for tests/integration/test_schemathesis.py, loaded by the CLI
through `hooks = "…/schemathesis_hooks.py"` in that run's configuration file (pytest does
not collect this file).

Bearer tokens (made by the test with `alarmgw token create`, passed in the environment):
report submission gets an admin token, the one role that may use every field of the
submission schema (`channel`, `received_at`, `drill`), and so do the registry of targets'
operations (tag `targets`), whose writes only an admin may make; every other operation whose
`security` asks for the bearer scheme gets a supervisor's; public operations get none.

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
)
class SupervisorToken:
    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str | None:
        return os.environ[SUPERVISOR_TOKEN] if _asks_for_bearer(context.operation) else None

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        _set_bearer(case, data)
