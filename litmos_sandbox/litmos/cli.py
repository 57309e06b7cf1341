"""``python -m litmos_sandbox litmos``: serve a generated tenant until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable

from litmos_sandbox.litmos.app import DEFAULT_API_KEY
from litmos_sandbox.litmos.faults import FaultConfig
from litmos_sandbox.litmos.server import LitmosSandbox, is_loopback
from litmos_sandbox.litmos.tenant import REMOVAL_MODES, TenantSpec


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="litmos-sandbox",
        description="Serve a synthetic Litmos tenant on loopback. Prints one JSON line "
                    '{"base_url", "api_key", "pid"} when ready; stops on SIGINT/SIGTERM.')
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    p.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    p.add_argument("--preset", choices=TenantSpec.preset_names(), default="small",
                   help="tenant size; --users/--teams/--courses/--enrollments override it")
    for name in ("users", "teams", "courses", "enrollments"):
        p.add_argument(f"--{name}", type=int, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--api-key", default=DEFAULT_API_KEY)
    p.add_argument("--rate-limit", type=int, default=100,
                   help="requests per minute per API key (0: off)")
    p.add_argument("--rate-window", type=float, default=60.0, help="rate window in seconds")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fail-rate", type=float, default=0.0,
                   help="share of requests answered 503 or 504 (half each)")
    p.add_argument("--drop-rate", type=float, default=0.0,
                   help="share of requests whose connection is closed unanswered")
    p.add_argument("--slow-rate", type=float, default=0.0)
    p.add_argument("--slow-ms", type=float, default=2000.0)
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--delta-removals", choices=REMOVAL_MODES, default="active_false",
                   help="how the delta queries (/org/...) report a removed record: as "
                        "Active=false, or not at all")
    p.add_argument("--verbose", action="store_true", help="log one line per request")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if not is_loopback(args.host):
        print(f"litmos-sandbox: --host must be a loopback address, got {args.host!r}",
              file=sys.stderr)
        return 2
    overrides = {k: getattr(args, k) for k in ("users", "teams", "courses", "enrollments")
                 if getattr(args, k) is not None}
    try:
        spec = TenantSpec.preset(args.preset, seed=args.seed, **overrides)
        faults = FaultConfig.from_rates(fail_rate=args.fail_rate, drop_rate=args.drop_rate,
                                        slow_rate=args.slow_rate, slow_ms=args.slow_ms,
                                        latency_ms=args.latency_ms, seed=args.fault_seed)
        sandbox = LitmosSandbox(spec, api_key=args.api_key,
                                rate_limit_per_minute=args.rate_limit or None,
                                rate_window_seconds=args.rate_window, faults=faults,
                                host=args.host, port=args.port, verbose=args.verbose,
                                delta_removals=args.delta_removals)
    except (ValueError, OSError) as exc:
        print(f"litmos-sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    try:
        ready = {"base_url": sandbox.base_url, "api_key": sandbox.api_key, "pid": os.getpid()}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.close()
        restore()
    return 0


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
