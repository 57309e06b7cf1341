"""The c1z exceptions: every writer and reader error is a C1zError."""

from __future__ import annotations


class C1zError(Exception):
    """Base class for c1z problems."""


class C1zInputError(C1zError, ValueError):
    """The c1_* tables handed to the writer are missing or hold invalid records."""


class C1zFormatError(C1zError):
    """A file is not a readable version-1 c1z (wrong magic, corrupt, truncated)."""
