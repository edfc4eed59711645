"""The API's schemas as this gateway serves them: the core's files (`schemas/`) with what
the enabled channels add — their incident actions and parameters in the action schema,
their views under their keys in the incident schema. The HTTP API validates with these and
the OpenAPI document publishes them, so the two never disagree."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.channel import Channel, resolve
from gateway.schemas import load_schema, with_categories
from gateway.workflow.documents import CORE_KEYS


def action_schema(
    channels: Sequence[Channel],
    categories: Mapping[str, str] | None = None,
    units: Sequence[str] = (),
) -> dict[str, Any]:
    """`action.schema.json` with the channels' actions and their parameters, and the city's
    category codes (code → name) and unit codes when given."""
    schema = with_categories(
        copy.deepcopy(load_schema("action.schema.json")), "action.schema.json", categories
    )
    if units:
        schema["properties"]["unit"] = {"enum": list(units)}
    names: list[str] = schema["properties"]["action"]["enum"]
    props: dict[str, Any] = schema["properties"]
    for channel in channels:
        for action in channel.actions:
            if action.name in names:
                raise ValueError(f"channel {channel.code}: action {action.name!r} is taken")
            names.append(action.name)
            for name, param in action.params.items():
                if name in props and props[name] != param:
                    raise ValueError(
                        f"channel {channel.code}: parameter {name!r} of {action.name} "
                        "differs from the one already declared"
                    )
                props[name] = dict(param)
    return schema


def incident_schema(channels: Sequence[Channel]) -> dict[str, Any]:
    """`incident.schema.json` with each channel's views under their keys."""
    schema = copy.deepcopy(load_schema("incident.schema.json"))
    for channel in channels:
        for view in channel.views:
            if view.key in CORE_KEYS or view.key in schema["properties"]:
                raise ValueError(f"channel {channel.code}: view key {view.key!r} is taken")
            described = {"description": f"{view.description} ([channels.{channel.code}])"}
            schema["properties"][view.key] = described | copy.deepcopy(resolve(view.schema))
    return schema


def channel_actions(channels: Sequence[Channel]) -> dict[str, tuple[Channel, Any]]:
    """action name → (its channel, its declaration)."""
    return {a.name: (c, a) for c in channels for a in c.actions}
