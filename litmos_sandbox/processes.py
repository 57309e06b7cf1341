"""Start the sandboxes and Dagster in their own processes, and stop them cleanly.

Used by the demo, the benchmarks and end-to-end tests. Children get their own process
group with default signal handlers (CI's background processes may ignore SIGINT), and
are stopped with SIGINT to the group, then SIGKILL if they linger.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from litmos_pipeline.cli.common import last_line


def _reset_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    info: dict[str, Any]
    log_path: Path | None = None

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGINT to the group, wait for the leader; then end whatever it left behind.

        The daemon's code servers share its group but may outlive it (seen: `dagster api
        grpc` ignoring SIGINT), so the group is cleared after the leader exits.
        """
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        _signal_group(self.process.pid, signal.SIGTERM)
        time.sleep(0.2)
        _signal_group(self.process.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start(name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
          ready_json: bool = True, log_path: Path | None = None,
          cwd: Path | None = None, timeout_s: float = 120.0) -> Child:
    """Start `argv`; with `ready_json`, wait for the one JSON line it prints when ready."""
    stderr: IO[bytes] | int
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        stderr = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    else:
        stderr = subprocess.DEVNULL
    process = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE if ready_json else stderr, stderr=stderr,
        stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None, cwd=cwd,
        start_new_session=True, preexec_fn=_reset_signals,
    )
    info: dict[str, Any] = {}
    if ready_json:
        info = _read_ready_line(name, process, timeout_s, log_path)
    return Child(name, process, info, log_path)


def _read_ready_line(name: str, process: subprocess.Popen[bytes],
                     timeout_s: float, log_path: Path | None = None) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    os.set_blocking(process.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        chunk = process.stdout.read()
        if chunk:
            buffer += chunk
            for line in buffer.splitlines():
                if line.strip().startswith(b"{"):
                    return json.loads(line)
        if process.poll() is not None:
            reason = last_line(log_path)
            raise RuntimeError(f"{name} exited with code {process.returncode} before it was "
                               "ready" + (f": {reason}" if reason else ""))
        time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"{name} was not ready within {timeout_s:.0f}s")


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def start_litmos_sandbox(*args: str, log_path: Path | None = None) -> Child:
    return start("litmos sandbox",
                 python_module("litmos_sandbox", "litmos", "--port", "0", *args),
                 log_path=log_path)


def start_c1_sandbox(*args: str, log_path: Path | None = None) -> Child:
    return start("c1 sandbox",
                 python_module("litmos_sandbox", "c1", "serve", *args),
                 log_path=log_path)
