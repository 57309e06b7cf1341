"""ConductorOne client credentials: parse them, sign the client assertion, fetch bearer tokens.

The wire facts (formats, form fields, claims) are in docs/c1-contract.md. Nothing in this
module ever puts a client secret, a private key, an assertion or a bearer token into an
exception message, a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# The Litmos settings apply the same plaintext rule; it lives there, shared.
from litmos_pipeline.settings import is_loopback_host

CLIENT_ID_SETTING = "C1_CLIENT_ID"
CLIENT_SECRET_SETTING = "C1_CLIENT_SECRET"
API_URL_SETTING = "C1_API_URL"

SECRET_PREFIX = "secret-token:conductorone.com:v1:"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/auth/v1/token"

# The assertion is valid from 2 minutes ago to 2 minutes ahead, as the public SDK signs it;
# the window absorbs clock skew between us and the tenant.
ASSERTION_SKEW_S = 120
# Tokens are refreshed ahead of expiry by this much, capped at a tenth of their lifetime so
# that short-lived tokens are still reused.
REFRESH_MARGIN_S = 60.0
# If the token endpoint omits expires_in we still cache the token, but only briefly.
DEFAULT_TOKEN_LIFETIME_S = 60.0

_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class C1CredentialsError(ValueError):
    """A C1 credential setting is malformed or was rejected. Never carries secret material."""


class C1TokenError(C1CredentialsError):
    """The token endpoint refused to issue a token or could not be reached."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


# --- base64url (JWT/JWK flavour: no padding) ------------------------------------------------


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded (or padded) base64url; raises binascii.Error / ValueError on junk."""
    stripped = text.strip().rstrip("=")
    if any(c not in _B64URL_ALPHABET for c in stripped):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


# --- client id --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientId:
    """`<name>@<tenant-host>/<suffix>`; the tenant host is where tokens and tasks live."""

    value: str
    name: str
    tenant_host: str
    suffix: str

    def __str__(self) -> str:
        return self.value


def parse_client_id(value: str) -> ClientId:
    """Split a client id into its parts. The id is not a secret, but we still don't echo it."""
    text = (value or "").strip()
    name, at, rest = text.partition("@")
    host, slash, suffix = rest.partition("/")
    if not at or not name or not slash or not host or not suffix:
        raise C1CredentialsError(
            f"{CLIENT_ID_SETTING} is malformed: expected '<name>@<tenant-host>/<suffix>', "
            "e.g. 'strange-hydra-68836@acme.conductor.one/pcc'"
        )
    if any(c.isspace() for c in text) or "@" in host:
        raise C1CredentialsError(
            f"{CLIENT_ID_SETTING} is malformed: the tenant host part contains invalid characters"
        )
    return ClientId(value=text, name=name, tenant_host=host, suffix=suffix)


def audience_for(tenant_host: str) -> str:
    """The assertion audience is the tenant host without any port."""
    host = tenant_host.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


# --- client secret ----------------------------------------------------------------------------


class ClientSecret:
    """An Ed25519 private key parsed from a C1 client secret. Its repr never shows the key."""

    __slots__ = ("_key",)

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._key

    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def __repr__(self) -> str:
        return "ClientSecret(<redacted>)"

    __str__ = __repr__


def _secret_error(reason: str) -> C1CredentialsError:
    return C1CredentialsError(
        f"{CLIENT_SECRET_SETTING} is malformed: {reason} "
        f"(expected '{SECRET_PREFIX}<base64url Ed25519 private JWK>')"
    )


def parse_client_secret(value: str) -> ClientSecret:
    """Parse `secret-token:conductorone.com:v1:<base64url(JWK)>` into an Ed25519 key.

    Every failure raises without chaining the underlying exception, so that no decoder
    message (which could quote input) ends up next to the setting name.
    """
    text = (value or "").strip()
    if not text.startswith(SECRET_PREFIX):
        raise _secret_error("wrong prefix or version")
    encoded = text[len(SECRET_PREFIX) :]
    if not encoded:
        raise _secret_error("the key part is empty")
    try:
        jwk_bytes = b64url_decode(encoded)
    except (ValueError, binascii.Error):
        raise _secret_error("the key part is not base64url") from None
    try:
        jwk = json.loads(jwk_bytes)
    except (ValueError, UnicodeDecodeError):
        raise _secret_error("the key part is not a JSON Web Key") from None
    if not isinstance(jwk, dict):
        raise _secret_error("the key part is not a JSON Web Key")
    return ClientSecret(_private_key_from_jwk(jwk))


def _private_key_from_jwk(jwk: dict[str, object]) -> Ed25519PrivateKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise _secret_error("the JWK is not an Ed25519 key (kty OKP, crv Ed25519)")
    d, x = jwk.get("d"), jwk.get("x")
    if not isinstance(d, str) or not d:
        raise _secret_error("the JWK has no private part 'd'")
    try:
        key = Ed25519PrivateKey.from_private_bytes(b64url_decode(d))
    except (ValueError, binascii.Error):
        raise _secret_error("the JWK private part 'd' is not a 32-byte Ed25519 key") from None
    if isinstance(x, str) and x:
        try:
            x_bytes = b64url_decode(x)
        except (ValueError, binascii.Error):
            raise _secret_error("the JWK public part 'x' is not base64url") from None
        if x_bytes != public_key_bytes(key.public_key()):
            raise _secret_error("the JWK public part 'x' does not match its private part 'd'")
    return key


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_client_credentials(
    tenant_host: str, *, name: str | None = None, suffix: str = "pcc"
) -> tuple[str, str]:
    """A fresh (client_id, client_secret) pair in C1's formats (the sandbox registers these)."""
    key = Ed25519PrivateKey.generate()
    d = key.private_bytes_raw()
    x = public_key_bytes(key.public_key())
    jwk = {"kty": "OKP", "crv": "Ed25519", "d": b64url_encode(d), "x": b64url_encode(x)}
    secret = SECRET_PREFIX + b64url_encode(json.dumps(jwk, separators=(",", ":")).encode())
    client_name = name or f"sandbox-{secrets.token_hex(4)}"
    return f"{client_name}@{tenant_host}/{suffix}", secret


# --- client assertion (JWT, EdDSA) ------------------------------------------------------------


def make_client_assertion(
    client_id: ClientId, secret: ClientSecret, *, now: float | None = None
) -> str:
    """Sign the JWT C1's token endpoint expects: iss=sub=client id, aud=tenant host sans port.

    The random nonce sits in the protected header (where the public SDK's signer puts it)
    and doubles as the `jti` claim.
    """
    issued = int(time.time() if now is None else now)
    nonce = b64url_encode(secrets.token_bytes(16))
    header = {"alg": "EdDSA", "typ": "JWT", "nonce": nonce}
    claims = {
        "iss": client_id.value,
        "sub": client_id.value,
        "aud": audience_for(client_id.tenant_host),
        "iat": issued,
        "nbf": issued - ASSERTION_SKEW_S,
        "exp": issued + ASSERTION_SKEW_S,
        "jti": nonce,
    }
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = secret.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


# --- token endpoint ---------------------------------------------------------------------------


def default_token_url(tenant_host: str, api_url: str | None = None) -> str:
    """`https://<tenant-host>/auth/v1/token`, or `<api_url>/auth/v1/token` when overridden.

    An `http://` override is accepted only for loopback hosts (the sandbox): the assertion
    is a credential and must not cross a network in the clear.
    """
    if not api_url:
        return f"https://{tenant_host}{TOKEN_PATH}"
    check_token_url(api_url, API_URL_SETTING)
    return api_url.strip().rstrip("/") + TOKEN_PATH


def check_token_url(url: str, setting: str = API_URL_SETTING) -> None:
    """Refuse URLs that would send the client assertion in the clear over a network."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise C1CredentialsError(
            f"{setting} must be an absolute http(s) URL such as 'http://127.0.0.1:8080'"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise C1CredentialsError(f"{setting} uses plain http for a non-loopback host; use https")


@dataclass(frozen=True)
class _CachedToken:
    access_token: str = field(repr=False)
    refresh_at: float
    expires_at: float


class TokenSource:
    """Fetches and caches C1 bearer tokens with the client-credentials + JWT-assertion flow.

    Thread-safe: concurrent callers share one cached token and at most one refresh runs at a
    time. `clock` is injectable so expiry can be tested without sleeping.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_url: str | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self._client_id = parse_client_id(client_id)
        self._secret = parse_client_secret(client_secret)
        self._token_url = token_url or default_token_url(self._client_id.tenant_host)
        check_token_url(self._token_url)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: _CachedToken | None = None
        self.fetch_count = 0

    @property
    def client_id(self) -> ClientId:
        return self._client_id

    @property
    def tenant_host(self) -> str:
        return self._client_id.tenant_host

    @property
    def token_url(self) -> str:
        return self._token_url

    def token(self) -> str:
        """A valid access token, fetching a new one when the cached one is due for refresh."""
        with self._lock:
            cached = self._cached
            if cached is None or self._clock() >= cached.refresh_at:
                cached = self._fetch()
                self._cached = cached
            return cached.access_token

    def authorization(self) -> str:
        """The value for an `authorization` header / gRPC metadata entry."""
        return f"Bearer {self.token()}"

    def cached_token(self) -> str | None:
        """The cached access token without fetching (for redacting it from error text)."""
        cached = self._cached
        return cached.access_token if cached is not None else None

    def invalidate(self) -> None:
        """Drop the cached token, e.g. after the server answered UNAUTHENTICATED."""
        with self._lock:
            self._cached = None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> TokenSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"TokenSource(client_id={self._client_id.value!r}, token_url={self._token_url!r}, "
            "client_secret=<redacted>)"
        )

    def _fetch(self) -> _CachedToken:
        sent_at = self._clock()
        form = {
            "client_id": self._client_id.value,
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_client_assertion(self._client_id, self._secret, now=sent_at),
        }
        try:
            resp = self._http.post(self._token_url, data=form)
        except httpx.HTTPError as exc:
            # httpx messages carry the URL at most, never the form body.
            raise C1TokenError(
                f"could not reach the C1 token endpoint {self._token_url}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        self.fetch_count += 1
        if resp.status_code != 200:
            raise _token_http_error(self._token_url, resp)
        return _parse_token_response(self._token_url, resp, sent_at)


def _token_http_error(url: str, resp: httpx.Response) -> C1TokenError:
    oauth_error = _oauth_error_code(resp)
    detail = f" ({oauth_error})" if oauth_error else ""
    if resp.status_code in (400, 401, 403):
        hint = (
            f"; check {CLIENT_ID_SETTING} and {CLIENT_SECRET_SETTING} "
            "(wrong tenant, revoked client or wrong key)"
        )
    else:
        hint = ""
    return C1TokenError(
        f"C1 token endpoint {url} refused the client credentials: "
        f"HTTP {resp.status_code}{detail}{hint}",
        status_code=resp.status_code,
    )


def _oauth_error_code(resp: httpx.Response) -> str:
    """The short OAuth `error` code, if the body has one; nothing else from the body is echoed."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    code = body.get("error") if isinstance(body, dict) else None
    if isinstance(code, str) and len(code) <= 64 and code.replace("_", "").isalnum():
        return code
    return ""


def _parse_token_response(url: str, resp: httpx.Response, sent_at: float) -> _CachedToken:
    try:
        body = resp.json()
    except ValueError:
        raise C1TokenError(f"C1 token endpoint {url} answered with non-JSON") from None
    if not isinstance(body, dict):
        raise C1TokenError(f"C1 token endpoint {url} answered with an unexpected JSON shape")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise C1TokenError(f"C1 token endpoint {url} answered without an access_token")
    token_type = str(body.get("token_type") or "Bearer")
    if token_type.lower() != "bearer":
        raise C1TokenError(f"C1 token endpoint {url} issued an unsupported token_type")
    lifetime = _lifetime_s(body.get("expires_in"))
    # Count the lifetime from when we asked, so network latency only makes us refresh early.
    margin = min(REFRESH_MARGIN_S, lifetime * 0.1)
    return _CachedToken(
        access_token=access_token,
        refresh_at=sent_at + lifetime - margin,
        expires_at=sent_at + lifetime,
    )


def _lifetime_s(expires_in: object) -> float:
    if isinstance(expires_in, bool):
        return DEFAULT_TOKEN_LIFETIME_S
    if isinstance(expires_in, int | float) and expires_in > 0:
        return float(expires_in)
    if isinstance(expires_in, str):
        try:
            value = float(expires_in)
        except ValueError:
            return DEFAULT_TOKEN_LIFETIME_S
        return value if value > 0 else DEFAULT_TOKEN_LIFETIME_S
    return DEFAULT_TOKEN_LIFETIME_S
