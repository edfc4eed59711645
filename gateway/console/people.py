"""The console's people: the login page, logging in and out, and the admins' page of API
tokens (with the users)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from gateway import auth
from gateway.console import accounts
from gateway.console.sessions import LoginRefused, client_address, is_secure
from gateway.http.resource import HTML, Call, Route, route

if TYPE_CHECKING:
    from gateway.console.routes import ConsoleRoutes

LOGIN_COOKIE = b"alarmgw_login"  # the login form's CSRF token (double submit)


class PeopleRoutes:
    def __init__(self, console: ConsoleRoutes) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        admin = frozenset({"admin"})
        return [
            route("GET", r"^/console/login$", self.login_form, "none"),
            route("POST", r"^/console/login$", self.login, "none"),
            route("POST", r"^/console/logout$", self.logout, "page"),
            route("GET", r"^/console/tokens$", self.tokens_page, "page", admin),
            route(
                "POST", r"^/console/tokens/(?P<token>\d+)/revoke$", self.revoke_token, "page", admin
            ),
        ]

    def login_form(self, call: Call, error: str | None = None, status: int = 200) -> Any:
        token = secrets.token_urlsafe(18)
        nxt = call.query.get("next", "/console/")
        status_, body, ctype = self.console.page(
            call,
            "login.html",
            status,
            login_csrf=token,
            next=_safe_next(nxt),
            error=error,
            name=call.query.get("user", "") if error else "",
        )
        cookie = (
            f"{LOGIN_COOKIE.decode()}={token}; Path=/console/login; HttpOnly; SameSite=Strict"
            + ("; Secure" if is_secure(call.request) else "")
        )
        return status_, body, ctype, {"Set-Cookie": cookie}

    async def login(self, call: Call) -> Any:
        form = call.form()
        sent = form.get("csrf", "")
        expected = (call.request.getCookie(LOGIN_COOKIE) or b"").decode("latin-1")
        if not sent or not expected or not secrets.compare_digest(sent, expected):
            return self.login_form(call, "页面已过期，请重新输入后登录。", 403)
        name, password = form.get("user", "").strip(), form.get("password", "")
        if not name or not password:
            return self.login_form(call, "请输入用户名和密码。", 422)
        try:
            cookie, _session = await self.console.sessions.login(
                name, password, client_address(call.request)
            )
        except LoginRefused as e:
            return self.login_form(call, e.message, e.status)
        secure = is_secure(call.request)
        return (
            303,
            b"",
            HTML,
            {
                "Location": _safe_next(form.get("next", "/console/")),
                "Set-Cookie": self.console.sessions.cookie(cookie, secure),
            },
        )

    async def logout(self, call: Call) -> Any:
        await self.console.sessions.logout(call.session)
        return (
            303,
            b"",
            HTML,
            {
                "Location": "/console/login",
                "Set-Cookie": self.console.sessions.cookie("", is_secure(call.request), clear=True),
            },
        )

    # -- tokens (admins) --------------------------------------------------------------------

    async def tokens_page(self, call: Call) -> Any:
        rows = await self.console.gw.db.read(auth.list_tokens)
        users = await self.console.gw.db.read(accounts.list_users)
        return self.console.page(call, "tokens.html", nav="tokens", tokens=rows, users=users)

    async def revoke_token(self, call: Call) -> Any:
        actor = call.actor
        assert actor is not None
        await self.console.gw.db.write(
            auth.revoke_token, int(call.params["token"]), call.now, actor
        )
        if self.console.api_tokens is not None:
            self.console.api_tokens.clear()  # revoked here: effective at once on this node
        return 303, b"", HTML, {"Location": "/console/tokens?revoked=" + call.params["token"]}


def _safe_next(value: str) -> str:
    """Only a path of this console after login (no open redirect)."""
    if value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"
