"""The CAP channel's settings (`[channels.cap]`): how an incoming alert's ``event``,
``category``, ``urgency``, ``severity`` and ``certainty`` map to this city's category and
priority (ordered rules, the first that matches wins), and what the outgoing feed says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# CAP 1.2 §3.2.2 severity → our priority (1 红 … 4 蓝) when no rule gives one; Unknown
# leaves it to the category's default.
PRIORITY_OF_SEVERITY: Mapping[str, int] = {"Extreme": 1, "Severe": 2, "Moderate": 3, "Minor": 4}

# Our category → CAP 1.2 §3.2.2 category in the feed, unless [channels.cap.feed_categories]
# says otherwise; anything else is "Security" (law enforcement, CAP's own gloss).
FEED_CATEGORIES: Mapping[str, str] = {
    "fire": "Fire",
    "traffic": "Transport",
    "disaster": "Safety",
    "assistance": "Rescue",
}


@dataclass(frozen=True)
class Rule:
    """`[[channels.cap.rules]]`: every matcher given must match (an info's ``event`` holds
    `event` as a substring, case-insensitively; one of its ``category`` values is in
    `cap_category`; its urgency, severity, certainty are among those listed)."""

    category: str
    priority: int | None = None
    event: tuple[str, ...] = ()
    cap_category: tuple[str, ...] = ()
    urgency: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    certainty: tuple[str, ...] = ()

    def matches(
        self, event: str, categories: tuple[str, ...], urgency: str, severity: str, certainty: str
    ) -> bool:
        folded = event.casefold()
        return (
            (not self.event or any(e.casefold() in folded for e in self.event))
            and (not self.cap_category or any(c in self.cap_category for c in categories))
            and (not self.urgency or urgency in self.urgency)
            and (not self.severity or severity in self.severity)
            and (not self.certainty or certainty in self.certainty)
        )


MATCHERS = ("event", "cap_category", "urgency", "severity", "certainty")


@dataclass(frozen=True)
class CapSettings:
    enabled: bool = False
    sender: str | None = None  # the feed's <sender>; default "alarmgw-<city code>"
    default_category: str = "other"  # when no rule matches
    rules: tuple[Rule, ...] = ()
    feed_categories: Mapping[str, str] = field(default_factory=dict)
    feed_title: str | None = None  # default "<city name> 110 警情 (CAP 1.2)"
    feed_limit: int = 50  # entries per page of the feed (?limit= up to 500)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> CapSettings:
        """`raw` has passed the channel's config.schema.json."""
        fields = {k: v for k, v in raw.items() if k not in ("rules", "feed_categories")}
        rules = tuple(_rule(r) for r in raw.get("rules", ()))
        return cls(rules=rules, feed_categories=dict(raw.get("feed_categories", {})), **fields)


def _rule(raw: Mapping[str, Any]) -> Rule:
    matchers = {
        k: (raw[k],) if isinstance(raw[k], str) else tuple(raw[k]) for k in MATCHERS if k in raw
    }
    return Rule(category=raw["category"], priority=raw.get("priority"), **matchers)


def config_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say. (That each category exists is checked at start, where the
    city's categories are known.)"""
    problems: list[tuple[str, str]] = []
    rules = section.get("rules", ())
    for i, rule in enumerate(rules):
        if i < len(rules) - 1 and not any(k in rule for k in MATCHERS):
            problems.append(
                (
                    f"rules[{i}]",
                    "matches every alert, so the rules after it never apply "
                    f"(give one of {', '.join(MATCHERS)}, or move it last)",
                )
            )
        for key in MATCHERS:
            if key in rule and not isinstance(rule[key], str) and not rule[key]:
                problems.append((f"rules[{i}].{key}", "an empty list matches nothing"))
    return problems
