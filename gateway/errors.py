"""Errors that are the caller's fault (permanent) as opposed to the store's (temporary,
`gateway.store.engine.StoreUnavailable`). Each channel maps the two to its protocol's answer."""

from __future__ import annotations


class DomainError(Exception):
    """A request the gateway understood and refuses: retrying it unchanged will not help."""

    kind = "invalid"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the parameter at fault (HTTP: the error's "field"), if one is


class NotFound(DomainError):
    kind = "not_found"


class NothingToJoin(DomainError):
    """A follow-up report (`Report.follow_up`: an alarm panel's restoral) found no open
    incident to join: nothing was stored. Not the sender's fault: its channel answers as for
    a stored report and keeps the signal in its own records."""

    kind = "nothing_to_join"


class ChannelUnavailable(Exception):
    """A channel's peer (Asterisk, an SMSC, …) cannot be reached just now: temporary."""
