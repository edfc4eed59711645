"""The command line's side of the console: people (`alarmgw user …`) and tokens
(`alarmgw token list|revoke`). What it changes is in the audit log, done by the shell
account that ran it."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from gateway import auth
from gateway.console import accounts
from gateway.errors import DomainError
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role


def shell_actor() -> Actor:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(f"cli:{who}", Role.ADMIN, None)


def read_password(stdin: TextIO = sys.stdin, prompt: bool | None = None) -> str:
    """From a terminal: asked twice, not echoed. Otherwise: the first line of stdin."""
    if prompt is None:
        prompt = stdin.isatty()
    if not prompt:
        line = stdin.readline()
        if not line:
            raise DomainError("no password on stdin", "password")
        return line.rstrip("\r\n")
    first = getpass.getpass("密码 (password): ")
    second = getpass.getpass("再输入一次 (again): ")
    if first != second:
        raise DomainError("the two passwords differ", "password")
    return first


def now() -> datetime:
    return datetime.now(UTC)


def user_create(config: Any, db: Any, args: Any) -> str:
    password_hash = accounts.hash_password(read_password())
    unit = args.unit or config.org.root.code
    user = db.run_sync(
        accounts.create_user,
        args.user,
        args.role,
        unit,
        args.extension,
        password_hash,
        config.org,
        now(),
        shell_actor(),
    )
    return f"user {user.name} created: role {user.role}, unit {user.unit}" + (
        f", extension {user.extension}" if user.extension else ""
    )


def user_disable(config: Any, db: Any, args: Any) -> str:
    db.run_sync(accounts.disable_user, args.user, now(), shell_actor())
    return f"user {args.user} disabled; their sessions are ended"


def user_password(config: Any, db: Any, args: Any) -> str:
    password_hash = accounts.hash_password(read_password())
    db.run_sync(accounts.set_password, args.user, password_hash, now(), shell_actor())
    return f"password of {args.user} changed; their sessions are ended"


def user_list(config: Any, db: Any, args: Any) -> str:
    users = db.run_sync(lambda ctx: accounts.list_users(ctx.conn))
    lines = [f"{'user':<20} {'role':<18} {'unit':<13} {'ext':<8} state"]
    for u in users:
        lines.append(
            f"{u.name:<20} {u.role!s:<18} {u.unit:<13} {u.extension or '':<8} "
            f"{'disabled' if u.disabled else 'active'}"
        )
    return "\n".join(lines)


def token_list(config: Any, db: Any, args: Any) -> str:
    rows = db.run_sync(lambda ctx: auth.list_tokens(ctx.conn))
    tz = config.city.timezone
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    lines = [f"{'id':>4} {'user':<20} {'role':<18} {'unit':<13} {'created':<20} revoked"]
    for t in rows:
        created = t["created_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        revoked = (
            t["revoked_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
            if t["revoked_at"]
            else "-"
        )
        lines.append(
            f"{t['id']:>4} {t['user']:<20} {t['role']:<18} {t['unit']:<13} {created:<20} {revoked}"
        )
    return "\n".join(lines)


def token_revoke(config: Any, db: Any, args: Any) -> str:
    row = db.run_sync(auth.revoke_token, args.id, now(), shell_actor())
    return f"token {row['id']} ({row['user']}, {row['role']}) revoked"
