"""The `alarmgw` command.

    alarmgw run [--config FILE] [--data-dir DIR] [--http-port N]
    alarmgw db upgrade | incidents list|show | report | audit verify
    alarmgw config check FILE | config sample | token create --user U --role R [--unit C]
    alarmgw token list | token revoke ID | user create|disable|password|list …
    alarmgw targets import FILE.csv | targets list | vehicles import FILE.csv | vehicles list
    alarmgw drill run FILE | status|pause|resume|abort RUN | list | report RUN

Everything but `run` and the drill commands works on the store directly (no reactor): each
command is one transaction, safe beside a running gateway (SQLite WAL; PostgreSQL row
locks). The drill commands but `report` talk to the running gateway's API (gateway.drills).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not getattr(args, "func", None):
        parser().print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `alarmgw incidents show N | head`
        sys.stderr.close()
        return 0
    except Exception as e:  # noqa: BLE001 - one clear line, not a traceback, for known errors
        from gateway.config import ConfigError
        from gateway.errors import DomainError
        from gateway.store.engine import StoreUnavailable

        if isinstance(e, ConfigError | DomainError | StoreUnavailable):
            print(f"alarmgw: {e}", file=sys.stderr)
            return 1
        raise


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alarmgw", description="110 alarm-intake gateway (接处警网关)")
    sub = p.add_subparsers(metavar="COMMAND")

    def store_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", "-c", help="TOML config (default: the bundled sample city)")
        sp.add_argument(
            "--data-dir",
            "-d",
            default="alarmgw-data",
            help="SQLite data directory (default: ./alarmgw-data)",
        )

    run = sub.add_parser("run", help="run the gateway (twistd, asyncio reactor)")
    store_args(run)
    run.add_argument("--http-port", "-p", type=int)
    run.add_argument("--http-host")
    run.set_defaults(func=cmd_run)

    db = sub.add_parser("db", help="database").add_subparsers(metavar="ACTION")
    up = db.add_parser("upgrade", help="apply the schema migrations")
    store_args(up)
    up.set_defaults(func=cmd_db_upgrade)

    inc = sub.add_parser("incidents", help="list or show incidents").add_subparsers(
        metavar="ACTION"
    )
    ls = inc.add_parser("list")
    store_args(ls)
    ls.add_argument("--state")
    ls.add_argument("--unit")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_incidents_list)
    show = inc.add_parser("show")
    store_args(show)
    show.add_argument("number")
    show.add_argument("--json", action="store_true", help="the API's document (times in UTC)")
    show.set_defaults(func=cmd_incidents_show)

    rep = sub.add_parser("report", help="submit a report from the shell (channel cli)")
    store_args(rep)
    rep.add_argument("--text", required=True)
    rep.add_argument("--phone")
    rep.add_argument("--lat", type=float)
    rep.add_argument("--lon", type=float)
    rep.add_argument("--address")
    rep.add_argument("--category")
    rep.add_argument("--drill", action="store_true")
    rep.add_argument("--external-id", help="idempotency key (default: a new UUID)")
    rep.set_defaults(func=cmd_report)

    audit = sub.add_parser("audit", help="the event log").add_subparsers(metavar="ACTION")
    ver = audit.add_parser("verify", help="check the hash chain of the event log")
    store_args(ver)
    ver.set_defaults(func=cmd_audit_verify)

    cfg = sub.add_parser("config", help="configuration").add_subparsers(metavar="ACTION")
    chk = cfg.add_parser("check", help="validate a config file")
    chk.add_argument("file")
    chk.set_defaults(func=cmd_config_check)
    smp = cfg.add_parser("sample", help="print the full sample config")
    smp.set_defaults(func=cmd_config_sample)

    tok = sub.add_parser("token", help="API tokens").add_subparsers(metavar="ACTION")
    new = tok.add_parser("create", help="create a token and print it (shown once)")
    store_args(new)
    new.add_argument("--user", required=True)
    new.add_argument("--role", required=True)
    new.add_argument("--unit", help="unit code (default: the root, the city command center)")
    new.set_defaults(func=cmd_token_create)
    tls = tok.add_parser("list", help="list the tokens (never the tokens themselves)")
    store_args(tls)
    tls.set_defaults(func=_console("token_list"))
    rev = tok.add_parser("revoke", help="revoke a token by its id (from token list)")
    store_args(rev)
    rev.add_argument("id", type=int)
    rev.set_defaults(func=_console("token_revoke"))

    usr = sub.add_parser("user", help="console users").add_subparsers(metavar="ACTION")
    mk = usr.add_parser(
        "create", help="create a console user; the password is read from stdin or asked twice"
    )
    store_args(mk)
    mk.add_argument("--user", required=True)
    mk.add_argument("--role", required=True)
    mk.add_argument("--unit", help="unit code (default: the root, the city command center)")
    mk.add_argument("--extension", help="the softphone extension (screen pop), e.g. 1001")
    mk.set_defaults(func=_console("user_create"))
    for name, helptext in (
        ("disable", "disable a user and end their sessions"),
        ("password", "set a user's password (stdin or asked twice); ends their sessions"),
    ):
        one = usr.add_parser(name, help=helptext)
        store_args(one)
        one.add_argument("--user", required=True)
        one.set_defaults(func=_console(f"user_{name}"))
    uls = usr.add_parser("list", help="list console users")
    store_args(uls)
    uls.set_defaults(func=_console("user_list"))

    drill = sub.add_parser(
        "drill", help="drills (演练): run a scenario through the channels, follow it, score it"
    ).add_subparsers(metavar="ACTION")

    def api_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", "-c", help="TOML config (default: the bundled sample city)")
        sp.add_argument("--url", help="the gateway (default: its [http] address in the config)")
        sp.add_argument("--token", help="a drill_coordinator API token (default: $ALARMGW_TOKEN)")

    drun = drill.add_parser(
        "run",
        help="start a drill scenario on the running gateway and follow it with a progress "
        "bar (p: pause/resume, a: abort, q: leave it running)",
    )
    api_args(drun)
    drun.add_argument("file", help="the scenario (TOML; see drills/README.md)")
    drun.add_argument("--detach", action="store_true", help="start it and return")
    drun.set_defaults(func=cmd_drill_run)
    for name, helptext in (
        ("status", "follow a run (its progress bar) until it ends"),
        ("pause", "pause a run: nothing more is sent until it is resumed"),
        ("resume", "resume a paused run; what was still to send moves on by the pause"),
        ("abort", "abort a run: what is not sent yet never will be"),
    ):
        one = drill.add_parser(name, help=helptext)
        api_args(one)
        one.add_argument("run", type=int)
        one.set_defaults(func=cmd_drill_control, control=name)
    dls = drill.add_parser("list", help="the latest runs")
    api_args(dls)
    dls.set_defaults(func=cmd_drill_list)
    drep = drill.add_parser(
        "report", help="a run's scorecard (成绩单) as HTML and PDF, from the store"
    )
    store_args(drep)
    drep.add_argument("run", type=int)
    drep.add_argument("--out", "-o", default=".", help="folder to write to (default: here)")
    drep.set_defaults(func=cmd_drill_report)

    # The registry of targets (gateway.targets): premises with alarm panels, and vehicles.
    for command, what, helptext in (
        ("targets", "premises", "fixed targets (固定目标): premises with alarm panels"),
        ("vehicles", "vehicles", "mobile targets (移动目标): vehicles with JT/T 808 terminals"),
    ):
        group = sub.add_parser(command, help=helptext).add_subparsers(metavar="ACTION")
        imp = group.add_parser(
            "import",
            help=f"add or update {what} from a CSV file (UTF-8 or GB18030); every row is "
            "checked first, and any problem imports nothing",
        )
        store_args(imp)
        imp.add_argument("file", help="CSV with a header row (see README: Targets registry)")
        imp.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        imp.set_defaults(func=_targets(f"{what}_import"))
        lst = group.add_parser("list", help=f"list {what}, by id")
        store_args(lst)
        lst.add_argument("--unit", help="only this unit and the units below it")
        lst.add_argument("--limit", type=int, default=50)
        if what == "premises":
            lst.add_argument("--account", help="only this alarm account")
        else:
            lst.add_argument("--terminal", help="only this terminal")
        lst.set_defaults(func=_targets(f"{what}_list"))
    return p


def _console(name: str) -> Any:
    """A `gateway.console.admin` command, imported when run."""

    def run(args: argparse.Namespace) -> int:
        from gateway.console import admin

        config, db = _open(args)
        print(getattr(admin, name)(config, db, args))
        return 0

    return run


def _targets(name: str) -> Any:
    """A `gateway.targets.admin` command, imported when run; it gives the exit status."""

    def run(args: argparse.Namespace) -> int:
        from gateway.targets import admin

        config, db = _open(args)
        return int(getattr(admin, name)(config, db, args))

    return run


# -- helpers ---------------------------------------------------------------------------------


def _open(args: argparse.Namespace, migrate: bool = True) -> tuple[Any, Any]:
    from gateway.config import load_config
    from gateway.store.db import Database
    from gateway.store.engine import sqlite_url

    config = load_config(args.config)
    url = config.storage_url
    if not url:
        Path(args.data_dir).mkdir(parents=True, exist_ok=True)
        url = sqlite_url(args.data_dir)
    db = Database(
        url,
        reactor=object(),
        busy_timeout_ms=config.busy_timeout_ms,
        channels=config.enabled_channels,
    )
    if migrate:
        db.upgrade()
    return config, db


def _now() -> datetime:
    return datetime.now(UTC)


def _local(iso: str | None, tz: str) -> str:
    if not iso:
        return "-"
    from zoneinfo import ZoneInfo

    from gateway.report import local_time

    return local_time(datetime.fromisoformat(iso.replace("Z", "+00:00")), ZoneInfo(tz))


# -- commands ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.config import ConfigError
    from gateway.reactor import install

    install()
    from twisted.application.service import ServiceMaker
    from twisted.python import usage
    from twisted.scripts import twistd

    from gateway.tap import Options

    opts = Options()
    argv = ["--data-dir", args.data_dir]
    if args.config:
        argv += ["--config", args.config]
    if args.http_port is not None:
        argv += ["--http-port", str(args.http_port)]
    if args.http_host:
        argv += ["--http-host", args.http_host]
    try:
        opts.parseOptions(argv)
    except (usage.UsageError, ConfigError) as e:
        print(f"alarmgw: {e}", file=sys.stderr)
        return 1
    config = twistd.ServerOptions()
    config.parseOptions(["--nodaemon", "--no_save", "--pidfile=", "--logfile=-"])
    # Run our service maker directly: plugin discovery is for `twistd alarmgw`.
    config.subCommand = "alarmgw"
    config.subOptions = opts
    config.loadedPlugins = {
        "alarmgw": ServiceMaker("alarmgw", "gateway.tap", "110 alarm-intake gateway", "alarmgw")
    }
    # twistd's public runApp would re-raise the signal that stopped it (exit 143 after a
    # clean SIGTERM); its runner, which runApp wraps, lets us exit 0 instead. Covered by
    # every test that stops a gateway process and checks its exit status.
    runner = twistd._SomeApplicationRunner(config)
    runner.run()
    # twistd re-raises the signal that stopped it; after a clean SIGTERM/Ctrl-C shutdown
    # (services stopped, writes in flight committed) we exit 0 instead — 1 when a service
    # failed to start (it said why in one line).
    from gateway.service import TopService

    return TopService.exit_status


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.store.migrate import current

    _config, db = _open(args)
    print(f"database at revision {', '.join(current(db.write_engine))}")
    return 0


def cmd_incidents_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from gateway.store.tables import incidents
    from gateway.workflow.documents import Documents

    config, db = _open(args)
    q = select(incidents).order_by(incidents.c.created_at.desc()).limit(args.limit)
    from gateway.errors import DomainError
    from gateway.workflow.table import STATE_NAMES_ZH, State

    if args.state:
        states = args.state.split(",")
        bad = [s for s in states if s not in {str(x) for x in State}]
        if bad:
            raise DomainError(f"--state: unknown state {bad[0]!r}")
        q = q.where(incidents.c.state.in_(states))
    if args.unit:
        if args.unit not in config.org:
            raise DomainError(f"--unit: unknown unit {args.unit!r}")
        q = q.where(incidents.c.unit.in_(sorted(config.org.subtree(args.unit))))
    with db.read_engine.connect() as conn:
        docs = Documents(config.enabled_channels).many(conn, list(conn.execute(q).mappings()))
    if args.json:
        print(json.dumps(docs, ensure_ascii=False, indent=2))
        return 0
    for d in docs:
        unit = config.org.get(d["unit"]).name if d["unit"] in config.org else "-"
        print(
            f"{d['number']}  {_local(d['created_at'], config.city.timezone)}  "
            f"{STATE_NAMES_ZH[State(d['state'])]:<6}  P{d['priority'] or '-'}  "
            f"{unit}  {'[演练] ' if d['drill'] else ''}{d['summary'][:40]}"
        )
    print(f"({len(docs)} incidents; times {config.city.timezone})")
    return 0


def cmd_incidents_show(args: argparse.Namespace) -> int:
    from gateway.workflow.documents import Documents

    config, db = _open(args)
    with db.read_engine.connect() as conn:
        doc = Documents(config.enabled_channels).of(conn, args.number, detail=True)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print(_incident_text(doc, config))
    return 0


def _localized(value: Any, tz: str) -> Any:
    """`value` with each UTC time of the API (…Z) as a person reads it."""
    if isinstance(value, dict):
        return {k: _localized(v, tz) for k, v in value.items()}
    if isinstance(value, list):
        return [_localized(v, tz) for v in value]
    if isinstance(value, str) and len(value) == 24 and value.endswith("Z") and value[10] == "T":
        try:
            return _local(value, tz)
        except ValueError:
            return value
    return value


STEP_NAMES_ZH = {"accept": "受理", "dispatch": "派警", "acknowledge": "签收", "arrive": "到场",
                 "feedback": "反馈"}  # fmt: skip


def _incident_text(doc: dict[str, Any], config: Any) -> str:
    """`incidents show` for a person: Chinese labels, times in the city's time zone."""
    from gateway.workflow.documents import CORE_KEYS
    from gateway.workflow.table import STATE_NAMES_ZH, State

    tz = config.city.timezone

    def state(s: str | None) -> str:
        return STATE_NAMES_ZH[State(s)] if s else "-"

    def unit(code: str | None) -> str:
        return f"{config.org.get(code).name} ({code})" if code in config.org else code or "-"

    def data(d: dict[str, Any]) -> str:
        return json.dumps(d, ensure_ascii=False) if d else ""

    category = doc["category"]
    if category in config.categories:
        category = f"{config.categories[category].name} ({category})"
    loc = doc["location"] or {}
    point = f"{loc['lat']}, {loc['lon']}" if "lat" in loc else ""
    if point and "accuracy_m" in loc:
        point += f" ±{loc['accuracy_m']:g} m"
    place = "  ".join(p for p in (loc.get("address", ""), point) if p) or "-"
    suggested = "  (建议)" if doc["unit"] and not doc["unit_assigned"] else ""
    lines = [
        f"警情编号  {doc['number']}{'  [演练]' if doc['drill'] else ''}",
        f"状态      {state(doc['state'])} ({doc['state']})",
        f"类别      {category or '-'}    级别  P{doc['priority'] or '-'}",
        f"单位      {unit(doc['unit'])}{suggested}",
        f"地点      {place}",
        f"摘要      {doc['summary'].replace(chr(10), ' ')}",
    ]
    for label, key in (("原因", "reason"), ("结果", "result"), ("并入", "master")):
        if doc.get(key):
            lines.append(f"{label}      {doc[key]}")
    lines += [
        f"创建      {_local(doc['created_at'], tz)}",
        f"更新      {_local(doc['updated_at'], tz)}",
        "",
        "节点",
    ]
    lines += [f"  {state(s):<6}  {_local(t, tz)}" for s, t in doc["milestones"].items()]
    if doc["deadlines"]:
        lines += ["", "时限"]
        for d in doc["deadlines"]:
            missed = "  已超时" if d["fired"] else ""
            step = STEP_NAMES_ZH.get(d["step"], d["step"])
            lines.append(f"  {step}  截止 {_local(d['due'], tz)}  {unit(d['unit'])}{missed}")
    lines += ["", f"报警 ({len(doc['reports'])})"]
    for r in doc["reports"]:
        sender = r["sender"]
        who = f"{sender['kind']} {sender['id']}" + (
            f" {sender['name']}" if "name" in sender else ""
        )
        attached = "  (自动并入)" if r["auto_attached"] else ""
        lines.append(
            f"  {_local(r['received_at'], tz)}  {r['receipt']}  {r['channel']}  {who}{attached}"
        )
        lines += [f"      {text}" for text in (r.get("text") or "").splitlines()]
    lines += ["", f"事件 ({len(doc['events'])})"]
    for e in doc["events"]:
        actor = e["actor"]
        moved = f"{state(e['from_state'])} → {state(e['to_state'])}"
        if e["from_state"] == e["to_state"] or not e["to_state"]:
            moved = state(e["from_state"] or e["to_state"])
        reason = f"  {e['reason']}" if e["reason"] else ""
        lines.append(
            f"  {e['seq']:>4}  {_local(e['at'], tz)}  {e['action']:<16} {moved:<12} "
            f"{actor['user']} ({actor['role']}){reason}  {data(e['data'])}".rstrip()
        )
    for key, items in doc.items():  # the enabled channels' views (calls, SMS, …)
        if key in CORE_KEYS or not isinstance(items, list) or not items:
            continue
        lines += ["", f"{key} ({len(items)})"]
        lines += [f"  {data(_localized(item, tz))}" for item in items]
    if doc["deliveries"]:
        lines += ["", f"通知 ({len(doc['deliveries'])})"]
        for d in doc["deliveries"]:
            lines.append(
                f"  {_local(d['at'], tz)}  {d['kind']}  {d['target']}  {d['status']}"
                f"  第{d['attempt']}次" + (f"  {d['error']}" if d["error"] else "")
            )
    lines += ["", f"(时间为 {tz})"]
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    from gateway.intake import Intake
    from gateway.phone import NOT_A_PHONE, looks_like_phone
    from gateway.report import InvalidReport, Location, Report, Sender

    if args.phone is not None and not looks_like_phone(args.phone):
        raise InvalidReport("--phone", f"{args.phone!r} is {NOT_A_PHONE}")
    config, db = _open(args)
    loc = None
    if args.lat is not None or args.lon is not None or args.address:
        loc = Location(lat=args.lat, lon=args.lon, address=args.address)
    report = Report.from_json(
        Report(
            channel="cli",
            external_id=args.external_id or str(uuid.uuid4()),
            received_at=_now(),
            sender=Sender("phone", args.phone) if args.phone else Sender("system", "cli"),
            text=args.text,
            location=loc,
            drill=args.drill,
            category=args.category,
        ).to_json()
    )  # through JSON: the same checks as every other channel
    intake = Intake(db, config, clock=None)
    receipt = db.run_sync(intake.store, report, _now())
    print(json.dumps({**receipt.to_json(), "duplicate": receipt.duplicate}, ensure_ascii=False))
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gateway.store import audit

    _config, db = _open(args)
    with db.read_engine.connect() as conn:
        count, problems = audit.verify(conn)
    for p in problems:
        print(f"event {p.seq}: {p.what}")
    if problems:
        print(f"audit chain BROKEN: {len(problems)} problem(s) in {count} events")
        return 1
    print(f"audit chain OK: {count} events")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from gateway.config import check_config

    config = check_config(args.file)
    print(
        f"{args.file}: OK ({config.city.name}, {len(list(config.org.units()))} units, "
        f"{len(config.categories)} categories)"
    )
    return 0


def cmd_config_sample(args: argparse.Namespace) -> int:
    from gateway.config import sample_text

    sys.stdout.write(sample_text())
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from gateway.auth import create_token

    config, db = _open(args)
    unit = args.unit or config.org.root.code
    token = db.run_sync(create_token, args.user, args.role, unit, config.org, _now())
    print(token)
    return 0


def _drill_api(args: argparse.Namespace) -> tuple[Any, Any]:
    from zoneinfo import ZoneInfo

    from gateway.config import load_config
    from gateway.drills.client import Api, DrillClientError

    config = load_config(args.config)
    token = args.token or os.environ.get("ALARMGW_TOKEN")
    if not token:
        raise DrillClientError(
            "no token: --token or ALARMGW_TOKEN "
            "(alarmgw token create --user NAME --role drill_coordinator)"
        )
    host = config.http.host
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    url = args.url or f"http://{host}:{config.http.port}"
    return Api(url, token), ZoneInfo(config.city.timezone)


def _drill(fn: Any) -> Any:
    """A drill command: its one-line refusals (DrillClientError) on stderr, status 1."""

    def run(args: argparse.Namespace) -> int:
        from gateway.drills.client import DrillClientError

        try:
            return int(fn(args))
        except DrillClientError as e:
            print(f"alarmgw: {e}", file=sys.stderr)
            return 1

    return run


@_drill
def cmd_drill_run(args: argparse.Namespace) -> int:
    from gateway.drills import client

    api, tz = _drill_api(args)
    doc = api.call("POST", "/api/v1/drills", client.request_body(Path(args.file)))
    run = doc["id"]
    print(f"演练 {run} 已开始：{doc['name']}，{doc['counts']['total']} 条模拟警情")
    if args.detach:
        print(f"跟进：alarmgw drill status {run}；成绩单：alarmgw drill report {run}")
        return 0
    return _follow(api, run, tz)


def _follow(api: Any, run: int, tz: Any) -> int:
    from gateway.drills import client

    with client.terminal_keys() as keys:
        while True:
            try:
                doc = client.follow(api, run, sys.stdout, tz, keys)
                break
            except KeyboardInterrupt:
                if keys is None:
                    print(f"\n演练 {run} 仍在进行：alarmgw drill status|pause|abort {run}")
                    return 130
                api.call("POST", f"/api/v1/drills/{run}/pause")
                print("\n演练已暂停。c 继续 · a 中止 · q 离开（保持暂停）", end=" ", flush=True)
                key = keys(600.0)
                print()
                if key == "c":
                    api.call("POST", f"/api/v1/drills/{run}/resume")
                elif key == "a":
                    api.call("POST", f"/api/v1/drills/{run}/abort")
                else:
                    print(f"演练 {run} 已暂停：alarmgw drill resume {run}")
                    return 0
    if doc["state"] in client.ENDED:
        print(f"成绩单：alarmgw drill report {run}")
    else:
        print(f"演练 {run} 仍在进行：alarmgw drill status {run}")
    return 0


@_drill
def cmd_drill_control(args: argparse.Namespace) -> int:
    from gateway.drills import client

    api, tz = _drill_api(args)
    if args.control == "status":
        return _follow(api, args.run, tz)
    doc = api.call("POST", f"/api/v1/drills/{args.run}/{args.control}")
    print(client.line(doc, tz))
    return 0


@_drill
def cmd_drill_list(args: argparse.Namespace) -> int:
    from gateway.drills import client

    api, tz = _drill_api(args)
    for doc in api.call("GET", "/api/v1/drills")["runs"]:
        when = _local(doc["started_at"], str(tz))
        print(f"{when}  {client.line(doc, tz)}  {doc['name']}")
    return 0


def cmd_drill_report(args: argparse.Namespace) -> int:
    from gateway.drills import scorecard

    config, db = _open(args)
    paths = scorecard.write(config, db, args.run, Path(args.out))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
