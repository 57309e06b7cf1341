"""Errors that lean modules raise too: nothing here imports pydantic or Dagster.

`files` (used by the worker processes) and `settings` (pydantic) both report a bad
setting; the error class and its wording live here so that neither imports the other
for it.
"""

from __future__ import annotations

from collections.abc import Iterable


class SettingsError(ValueError):
    """A missing or malformed setting; the message names the environment variable."""


def settings_error(problems: Iterable[tuple[str, str]]) -> SettingsError:
    """One error for (variable, reason) pairs; a reason never carries the value."""
    return SettingsError("Invalid settings: " + "; ".join(f"{name} {reason}"
                                                          for name, reason in problems))
