"""Every channel folder has the same shape, and the core knows none of them by name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.channel import Channel, resolve
from gateway.discovery import BUILTIN, declaration, installed, resource
from tests.peers.gateway import ROOT

BUILTINS = [code for code, package in installed().items() if package.startswith(BUILTIN)]
REQUIRED = ("__init__.py", "settings.py", "service.py", "config.schema.json")


def _module(dotted: str) -> str:
    return dotted.partition(":")[0].rsplit(".", 1)[-1]


def test_the_builtin_channels() -> None:
    assert BUILTINS == ["ami", "cap", "dc09", "jt808", "smpp", "smtp", "systems", "telegram", "web"]


@pytest.mark.parametrize("code", BUILTINS)
def test_a_channel_folder_has_the_same_file_names(code: str) -> None:
    """The same few files in each folder, each part of the declaration in its file:
    service → service.py, settings and their check → settings.py, actions and routes →
    http.py, views and tasks → views.py, tables → tables.py, migrations → migrations/,
    the intake hook → intake.py, the notifier → duty.py, metrics → metrics.py."""
    channel = declaration(code)
    for name in REQUIRED:
        assert resource(channel, name).is_file(), f"{code}: no {name}"
    where: list[tuple[str | None, str]] = [
        (channel.service, "service"),
        (channel.settings, "settings"),
        (channel.config_check, "settings"),
        (channel.intake_hook, "intake"),
        (channel.notifier, "duty"),
        (channel.metrics, "metrics"),
        (channel.tasks, "views"),
        (channel.openapi_components, "http"),
        *((a.handler, "http") for a in channel.actions),
        *((a.response, "http") for a in channel.actions),
        *((r.handler, "http") for r in channel.routes),
        *((r.openapi, "http") for r in channel.routes),
        *((v.render, "views") for v in channel.views),
        *((v.schema, "views") for v in channel.views),
    ]
    for dotted, module in where:
        if dotted is not None:
            assert _module(dotted) == module, f"{code}: {dotted} belongs in {module}.py"
            resolve(dotted)  # and it is there
    if channel.tables:
        assert channel.tables == f"{channel.package}.tables"
        assert channel.migrations == "migrations"
        assert any(resource(channel, "migrations").iterdir())
    assert channel.report_channel and channel.title


@pytest.mark.parametrize("code", BUILTINS)
def test_declaring_imports_nothing_of_the_channel(code: str) -> None:
    """Only the declaration is imported to learn of a channel: its service, protocol
    libraries and store code wait until the channel is enabled."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from gateway.discovery import declaration\n"
            f"declaration({code!r})\n"
            f"print(sorted(m for m in sys.modules if m.startswith('gateway.channels.{code}.')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_the_core_names_no_channel() -> None:
    """The issue's own check: the core (intake, workflow, store, HTTP, notifiers) imports
    no channel module and has no channel's persistence."""
    found = subprocess.run(
        [
            "git",
            "grep",
            "-nE",
            r"channels\.(ami|smpp|web)|workflow\.(calls|sms)",
            "--",
            "gateway/intake.py",
            "gateway/workflow/",
            "gateway/store/",
            "gateway/http/",
            "gateway/notify/",
            "gateway/app.py",
            "gateway/config.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert found.stdout == ""
    assert not (ROOT / "gateway/workflow/calls.py").exists()
    assert not (ROOT / "gateway/workflow/sms.py").exists()


def test_declarations_are_channels() -> None:
    for code in installed():
        assert isinstance(declaration(code), Channel)
