"""HTTP on loopback: the token endpoint and the JSON control API under /_sandbox."""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.protobuf import json_format

from litmos_pipeline.c1.credentials import TOKEN_PATH
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_sandbox.c1.auth import AuthError
from litmos_sandbox.c1.core import SandboxCore
from litmos_sandbox.c1.records import CONTROL_PREFIX
from litmos_sandbox.c1.views import finish_json, message_json, task_json, upload_json


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpHandler(BaseHTTPRequestHandler):
    owner: SandboxCore  # set by the per-sandbox subclass
    server_version = "c1-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        # Silence per-request stderr logging; bodies hold assertions and tokens.
        return

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        try:
            if path == TOKEN_PATH:
                self._token()
            elif path.startswith(CONTROL_PREFIX + "/"):
                self._send_json(200, self._control_post(path[len(CONTROL_PREFIX) :]))
            else:
                raise _HttpError(404, f"no route POST {path}")
        except _HttpError as exc:
            self._send_json(exc.status, {"error": str(exc)})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if not path.startswith(CONTROL_PREFIX + "/"):
                raise _HttpError(404, f"no route GET {path}")
            self._send_json(200, self._control_get(path[len(CONTROL_PREFIX) :], query))
        except _HttpError as exc:
            self._send_json(exc.status, {"error": str(exc)})

    # --- token endpoint ---

    def _token(self) -> None:
        body = self._read_body()
        fault = self.owner._take_token_fault()
        if fault == "down":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "500":
            self._send_json(500, {"error": "server_error"})
            return
        if "application/x-www-form-urlencoded" not in self.headers.get("Content-Type", ""):
            self._send_json(400, {"error": "invalid_request"})
            return
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        try:
            self._send_json(200, self.owner.issue_token(form))
        except AuthError as exc:
            with self.owner._lock:
                self.owner._event("token_rejected", detail=exc.reason)
            # Reasons are the sandbox's own phrases, never request content.
            self._send_json(exc.status, {"error": exc.error, "error_description": exc.reason})

    # --- control API ---

    def _control_post(self, route: str) -> dict[str, Any]:
        data = self._read_json()
        sb = self.owner
        try:
            if route == "/clients":
                client_id, secret = sb.register_client(str(data.get("name") or "sandbox"))
                return {"client_id": client_id, "client_secret": secret}
            if route == "/tasks/sync_full":
                return {"task_id": sb.enqueue_sync_full(**_sync_full_args(data))}
            if route == "/tasks/grant":
                return {"task_id": sb.enqueue_grant(*_grant_args(data))}
            if route == "/tasks/revoke":
                return {"task_id": sb.enqueue_revoke(_revoke_arg(data))}
            if route == "/tasks/create_account":
                return {"task_id": sb.enqueue_create_account(**_create_account_args(data))}
            if route == "/tasks/action_invoke":
                return {"task_id": sb.enqueue_action_invoke(str(data["name"]),
                                                            str(data["user_id"]))}
            if route == "/tasks/action_list_schemas":
                return {"task_id": sb.enqueue_action_list_schemas(
                    str(data.get("resource_type_id") or ""))}
            if route == "/tasks/action_get_schema":
                return {"task_id": sb.enqueue_action_get_schema(str(data["name"]))}
            if route == "/tasks/action_status":
                return {"task_id": sb.enqueue_action_status(str(data["id"]),
                                                            str(data.get("name") or ""))}
            if route.startswith("/tasks/") and route.endswith("/cancel"):
                task_id = route[len("/tasks/") : -len("/cancel")]
                sb.cancel(task_id)
                return {"task_id": task_id, "cancel_requested": True}
            if route == "/uploads/reject_next":
                count = int(data.get("count", 1))
                sb.reject_next_uploads(count)
                return {"rejecting_next": count}
            if route == "/faults/grpc":
                sb.fail_next_calls(str(data["method"]), int(data.get("count", 1)))
                return {"failing_next": data.get("count", 1), "method": data["method"]}
            if route == "/faults/token":
                sb.fail_next_token_requests(int(data.get("count", 1)),
                                            str(data.get("kind", "500")))
                return {"failing_next": data.get("count", 1)}
            if route == "/uploads/cut_next":
                sb.cut_next_uploads(int(data.get("count", 1)))
                return {"cutting_next": data.get("count", 1)}
            if route == "/tokens/revoke":
                sb.revoke_tokens()
                return {"revoked": True}
        except KeyError as exc:
            raise _HttpError(404, str(exc.args[0]) if exc.args else "not found") from None
        except (ValueError, TypeError, json_format.ParseError) as exc:
            raise _HttpError(400, str(exc)) from None
        raise _HttpError(404, f"no route POST {CONTROL_PREFIX}{route}")

    def _control_get(self, route: str, query: dict[str, str]) -> dict[str, Any]:
        sb = self.owner
        task_id = query.get("task_id")
        if route == "/health":
            return {"ok": True, "grpc_target": sb.grpc_target, "tenant_host": sb.tenant_host}
        if route == "/tasks":
            return {"tasks": [task_json(t) for t in sb.tasks()]}
        if route.startswith("/tasks/"):
            try:
                return task_json(sb.task(route[len("/tasks/") :]))
            except KeyError as exc:
                raise _HttpError(404, str(exc.args[0])) from None
        if route == "/finishes":
            records = [f for f in sb.finishes if task_id is None or f.task_id == task_id]
            return {"finishes": [finish_json(f) for f in records]}
        if route == "/uploads":
            return {"uploads": [upload_json(u) for u in sb.uploads(task_id)]}
        if route == "/hellos":
            return {"hellos": [message_json(h) for h in sb.hellos]}
        if route == "/capabilities":
            return {"capabilities": sorted(sb.capabilities())}
        if route == "/events":
            return {"events": [vars(e) for e in sb.events]}
        raise _HttpError(404, f"no route GET {CONTROL_PREFIX}{route}")

    # --- plumbing ---

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1024 * 1024:
            raise _HttpError(413, "request body too large")
        return self.rfile.read(length) if length else b""

    def _read_json(self) -> dict[str, Any]:
        body = self._read_body()
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except ValueError:
            raise _HttpError(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise _HttpError(400, "the body must be a JSON object")
        return data

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _grant_args(data: dict[str, Any]) -> tuple[v2.Entitlement | str, v2.Resource | str]:
    if "entitlement" in data:
        entitlement: v2.Entitlement | str = json_format.ParseDict(
            data["entitlement"], v2.Entitlement()
        )
    elif "entitlement_id" in data:
        entitlement = str(data["entitlement_id"])
    else:
        raise ValueError("give entitlement_id (e.g. 'course:c1:assigned') or entitlement")
    raw = data.get("principal")
    if isinstance(raw, dict):
        principal: v2.Resource | str = json_format.ParseDict(raw, v2.Resource())
    elif isinstance(raw, str) and raw:
        principal = raw
    else:
        raise ValueError("give principal ('user:<id>') or a Resource object")
    return entitlement, principal


def _sync_full_args(data: dict[str, Any]) -> dict[str, Any]:
    """Targets as `'<type>:<id>'` strings, type ids, the skip flags; all optional."""
    return {"targets": tuple(str(t) for t in data.get("targets") or ()),
            "resource_type_ids": tuple(str(t) for t in data.get("resource_type_ids") or ()),
            "skip_entitlements_and_grants": bool(data.get("skip_entitlements_and_grants")),
            "skip_grants": bool(data.get("skip_grants"))}


def _revoke_arg(data: dict[str, Any]) -> v2.Grant | str:
    if "grant" in data:
        return json_format.ParseDict(data["grant"], v2.Grant())
    if "grant_id" in data:
        return str(data["grant_id"])
    raise ValueError("give grant_id (e.g. 'course:c1:assigned:user:u1') or grant")


def _create_account_args(data: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("login", "email", "given_name", "family_name") if not data.get(k)]
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    profile = data.get("profile")
    return {
        "login": str(data["login"]),
        "email": str(data["email"]),
        "given_name": str(data["given_name"]),
        "family_name": str(data["family_name"]),
        "profile": profile if isinstance(profile, dict) else None,
        "credential": str(data.get("credential") or "no_password"),
    }
