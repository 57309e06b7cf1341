"""`python -m litmos_sandbox c1 <command>`: run a C1 sandbox, or drive a running one."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from litmos_sandbox.c1.records import CONTROL_PREFIX, SANDBOX_TENANT_HOST
from litmos_sandbox.c1.sandbox import C1Sandbox


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m litmos_sandbox c1 <command>`; argv holds what follows `c1`."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except httpx.HTTPError as exc:
        print(f"c1 sandbox: cannot reach the control API: {exc}", file=sys.stderr)
        return 2
    except _ControlError as exc:
        print(f"c1 sandbox: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litmos_sandbox c1",
        description="Run, or drive a running, C1 sandbox (token endpoint + BatonService).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run a sandbox until SIGINT/SIGTERM")
    serve.add_argument("--http-port", type=int, default=0, help="token + control API port")
    serve.add_argument("--grpc-port", type=int, default=0, help="BatonService port")
    serve.add_argument("--tenant-host", default=SANDBOX_TENANT_HOST)
    serve.add_argument("--client-name", default="sandbox")
    serve.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
    serve.add_argument("--lease-timeout", type=float, default=30.0, help="seconds")
    serve.add_argument("--next-poll", type=float, default=1.0, help="seconds")
    serve.add_argument("--next-heartbeat", type=float, default=5.0, help="seconds")
    serve.add_argument("--data-dir", help="keep uploads here (default: a temp dir, removed)")
    serve.set_defaults(func=_cmd_serve)

    def control(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--api-url", required=True, help="the running sandbox's api_url")
        p.set_defaults(func=func)
        return p

    control("register-client", "register another client", _cmd_register).add_argument(
        "--name", default="sandbox"
    )
    control("enqueue-sync", "queue a sync_full task", _cmd_enqueue_sync)
    grant = control("enqueue-grant", "queue a grant task", _cmd_enqueue_grant)
    grant.add_argument("--entitlement", required=True, help="e.g. course:c1:assigned")
    grant.add_argument("--principal", required=True, help="e.g. user:u42")
    revoke = control("enqueue-revoke", "queue a revoke task", _cmd_enqueue_revoke)
    revoke.add_argument("--grant", required=True, help="e.g. course:c1:assigned:user:u42")
    account = control("enqueue-create-account", "queue a create_account task", _cmd_enqueue_acct)
    for flag in ("--login", "--email", "--given-name", "--family-name"):
        account.add_argument(flag, required=True)
    cancel = control("cancel", "cancel a task", _cmd_cancel)
    cancel.add_argument("--task-id", required=True)
    control("tasks", "list tasks", lambda a: _print(_control(a, "GET", "/tasks")))
    control("finishes", "list FinishTask calls", lambda a: _print(_control(a, "GET", "/finishes")))
    control("uploads", "list accepted uploads", lambda a: _print(_control(a, "GET", "/uploads")))
    control("events", "list sandbox events", lambda a: _print(_control(a, "GET", "/events")))
    return parser


class _ControlError(Exception):
    pass


def _control(
    args: argparse.Namespace, method: str, route: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    url = args.api_url.rstrip("/") + CONTROL_PREFIX + route
    with httpx.Client(timeout=10.0) as http:
        resp = http.request(method, url, json=body if method == "POST" else None)
    try:
        payload = resp.json()
    except ValueError:
        raise _ControlError(f"{method} {route}: HTTP {resp.status_code}, not JSON") from None
    if resp.status_code != 200:
        raise _ControlError(f"{method} {route}: HTTP {resp.status_code}: {payload.get('error')}")
    return payload


def _print(payload: dict[str, Any]) -> int:
    print(json.dumps(payload, indent=2, sort_keys=True))
    return 0


def _cmd_register(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", "/clients", {"name": args.name}))


def _cmd_enqueue_sync(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", "/tasks/sync_full", {}))


def _cmd_enqueue_grant(args: argparse.Namespace) -> int:
    body = {"entitlement_id": args.entitlement, "principal": args.principal}
    return _print(_control(args, "POST", "/tasks/grant", body))


def _cmd_enqueue_revoke(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", "/tasks/revoke", {"grant_id": args.grant}))


def _cmd_enqueue_acct(args: argparse.Namespace) -> int:
    body = {
        "login": args.login,
        "email": args.email,
        "given_name": args.given_name,
        "family_name": args.family_name,
    }
    return _print(_control(args, "POST", "/tasks/create_account", body))


def _cmd_cancel(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", f"/tasks/{args.task_id}/cancel", {}))


def _cmd_serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sandbox = C1Sandbox(
        tenant_host=args.tenant_host,
        token_lifetime_s=args.token_lifetime,
        lease_timeout_s=args.lease_timeout,
        next_poll_s=args.next_poll,
        next_heartbeat_s=args.next_heartbeat,
        data_dir=args.data_dir,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
    )
    try:
        with sandbox:
            client_id, client_secret = sandbox.register_client(args.client_name)
            ready = {
                "api_url": sandbox.api_url,
                "grpc_target": sandbox.grpc_target,
                "tenant_host": sandbox.tenant_host,
                "client_id": client_id,
                "client_secret": client_secret,
                "pid": os.getpid(),
            }
            print(json.dumps(ready), flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
