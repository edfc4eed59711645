"""Which channels exist and which are enabled: the one place the core finds them.

A channel is a package exporting ``CHANNEL`` (a `gateway.channel.Channel`): the folders of
`gateway.channels`, and any installed distribution's entry point in the ``alarmgw.channels``
group (``pager = "alarmgw_pager"``). Finding them reads names only; a declaration is imported when a
``[channels.<code>]`` section names it (or, for one enabled by default such as ``web``, to
learn that), and its service and the rest only once it is enabled.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Mapping
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from typing import Any

from gateway.channel import Channel

ENTRY_POINTS = "alarmgw.channels"
BUILTIN = "gateway.channels"


class UnknownChannel(LookupError):
    pass


def installed() -> dict[str, str]:
    """code → the package declaring it (nothing imported)."""
    found: dict[str, str] = {}
    builtin = importlib.import_module(BUILTIN)
    for info in pkgutil.iter_modules(builtin.__path__):
        if info.ispkg and not info.name.startswith("_"):
            found[info.name] = f"{BUILTIN}.{info.name}"
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        found.setdefault(ep.name, ep.value.partition(":")[0])
    return dict(sorted(found.items()))


@functools.cache
def declaration(code: str) -> Channel:
    """The declaration of channel `code` (its package's ``CHANNEL``)."""
    package = installed().get(code)
    if package is None:
        raise UnknownChannel(code)
    channel = importlib.import_module(package).CHANNEL
    if not isinstance(channel, Channel) or channel.code != code:
        raise TypeError(f"{package}.CHANNEL is not the declaration of channel {code!r}")
    return dataclasses.replace(channel, package=package)


def enabled(sections: Mapping[str, Mapping[str, Any]]) -> tuple[Channel, ...]:
    """The enabled channels: those whose section says ``enabled = true``, and those enabled
    by default that no section turns off. Web first, then by code: the order they start in."""
    out = []
    for code in installed():
        section = sections.get(code)
        if section is None:
            if code in _default_on():
                out.append(declaration(code))
        elif section.get("enabled", declaration(code).enabled_by_default):
            out.append(declaration(code))
    return tuple(sorted(out, key=lambda c: (not c.enabled_by_default, c.code)))


@functools.cache
def _default_on() -> frozenset[str]:
    return frozenset(code for code in installed() if declaration(code).enabled_by_default)


def resource(channel: Channel, name: str) -> Traversable:
    """A file of the channel's package (its config schema, its migrations)."""
    return resources.files(channel.package).joinpath(name)
