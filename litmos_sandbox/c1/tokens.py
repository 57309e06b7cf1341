"""The token endpoint's logic and bearer-token checks."""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from litmos_pipeline.c1.credentials import (
    ASSERTION_TYPE,
    generate_client_credentials,
    parse_client_id,
    parse_client_secret,
)
from litmos_sandbox.c1.auth import (
    CLOCK_LEEWAY_S,
    MAX_ASSERTION_WINDOW_S,
    AuthError,
    ClientRecord,
    IssuedToken,
    verify_jwt,
)
from litmos_sandbox.c1.state import C1State


class TokensMixin(C1State):
    """Clients, token issue and authentication."""

    def register_client(self, name: str = "sandbox") -> tuple[str, str]:
        """Create a client for this tenant; returns (client_id, client_secret)."""
        client_id, client_secret = generate_client_credentials(
            self.tenant_host, name=f"{name}-{secrets.token_hex(3)}"
        )
        self.add_client(client_id, parse_client_secret(client_secret).public_key())
        return client_id, client_secret

    def add_client(self, client_id: str, public_key: Ed25519PublicKey) -> None:
        """Register a client whose key was made elsewhere (e.g. a deliberately wrong pair)."""
        parsed = parse_client_id(client_id)
        with self._lock:
            self._clients[client_id] = ClientRecord(client_id, parsed.tenant_host, public_key)
            self._event("client_registered", detail=client_id)

    def revoke_tokens(self) -> None:
        """Forget every issued token: the next call with one gets UNAUTHENTICATED."""
        with self._lock:
            self._tokens.clear()
            self._event("tokens_revoked")

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint's logic: verify the client assertion, mint an opaque token."""
        now = self._clock()
        with self._lock:
            client_id = self._verify_token_request(form, now)
            token = secrets.token_urlsafe(32)
            self._tokens[token] = IssuedToken(client_id, now + self.token_lifetime_s)
            self._event("token_issued", detail=client_id)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime_s,
        }

    def _verify_token_request(self, form: dict[str, str], now: float) -> str:
        if form.get("grant_type") != "client_credentials":
            raise AuthError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise AuthError(400, "invalid_request", "wrong client_assertion_type")
        client_id = form.get("client_id", "")
        assertion = form.get("client_assertion", "")
        if not client_id or not assertion:
            raise AuthError(400, "invalid_request", "client_id and client_assertion required")
        client = self._clients.get(client_id)
        if client is None:
            raise AuthError(401, "invalid_client", "unknown client")
        header, claims = verify_jwt(assertion, client.public_key)
        self._check_claims(client, header, claims, now)
        return client_id

    def _check_claims(
        self, client: ClientRecord, header: dict[str, Any], claims: dict[str, Any], now: float
    ) -> None:
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise AuthError(401, "invalid_client", "iss/sub must be the client id")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if client.tenant_host.split(":", 1)[0] not in audiences:
            raise AuthError(401, "invalid_client", "wrong audience")
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if not isinstance(nbf, int | float) or not isinstance(exp, int | float):
            raise AuthError(401, "invalid_client", "nbf and exp are required")
        if exp - nbf > MAX_ASSERTION_WINDOW_S:
            raise AuthError(401, "invalid_client", "assertion validity window too long")
        if now + CLOCK_LEEWAY_S < nbf:
            raise AuthError(401, "invalid_client", "assertion not yet valid")
        if now - CLOCK_LEEWAY_S > exp:
            raise AuthError(401, "invalid_client", "assertion expired")
        nonce = header.get("nonce") or claims.get("jti")
        if isinstance(nonce, str) and nonce:
            self._seen_nonces = {n: t for n, t in self._seen_nonces.items() if t >= now}
            if nonce in self._seen_nonces:
                raise AuthError(401, "invalid_client", "assertion replayed")
            self._seen_nonces[nonce] = float(exp) + CLOCK_LEEWAY_S

    def authenticate(self, authorization: str) -> str:
        """The client id behind a bearer token; raises AuthError if unknown or expired."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "invalid_token", "missing bearer token")
        with self._lock:
            issued = self._tokens.get(token.strip())
            if issued is None:
                raise AuthError(401, "invalid_token", "unknown bearer token")
            if self._clock() >= issued.expires_at:
                del self._tokens[token.strip()]
                raise AuthError(401, "invalid_token", "expired bearer token")
            return issued.client_id
