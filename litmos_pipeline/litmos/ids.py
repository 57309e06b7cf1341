"""What a Litmos id may look like, checked before an id goes into a URL path.

Litmos ids are opaque strings like `mVN_K4Q9yuQ1` (url-safe base64 letters). Escaping
alone is not enough for a path: `quote` leaves `.` alone, and httpx resolves dot
segments, so an id of `..` would turn `DELETE /users/u1/courses/..` into
`DELETE /users/u1`. An allowlist leaves nothing to escape and nothing to resolve.
"""

from __future__ import annotations

import re
from typing import Final

# The same rule in Python (re) and DuckDB (RE2): keep it to syntax both read alike.
ID_PATTERN: Final = "[A-Za-z0-9_-]{1,100}"
ID_RULE: Final = "1 to 100 characters of A-Z, a-z, 0-9, '_' and '-'"
_ID: Final = re.compile(ID_PATTERN)
_SHOWN: Final = 80  # characters of a refused value quoted in an error


class UnsafeIdError(ValueError):
    """An id no Litmos id looks like: refused before it reaches a URL path or a C1 id."""


def is_litmos_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: object, what: str) -> str:
    """`value` if it can be a Litmos id; raises UnsafeIdError naming it and `what`."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise UnsafeIdError(f"refusing {what} {shown(value)}: a Litmos id is {ID_RULE}")


def path_segment(value: object, what: str) -> str:
    """The one way an id enters a URL path: checked, so it needs no escaping."""
    return check_id(value, what)


def shown(value: object) -> str:
    """A value for an error message: repr (control characters escaped), cut short."""
    if isinstance(value, str) and len(value) > _SHOWN:
        return f"{value[:_SHOWN]!r}… ({len(value)} characters)"
    return repr(value)
