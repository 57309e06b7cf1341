"""Client credentials as a real tenant checks them: registered clients, issued tokens,
and the EdDSA-signed client assertion (a compact JWS)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from litmos_pipeline.c1.credentials import b64url_decode

# Assertions are signed for a short window; refuse ones claiming a long life.
MAX_ASSERTION_WINDOW_S = 10 * 60
CLOCK_LEEWAY_S = 5.0


@dataclass
class ClientRecord:
    client_id: str
    tenant_host: str
    public_key: Ed25519PublicKey = field(repr=False)


@dataclass
class IssuedToken:
    client_id: str
    expires_at: float


class AuthError(Exception):
    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason


def verify_jwt(
    assertion: str, public_key: Ed25519PublicKey
) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise AuthError(401, "invalid_client", "client_assertion is not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError:
        raise AuthError(401, "invalid_client", "client_assertion is not valid JWS") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError(401, "invalid_client", "client_assertion is not valid JWS")
    if header.get("alg") != "EdDSA":
        raise AuthError(401, "invalid_client", "client_assertion must be signed with EdDSA")
    try:
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except (InvalidSignature, UnicodeEncodeError):
        raise AuthError(401, "invalid_client", "bad client_assertion signature") from None
    return header, claims
