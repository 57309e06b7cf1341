"""`litmos-pipeline check` against the Litmos and C1 sandboxes on loopback."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from litmos_pipeline import settings as cfg
from litmos_pipeline.c1.credentials import generate_client_credentials
from litmos_pipeline.cli import check_c1
from litmos_pipeline.cli.verdicts import FAIL, PASS, WARN
from litmos_sandbox.c1 import C1Sandbox
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.cli.conftest import invoke, sandbox_env


def verdict(output: str, item: str) -> str:
    """The outcome word of the line checking `item`."""
    match = re.search(rf"^(\S+)\s+{re.escape(item)}\s", output, re.M)
    assert match, f"no verdict on {item!r} in:\n{output}"
    return match.group(1)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_everything_passes_against_the_sandboxes(cli_env: dict[str, str | None]) -> None:
    result = invoke(cli_env, "check")
    assert result.exit_code == 0, result.output
    for item in ("settings: Litmos", "settings: C1", "Litmos key and source", "Litmos courses",
                 "C1 credentials", "C1 token", "C1 clock"):
        assert verdict(result.output, item) == PASS
    assert "0 failed" in result.output


def test_a_wrong_key_fails_naming_the_setting(cli_env: dict[str, str | None]) -> None:
    result = invoke({**cli_env, "LITMOS_API_KEY": "not-the-key"}, "check")
    assert result.exit_code == 1
    assert verdict(result.output, "Litmos key") == FAIL
    assert "refused LITMOS_API_KEY (401)" in result.output
    assert "not-the-key" not in result.output


def test_an_unreachable_host_fails_naming_the_setting(cli_env: dict[str, str | None]) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/v1.svc"
    result = invoke({**cli_env, "LITMOS_BASE_URL": url}, "check")
    assert result.exit_code == 1
    assert verdict(result.output, "Litmos host") == FAIL
    assert f"cannot connect to 127.0.0.1:{port} (LITMOS_BASE_URL)" in result.output


def test_a_wrong_path_on_the_host_is_no_litmos_api(cli_env: dict[str, str | None],
                                                    tiny_sandbox: LitmosSandbox) -> None:
    url = tiny_sandbox.base_url.replace("/v1.svc", "/api/v1.svc")
    result = invoke({**cli_env, "LITMOS_BASE_URL": url}, "check")
    assert result.exit_code == 1
    assert "has no Litmos API at /api/v1.svc: check LITMOS_BASE_URL" in result.output


def test_unknown_course_ids_are_named(cli_env: dict[str, str | None],
                                      tiny_sandbox: LitmosSandbox) -> None:
    known = tiny_sandbox.tenant.courses()[0].id
    result = invoke({**cli_env, "LITMOS_COURSE_IDS": f"{known},NoSuchCourse"}, "check")
    assert result.exit_code == 1
    assert verdict(result.output, "Litmos courses") == FAIL
    assert "Litmos does not know: NoSuchCourse" in result.output
    assert known not in result.output.split("does not know:")[1]


def test_a_malformed_c1_secret_fails_offline(cli_env: dict[str, str | None]) -> None:
    secret = "secret-token:conductorone.com:v1:bm90LWEta2V5"
    result = invoke({**cli_env, "C1_CLIENT_SECRET": secret}, "check")
    assert result.exit_code == 1
    assert verdict(result.output, "C1 credentials") == FAIL
    assert "C1_CLIENT_SECRET is malformed" in result.output
    assert "bm90LWEta2V5" not in result.output
    assert "C1 token" not in result.output  # nothing sent with a secret that cannot sign


def test_a_revoked_c1_client_is_refused(cli_env: dict[str, str | None],
                                        c1_sandbox: C1Sandbox) -> None:
    client_id, secret = generate_client_credentials(c1_sandbox.tenant_host)  # not registered
    result = invoke({**cli_env, "C1_CLIENT_ID": client_id, "C1_CLIENT_SECRET": secret},
                    "check")
    assert result.exit_code == 1
    assert verdict(result.output, "C1 credentials") == PASS
    assert verdict(result.output, "C1 token") == FAIL
    assert "revoked, expired or mistyped C1_CLIENT_SECRET" in result.output


def test_an_invalid_setting_exits_2_and_skips_the_calls(cli_env: dict[str, str | None]) -> None:
    result = invoke({**cli_env, "LITMOS_API_KEY": None, "LITMOS_SYNC_CRON": "daily"}, "check")
    assert result.exit_code == 2
    assert "LITMOS_API_KEY is not set" in result.output
    assert "LITMOS_SYNC_CRON expected a 5-field cron expression" in result.output
    assert verdict(result.output, "Litmos") == "skipped"


def test_without_c1_settings_the_c1_checks_are_skipped(tmp_path: Path,
                                                        tiny_sandbox: LitmosSandbox) -> None:
    result = invoke(sandbox_env(tmp_path, tiny_sandbox), "check")
    assert result.exit_code == 0, result.output
    assert verdict(result.output, "settings: C1") == "skipped"


def test_a_key_of_another_region_is_named(tmp_path: Path, tiny_sandbox: LitmosSandbox,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    other = LitmosSandbox(Tenant.generate(TenantSpec.preset("tiny")), api_key="eu-key",
                          rate_limit_per_minute=None)
    with other:
        # The region names point at the two sandboxes: "us" does not know the key, "eu" does.
        regions = {"us": tiny_sandbox.base_url, "eu": other.base_url, "au": other.base_url}
        monkeypatch.setattr(cfg, "LITMOS_REGIONS", regions)
        env = sandbox_env(tmp_path, tiny_sandbox, LITMOS_BASE_URL="us", LITMOS_API_KEY="eu-key")
        # Without the flag the key goes to the configured host only, and the hint says so.
        plain = invoke(env, "check")
        assert verdict(plain.output, "Litmos key") == FAIL
        assert "--probe-regions" in plain.output
        result = invoke(env, "check", "--probe-regions")
    assert result.exit_code == 1
    assert verdict(result.output, "Litmos region") == FAIL
    assert "the eu host accepts it: set LITMOS_BASE_URL=eu" in result.output


@pytest.mark.parametrize(("offset_s", "clock", "token"), [(600.0, FAIL, FAIL),
                                                         (60.0, WARN, PASS),
                                                         (0.0, PASS, PASS)])
def test_clock_skew_against_the_c1_sandbox(c1_sandbox: C1Sandbox, offset_s: float,
                                           clock: str, token: str) -> None:
    client_id, secret = c1_sandbox.register_client("skew")
    settings = cfg.load(cfg.C1Settings, {"C1_CLIENT_ID": client_id, "C1_CLIENT_SECRET": secret,
                                         "C1_API_URL": c1_sandbox.api_url})
    verdicts = {v.item: v for v in check_c1.probe(settings, clock=lambda: time.time() + offset_s)}
    assert verdicts["C1 clock"].outcome == clock
    assert verdicts["C1 token"].outcome == token
    if offset_s > check_c1.ASSERTION_SKEW_S:
        assert "ahead of" in verdicts["C1 clock"].detail
        assert "clock skew below is the likely cause" in verdicts["C1 token"].detail
