"""Client id/secret parsing, the signed client assertion, and the token flow (fake transport
with a fake clock, and the real sandbox token endpoint)."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from litmos_pipeline.c1.credentials import (
    ASSERTION_TYPE,
    SECRET_PREFIX,
    C1CredentialsError,
    C1TokenError,
    ClientId,
    TokenSource,
    b64url_decode,
    b64url_encode,
    default_token_url,
    generate_client_credentials,
    make_client_assertion,
    parse_client_id,
    parse_client_secret,
    public_key_bytes,
)
from litmos_sandbox.c1 import C1Sandbox

TENANT = "acme.conductor.one"


@pytest.fixture(scope="module")
def creds() -> tuple[str, str]:
    return generate_client_credentials(TENANT, name="strange-hydra-68836")


def _secret_part(secret: str) -> str:
    return secret[len(SECRET_PREFIX) :]


def _jwk(secret: str) -> dict[str, str]:
    return json.loads(b64url_decode(_secret_part(secret)))


def _secret_from_jwk(jwk: dict[str, str]) -> str:
    return SECRET_PREFIX + b64url_encode(json.dumps(jwk).encode())


def _decode_jwt(token: str) -> tuple[dict, dict, bytes, bytes]:
    h, c, s = token.split(".")
    return (
        json.loads(b64url_decode(h)),
        json.loads(b64url_decode(c)),
        b64url_decode(s),
        f"{h}.{c}".encode(),
    )


def _assert_no_leak(err: BaseException, *fragments: str) -> None:
    rendered = [str(err), repr(err)]
    for fragment in fragments:
        for text in rendered:
            assert fragment not in text
    # No chained decoder error that might quote the input either.
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None


# --- client id --------------------------------------------------------------------------------


def test_client_id_parts() -> None:
    cid = parse_client_id("strange-hydra-68836@acme.conductor.one/pcc")
    assert (cid.name, cid.tenant_host, cid.suffix) == ("strange-hydra-68836", TENANT, "pcc")


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign.conductor.one/pcc", "name@host-without-suffix", "@host/pcc", "n@/pcc"]
)
def test_malformed_client_id_names_the_setting(bad: str) -> None:
    with pytest.raises(C1CredentialsError, match="C1_CLIENT_ID"):
        parse_client_id(bad)


# --- client secret ----------------------------------------------------------------------------


def test_secret_parses_and_matches_public_key(creds: tuple[str, str]) -> None:
    secret = parse_client_secret(creds[1])
    x = b64url_decode(_jwk(creds[1])["x"])
    assert public_key_bytes(secret.public_key()) == x


def _malformed_secrets(good: str) -> dict[str, str]:
    jwk = _jwk(good)
    other = Ed25519PrivateKey.generate().private_bytes_raw()
    return {
        "wrong prefix": "secret-token:example.com:v1:" + _secret_part(good),
        "wrong version": good.replace(":v1:", ":v2:"),
        "not base64": SECRET_PREFIX + "%%%" + _secret_part(good),
        "not json": SECRET_PREFIX + b64url_encode(b"{" + jwk["d"].encode()),
        "not an object": SECRET_PREFIX + b64url_encode(json.dumps([jwk["d"]]).encode()),
        "wrong kty": _secret_from_jwk({**jwk, "kty": "EC"}),
        "wrong crv": _secret_from_jwk({**jwk, "crv": "X25519"}),
        "public only": _secret_from_jwk({k: v for k, v in jwk.items() if k != "d"}),
        "short d": _secret_from_jwk({**jwk, "d": jwk["d"][:20]}),
        "x mismatch": _secret_from_jwk({**jwk, "d": b64url_encode(other)}),
        "truncated": good[:-30],
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong prefix",
        "wrong version",
        "not base64",
        "not json",
        "not an object",
        "wrong kty",
        "wrong crv",
        "public only",
        "short d",
        "x mismatch",
        "truncated",
    ],
)
def test_malformed_secret_names_the_setting_and_leaks_nothing(
    creds: tuple[str, str], case: str
) -> None:
    bad = _malformed_secrets(creds[1])[case]
    with pytest.raises(C1CredentialsError, match="C1_CLIENT_SECRET") as info:
        parse_client_secret(bad)
    jwk = _jwk(creds[1])
    _assert_no_leak(info.value, _secret_part(creds[1])[:24], jwk["d"][:12], bad[-20:])


def test_secret_holders_are_redacted(creds: tuple[str, str]) -> None:
    d = _jwk(creds[1])["d"]
    secret = parse_client_secret(creds[1])
    tokens = TokenSource(creds[0], creds[1], "https://acme.conductor.one/auth/v1/token")
    try:
        for text in (repr(secret), str(secret), repr(tokens), str(tokens)):
            assert d not in text
            assert _secret_part(creds[1])[:24] not in text
        assert "redacted" in repr(secret) and "redacted" in repr(tokens)
    finally:
        tokens.close()


# --- assertion --------------------------------------------------------------------------------


def test_assertion_is_a_valid_eddsa_jwt(creds: tuple[str, str]) -> None:
    cid = parse_client_id(creds[0])
    secret = parse_client_secret(creds[1])
    now = 1_700_000_000
    header, claims, sig, signed = _decode_jwt(make_client_assertion(cid, secret, now=now))
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT"
    assert claims["iss"] == claims["sub"] == creds[0]
    assert claims["aud"] == TENANT
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now - 120, now + 120)
    secret.public_key().verify(sig, signed)  # raises if the signature is wrong
    _, other, _, _ = _decode_jwt(make_client_assertion(cid, secret, now=now))
    assert other["jti"] != claims["jti"], "each assertion carries a fresh nonce"


def test_assertion_audience_drops_the_port(creds: tuple[str, str]) -> None:
    cid = ClientId("n@acme.conductor.one:8443/pcc", "n", "acme.conductor.one:8443", "pcc")
    _, claims, _, _ = _decode_jwt(make_client_assertion(cid, parse_client_secret(creds[1])))
    assert claims["aud"] == TENANT


# --- token URL --------------------------------------------------------------------------------


def test_token_url_default_and_override() -> None:
    assert default_token_url(TENANT) == "https://acme.conductor.one/auth/v1/token"
    assert default_token_url(TENANT, "http://127.0.0.1:9000/") == (
        "http://127.0.0.1:9000/auth/v1/token"
    )
    assert default_token_url(TENANT, "https://proxy.example").startswith("https://proxy.example")
    with pytest.raises(C1CredentialsError, match="C1_API_URL"):
        default_token_url(TENANT, "http://acme.conductor.one")
    with pytest.raises(C1CredentialsError, match="C1_API_URL"):
        default_token_url(TENANT, "ftp://127.0.0.1")


def test_token_source_refuses_a_plaintext_remote_token_url(creds: tuple[str, str]) -> None:
    with pytest.raises(C1CredentialsError, match="plain http"):
        TokenSource(creds[0], creds[1], "http://acme.conductor.one/auth/v1/token")


# --- token source with a fake transport and clock ---------------------------------------------


class FakeTokenServer:
    def __init__(self, expires_in: int = 100, status: int = 200) -> None:
        self.expires_in = expires_in
        self.status = status
        self.forms: list[dict[str, str]] = []
        self.delay_s = 0.0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.delay_s)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        with self._lock:
            self.forms.append(form)
            n = len(self.forms)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_client"})
        return httpx.Response(
            200,
            json={
                "access_token": f"tok-{n}",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            },
        )


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _token_source(creds: tuple[str, str], server: FakeTokenServer, clock: FakeClock) -> TokenSource:
    http = httpx.Client(transport=httpx.MockTransport(server))
    return TokenSource(creds[0], creds[1], "https://acme.conductor.one/auth/v1/token", http, clock)


def test_token_is_cached_then_refreshed_before_expiry(creds: tuple[str, str]) -> None:
    server, clock = FakeTokenServer(expires_in=100), FakeClock()
    tokens = _token_source(creds, server, clock)
    assert tokens.token() == "tok-1"
    clock.now += 50
    assert tokens.token() == "tok-1"
    assert tokens.authorization() == "Bearer tok-1"
    clock.now += 39  # 89 s in: still outside the 10 s refresh margin
    assert tokens.token() == "tok-1"
    clock.now += 2  # 91 s in: refresh early rather than risk an expired token
    assert tokens.token() == "tok-2"
    assert len(server.forms) == 2

    form = server.forms[0]
    assert form["client_id"] == creds[0]
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    _, claims, sig, signed = _decode_jwt(form["client_assertion"])
    assert claims["iat"] == int(clock.now - 91)
    parse_client_secret(creds[1]).public_key().verify(sig, signed)


def test_invalidate_forces_a_new_token(creds: tuple[str, str]) -> None:
    server, clock = FakeTokenServer(), FakeClock()
    tokens = _token_source(creds, server, clock)
    assert tokens.token() == "tok-1"
    tokens.invalidate()
    assert tokens.token() == "tok-2"


def test_concurrent_callers_share_one_fetch(creds: tuple[str, str]) -> None:
    server, clock = FakeTokenServer(), FakeClock()
    server.delay_s = 0.05
    tokens = _token_source(creds, server, clock)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(tokens.token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["tok-1"] * 8
    assert len(server.forms) == 1


@pytest.mark.parametrize("status", [400, 401])
def test_rejected_credentials_give_a_clear_error_without_secrets(
    creds: tuple[str, str], status: int
) -> None:
    server, clock = FakeTokenServer(status=status), FakeClock()
    tokens = _token_source(creds, server, clock)
    with pytest.raises(C1TokenError) as info:
        tokens.token()
    err = info.value
    assert err.status_code == status
    assert "C1_CLIENT_ID" in str(err) and "C1_CLIENT_SECRET" in str(err)
    assert f"HTTP {status}" in str(err) and "invalid_client" in str(err)
    assertion = server.forms[0]["client_assertion"]
    _assert_no_leak(err, _secret_part(creds[1])[:24], _jwk(creds[1])["d"][:12], assertion[-30:])


def test_unreachable_endpoint_is_a_token_error(creds: tuple[str, str]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    tokens = TokenSource(creds[0], creds[1], "https://acme.conductor.one/auth/v1/token", http)
    with pytest.raises(C1TokenError, match="could not reach"):
        tokens.token()


# --- against the sandbox token endpoint --------------------------------------------------------


@pytest.fixture()
def sandbox() -> C1Sandbox:
    with C1Sandbox(token_lifetime_s=1) as sb:
        yield sb


def test_sandbox_issues_and_expires_tokens(sandbox: C1Sandbox) -> None:
    client_id, client_secret = sandbox.register_client()
    with sandbox.token_source(client_id, client_secret) as tokens:
        first = tokens.token()
        assert sandbox.authenticate(f"Bearer {first}") == client_id
        assert tokens.token() == first
        time.sleep(1.05)
        with pytest.raises(Exception, match="expired"):
            sandbox.authenticate(f"Bearer {first}")
        second = tokens.token()
        assert second != first
        assert sandbox.authenticate(f"Bearer {second}") == client_id
        assert tokens.fetch_count == 2


def test_sandbox_rejects_a_wrong_key(sandbox: C1Sandbox) -> None:
    client_id, _ = sandbox.register_client()
    _, other_secret = generate_client_credentials(sandbox.tenant_host)
    with sandbox.token_source(client_id, other_secret) as tokens:
        with pytest.raises(C1TokenError) as info:
            tokens.token()
    assert info.value.status_code == 401
    assert _secret_part(other_secret)[:24] not in str(info.value)
    assert any(e.kind == "token_rejected" and "signature" in e.detail for e in sandbox.events)


def test_sandbox_rejects_wrong_audience_expired_and_replayed_assertions(
    sandbox: C1Sandbox,
) -> None:
    client_id, client_secret = sandbox.register_client()
    real = parse_client_id(client_id)
    secret = parse_client_secret(client_secret)
    elsewhere = ClientId(real.value, real.name, "other.conductor.one", real.suffix)

    def post(assertion: str) -> httpx.Response:
        form = {
            "client_id": client_id,
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        return httpx.post(sandbox.token_url, data=form)

    wrong_aud = post(make_client_assertion(elsewhere, secret))
    assert wrong_aud.status_code == 401
    assert wrong_aud.json()["error_description"] == "wrong audience"

    stale = post(make_client_assertion(real, secret, now=time.time() - 600))
    assert stale.status_code == 401
    assert stale.json()["error_description"] == "assertion expired"

    early = post(make_client_assertion(real, secret, now=time.time() + 600))
    assert early.json()["error_description"] == "assertion not yet valid"

    good = make_client_assertion(real, secret)
    assert post(good).status_code == 200
    replay = post(good)
    assert replay.status_code == 401
    assert replay.json()["error_description"] == "assertion replayed"


def test_sandbox_rejects_unknown_client(sandbox: C1Sandbox) -> None:
    client_id, client_secret = generate_client_credentials(sandbox.tenant_host)
    with sandbox.token_source(client_id, client_secret) as tokens:
        with pytest.raises(C1TokenError, match="HTTP 401"):
            tokens.token()
