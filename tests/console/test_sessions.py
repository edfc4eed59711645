"""Console logins over HTTP against a real gateway process: the session cookie, CSRF on
every change, login throttling per user and per address, roles and unit scope, disabling
a user, token administration, and the audit log of it all. (The browser flows are in
test_console_flows.py; these need no browser.)"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import city_config
from tests.peers.console import ConsoleClient
from tests.peers.gateway import GatewayProcess, wait_for

NANBA = {"lat": 24.985, "lon": 102.65}  # 南坝派出所 530102510000
BEIMEN = {"lat": 25.095, "lon": 102.65}  # 北门派出所 530102530000


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("console")
    gw = GatewayProcess(tmp / "data", city_config(tmp))
    gw.user("disp", "dispatcher", extension="1001")
    gw.user("nanba", "unit_officer", unit="530102510000")
    gw.user("beimen", "unit_officer", unit="530102530000")
    gw.user("sup", "supervisor")
    gw.user("root", "admin")
    gw.start()
    yield gw
    assert gw.stop() == 0, gw.log()


_callers = iter(range(13800000100, 13900000000))


def report(gw: GatewayProcess, where: dict[str, float], text: str = "有人打架") -> str:
    """A new incident: each from another caller and 300 m or more from the one before
    (within the station), so that none is attached to an earlier one."""
    n = next(_callers)
    sender = {"kind": "phone", "id": str(n)}
    # ~330 m a step north-south, within 0.018° of the point (the stations are 0.05° tall)
    place = {
        "lat": where["lat"] - 0.018 + (n % 13) * 0.003,
        "lon": where["lon"] - 0.015 + (n % 10) * 0.003,
    }
    status, doc = gw.request(
        "POST", "/api/v1/reports", {"text": text, "location": place, "sender": sender}
    )
    assert status == 201, doc
    return str(doc["incident"]["number"])


def events(gw: GatewayProcess, action: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(Path(gw.data_dir) / "alarmgw.db")
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM events WHERE action = ? ORDER BY seq", (action,)))
    finally:
        conn.close()


def test_login_sets_a_strict_http_only_cookie_and_logout_ends_it(gw: GatewayProcess) -> None:
    c = ConsoleClient(gw.base)
    assert c.get("/console/").status == 303  # not logged in: to the login page
    answer = c.login("disp", "correct-horse-1")
    assert answer.status == 303 and answer.headers["Location"] == "/console/"
    cookie = [v for k, v in answer.headers.items() if k.lower() == "set-cookie"][0]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    page = c.get("/console/")
    assert page.status == 200 and "警情队列" in page.text and "disp" in page.text
    assert c.csrf
    assert c.request("POST", "/console/logout", form={"csrf": c.csrf}).status == 303
    assert c.get("/console/").status == 303
    assert c.request("GET", "/api/v1/incidents").status == 401
    assert '"user": "disp"' in events(gw, "logout")[-1]["actor"]


def test_behind_tls_the_cookie_is_secure(gw: GatewayProcess) -> None:
    c = ConsoleClient(gw.base)
    page = c.request("GET", "/console/login")
    token = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert token
    answer = c.request(
        "POST",
        "/console/login",
        form={"user": "disp", "password": "correct-horse-1", "csrf": token.group(1)},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert answer.status == 303
    cookie = [v for k, v in answer.headers.items() if k.lower() == "set-cookie"][0]
    assert "Secure" in cookie


def test_a_login_form_without_its_token_is_refused(gw: GatewayProcess) -> None:
    c = ConsoleClient(gw.base)
    answer = c.request(
        "POST", "/console/login", form={"user": "disp", "password": "correct-horse-1"}
    )
    assert answer.status == 403 and "页面已过期" in answer.text


def test_actions_on_a_session_need_its_csrf_token(gw: GatewayProcess) -> None:
    number = report(gw, NANBA)
    c = ConsoleClient(gw.base)
    c.login("disp", "correct-horse-1")
    accept = {"action": "accept", "category": "criminal"}
    for bad in ("", "forged-token"):
        answer = c.act(number, accept, csrf=bad)
        assert answer.status == 403 and answer.json()["error"] == "csrf"
    status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=gw.token("t", "admin"))
    assert doc["state"] == "received"  # nothing happened
    answer = c.act(number, accept)
    assert answer.status == 200, answer.text
    assert answer.json()["state"] == "accepted"
    # A form post without it too (logout).
    assert c.request("POST", "/console/logout", form={}).status == 403


def test_wrong_passwords_are_throttled_per_user_and_logged(gw: GatewayProcess) -> None:
    c = ConsoleClient(gw.base)
    before = len(events(gw, "login_failed"))
    for _ in range(5):
        answer = c.login("sup", "wrong password", address="10.1.1.1")
        assert answer.status == 401 and "用户名或密码错误" in answer.text
    # The sixth try is refused even with the right password, from another address too.
    answer = c.login("sup", "correct-horse-1", address="10.1.1.2")
    assert answer.status == 429 and "分钟后再试" in answer.text
    assert len(events(gw, "login_failed")) == before + 5
    refused = events(gw, "login_refused")[-1]
    assert '"user": "sup"' in refused["data"] and "throttled" in refused["data"]
    # Other users are not locked out by it.
    assert ConsoleClient(gw.base).login("disp", "correct-horse-1").status == 303


def test_one_address_trying_many_names_is_throttled(gw: GatewayProcess) -> None:
    c = ConsoleClient(gw.base)
    for i in range(20):
        assert c.login(f"nobody{i}", "x" * 10, address="10.9.9.9").status == 401
    assert c.login("disp", "correct-horse-1", address="10.9.9.9").status == 429
    assert c.login("disp", "correct-horse-1", address="10.9.9.10").status == 303


def test_roles_and_unit_scope_hold_in_the_console(gw: GatewayProcess) -> None:
    theirs = report(gw, BEIMEN, "北门有人打架")
    ours = report(gw, NANBA, "南坝有人打架")
    officer = ConsoleClient(gw.base)
    assert officer.login("nanba", "correct-horse-1").status == 303
    assert officer.get(f"/console/incidents/{ours}").status == 200
    other = officer.get(f"/console/incidents/{theirs}")
    assert other.status == 403 and "不在您的管辖范围内" in other.text
    assert officer.get("/console/stats").status == 403
    assert officer.get("/console/tokens").status == 403
    queue = officer.get("/console/").text
    assert ours in queue and theirs not in queue
    listed = officer.request("GET", "/api/v1/incidents").json()
    assert {i["unit"] for i in listed["incidents"]} <= {"530102510000"}


def test_a_disabled_user_is_logged_out(gw: GatewayProcess) -> None:
    gw.user("temp", "calltaker")
    c = ConsoleClient(gw.base)
    assert c.login("temp", "correct-horse-1").status == 303
    gw.cli("user", "disable", "--user", "temp")
    wait_for("the session to end", lambda: c.get("/console/").status == 303 or None, 10)
    assert c.login("temp", "correct-horse-1").status == 401
    assert events(gw, "user_disabled")


def test_a_new_password_must_be_long_enough(gw: GatewayProcess) -> None:
    out = gw.cli("user", "password", "--user", "disp", check=False, stdin="short\n")
    assert out.returncode == 1 and "too short" in out.stderr


def test_admins_list_and_revoke_tokens(gw: GatewayProcess) -> None:
    token = gw.token("feed", "integration")
    status, _ = gw.request("GET", "/api/v1/incidents", token=token)
    assert status == 200
    listed = gw.cli("token", "list").stdout
    line = [x for x in listed.splitlines() if " feed " in x][-1]
    token_id = line.split()[0]
    admin = ConsoleClient(gw.base)
    admin.login("root", "correct-horse-1")
    page = admin.get("/console/tokens")
    assert page.status == 200 and f'id="token-{token_id}"' in page.text and "feed" in page.text
    answer = admin.request("POST", f"/console/tokens/{token_id}/revoke", form={"csrf": admin.csrf})
    assert answer.status == 303
    status, _ = gw.request("GET", "/api/v1/incidents", token=token)
    assert status == 401  # at once: the console cleared this node's token cache
    assert "已吊销" in admin.get("/console/tokens").text
    other = gw.token("feed2", "integration")
    other_id = [x for x in gw.cli("token", "list").stdout.splitlines() if " feed2 " in x][0]
    out = gw.cli("token", "revoke", other_id.split()[0])
    assert "revoked" in out.stdout
    assert gw.request("GET", "/api/v1/incidents", token=other)[0] == 401
    assert len(events(gw, "token_revoked")) >= 2


def test_the_audit_chain_holds_with_logins_in_it(gw: GatewayProcess) -> None:
    assert events(gw, "login") and events(gw, "login_failed")
    out = gw.cli("audit", "verify")
    assert out.returncode == 0, out.stdout + out.stderr


def test_pages_are_chinese_and_not_framable(gw: GatewayProcess) -> None:
    c = ConsoleClient(gw.base)
    page = c.request("GET", "/console/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    c.login("disp", "correct-horse-1")
    missing = c.get("/console/incidents/530100-20990101-000001")
    assert missing.status == 404 and "没有警情" in missing.text
    assert c.get("/console/static/../../app.py").status == 404
    assert c.get("/console/static/console.js").status == 200


def test_login_after_throttle_window_is_allowed_again() -> None:
    from gateway.console.accounts import Throttle

    t = Throttle(failures=3, window_s=60)
    for i in range(3):
        assert t.blocked("a", "1.1.1.1", 100 + i) == 0
        t.failed("a", "1.1.1.1", 100 + i)
    assert 0 < t.blocked("a", "1.1.1.1", 103) <= 60
    assert t.blocked("b", "2.2.2.2", 103) == 0
    assert t.blocked("a", "1.1.1.1", 161) == 0  # the oldest failure left the window


def test_sessions_expire_when_idle_or_too_old() -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.console.accounts import Session, User, expired
    from gateway.workflow.table import Role

    t0 = datetime(2026, 11, 26, 1, tzinfo=UTC)
    s = Session("k", User(1, "u", Role.DISPATCHER, "530100000000", None, False), "c", t0, t0)
    assert expired(s, t0 + timedelta(seconds=3599), 3600, 43200) is None
    assert expired(s, t0 + timedelta(seconds=3601), 3600, 43200) == "idle"
    late = Session("k", s.user, "c", t0, t0 + timedelta(hours=12))
    assert expired(late, t0 + timedelta(hours=12, seconds=1), 3600, 43200) == "max_age"


def test_passwords_are_argon2id() -> None:
    from gateway.console.accounts import hash_password, verify

    h = hash_password("correct-horse-1")
    assert h.startswith("$argon2id$")
    assert verify(h, "correct-horse-1") and not verify(h, "correct-horse-2")
    assert not verify(None, "anything")
    assert time.perf_counter() > 0


def test_a_public_route_without_the_token_treats_a_session_as_anyone(gw: GatewayProcess) -> None:
    """POST /api/v1/reports takes a token or none: a session cookie without its CSRF token
    (a forged cross-site post) is neither refused nor trusted — it is an anonymous report."""
    c = ConsoleClient(gw.base)
    c.login("disp", "correct-horse-1")
    body = {"text": "匿名网上报警", "sender": {"kind": "web", "id": "anonymous"}}
    answer = c.request("POST", "/api/v1/reports", body=body)
    assert answer.status == 201, answer.text
    forged = dict(body, drill=True)  # a drill needs a drill coordinator's token
    answer = c.request("POST", "/api/v1/reports", body=forged)
    assert answer.status == 403 and answer.json()["error"] != "csrf"
