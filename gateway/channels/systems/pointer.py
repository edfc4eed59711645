"""JSON Pointer (RFC 6901): where in a system's JSON a report field is."""

from __future__ import annotations

import re
from typing import Any

# RFC 6901 §4: an array index is "0" or digits without a leading zero ("-" names the
# element after the last one: nothing to read).
_INDEX = re.compile(r"0|[1-9][0-9]*", re.ASCII)


class Missing:
    """What a pointer finds where the document has nothing."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()


def parse(pointer: str) -> tuple[str, ...]:
    """The reference tokens of `pointer`, unescaped; ValueError for what is not one."""
    if pointer == "":
        return ()  # the whole document
    if not pointer.startswith("/"):
        raise ValueError(f"{pointer!r} is not a JSON Pointer (RFC 6901): it starts with /")
    tokens = pointer[1:].split("/")
    for token in tokens:
        # §3: "~" only as "~0" (a tilde) and "~1" (a slash).
        if re.search(r"~(?![01])", token):
            raise ValueError(f"{pointer!r} is not a JSON Pointer (RFC 6901): ~ must be ~0 or ~1")
    # §4: ~1 first, then ~0, so that "~01" is "~1", not "/".
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in tokens)


def resolve(doc: Any, tokens: tuple[str, ...]) -> Any:
    """The value at `tokens` in `doc`, or MISSING (also for JSON null: no value)."""
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                return MISSING
            node = node[token]
        elif isinstance(node, list):
            # A body is at most http.max_body: no list of it has a ten-digit index (and
            # int() refuses over 4300 digits).
            if len(token) > 9 or not _INDEX.fullmatch(token) or int(token) >= len(node):
                return MISSING
            node = node[int(token)]
        else:
            return MISSING
    return MISSING if node is None else node
