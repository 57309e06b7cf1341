"""Private files: the warehouse, staging and c1z files hold personal data.

They are created with LITMOS_FILE_MODE (default 0600; folders get the matching 0700).
DuckDB and SQLite create files of their own (the WAL, temp and spill files, the c1z's
build file), which only the process umask reaches, so `protect_process` sets it; worker
processes inherit it and set it again. Files an older version left more permissive are
tightened when they are opened.

No pydantic here: the lean worker processes use this module too. The value is checked by
`parse_mode`, which `settings.FileSettings` runs as well (settings imports this module,
never the other way round); either reports a bad value as a SettingsError naming the
variable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from litmos_pipeline.errors import settings_error

FILE_MODE_ENV = "LITMOS_FILE_MODE"
DEFAULT_FILE_MODE = 0o600
_OWNER_RW = 0o600
_EXECUTE = 0o111


def parse_mode(value: Any) -> int:
    """An octal permission string ("0600", "640", "0o640") as an int; ValueError if bad.

    The owner must read and write; no execute, setuid, setgid or sticky bits (these are
    data files). The message never repeats the value.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        if not text or any(ch not in "01234567" for ch in text) or len(text) > 4:
            raise ValueError("expected an octal file mode such as 0600 or 0640")
        mode = int(text, 8)
    else:
        raise ValueError("expected an octal file mode such as 0600 or 0640")
    if mode & ~0o777 or mode & _EXECUTE or mode & _OWNER_RW != _OWNER_RW:
        raise ValueError("expected an octal file mode with owner read and write and no "
                         "execute or special bits, such as 0600 or 0640")
    return mode


def file_mode(environ: Mapping[str, str] | None = None) -> int:
    """LITMOS_FILE_MODE from the environment (default 0600); SettingsError if malformed."""
    raw = (os.environ if environ is None else environ).get(FILE_MODE_ENV) or ""
    if not raw.strip():
        return DEFAULT_FILE_MODE
    try:
        return parse_mode(raw)
    except ValueError as exc:
        raise settings_error([(FILE_MODE_ENV, str(exc))]) from None


def dir_mode(mode: int) -> int:
    """The folder mode matching a file mode: search (x) wherever read is allowed."""
    return mode | ((mode & 0o444) >> 2)


def protect_process(mode: int | None = None) -> int:
    """Set the umask so every file this process (and its children) creates gets `mode`.

    Files are created 0666 and folders 0777 before the umask, so the mask of the folder
    mode gives both their modes. Returns the file mode.
    """
    mode = file_mode() if mode is None else mode
    os.umask(0o777 & ~dir_mode(mode))
    return mode


def tighten(path: Path, mode: int | None = None) -> None:
    """Drop permission bits beyond `mode` (folders: its folder mode) from an existing path.

    Never widens a mode, and leaves paths of other owners and shared sticky folders (such
    as /tmp) alone.
    """
    mode = file_mode() if mode is None else mode
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid != os.geteuid() or info.st_mode & stat.S_ISVTX:
        return
    wanted = dir_mode(mode) if stat.S_ISDIR(info.st_mode) else mode
    current = stat.S_IMODE(info.st_mode)
    if current & ~wanted:
        os.chmod(path, current & wanted)


def private_dir(path: Path, mode: int | None = None, *, pattern: str | None = None) -> Path:
    """Create `path` private (missing parents as the umask says), or tighten it if it exists.

    With `pattern`, files matching it directly inside are tightened too (files an older
    version wrote). Call `protect_process` first for what gets created inside later.
    """
    mode = file_mode() if mode is None else mode
    path.mkdir(mode=dir_mode(mode), parents=True, exist_ok=True)
    tighten(path, mode)
    if pattern:
        for child in path.glob(pattern):
            tighten(child, mode)
    return path


def prune_newest(folder: Path, pattern: str, keep: int, *, spare: str = "") -> int:
    """Remove all but the `keep` newest files matching `pattern` (by mtime), never the
    one named `spare` (latest.c1z, a link to one of them); how many were removed."""
    found = sorted((p for p in folder.glob(pattern) if p.name != spare),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        old.unlink(missing_ok=True)
    return len(found[keep:])
