"""Every setting the pipeline reads, named once, validated with pydantic.

Field aliases are the environment variable names, so a validation error can name the
variable at fault. Error messages never carry the offending value: some are secrets.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from litmos_pipeline.litmos.ids import ID_RULE, is_litmos_id

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"

LITMOS_REGIONS = {
    "us": "https://api.litmos.com/v1.svc",
    "eu": "https://api.litmoseu.com/v1.svc",
    "au": "https://api.litmos.com.au/v1.svc",
}

LITMOS_PATH_SUFFIX = "/v1.svc"
_LOOPBACK_NAMES = frozenset({"localhost"})

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A missing or malformed setting; the message names the environment variable."""


def _parse_bool(value: Any) -> Any:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError("expected true/false")
    return value


def _split_ids(value: Any) -> Any:
    # A blank entry (",," or a trailing comma) is a typo, not "all courses": only an unset
    # or empty variable means all of them.
    if isinstance(value, str):
        if not value.strip():
            return ()
        parts = tuple(part.strip() for part in value.split(","))
        if not all(parts):
            raise ValueError("has a blank entry; expected comma-separated course ids")
        bad = [str(n) for n, part in enumerate(parts, 1) if not is_litmos_id(part)]
        if bad:
            raise ValueError(f"entry {', '.join(bad)} is not a Litmos course id ({ID_RULE})")
        return parts
    return value


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IPs (127.0.0.0/8, ::1): the only plaintext peers."""
    bare = host.strip().strip("[]").lower()
    if bare in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def _litmos_url(value: str) -> str:
    """A full Litmos API URL; plain http only to loopback (the sandboxes): the key is a header."""
    url = value.rstrip("/")
    expected = "expected us, eu, au or an https URL ending in /v1.svc"
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(expected) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(expected)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("uses plain http for a non-loopback host; use https")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(expected + " (no credentials, query or fragment)")
    if not parts.path.endswith(LITMOS_PATH_SUFFIX):
        raise ValueError(expected)
    return url


class _Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")


class LitmosSettings(_Settings):
    api_key: SecretStr = Field(alias="LITMOS_API_KEY", min_length=1, max_length=50)
    source: str = Field(alias="LITMOS_SOURCE", min_length=1, max_length=50)
    base_url: str = Field(LITMOS_REGIONS["us"], alias="LITMOS_BASE_URL")
    course_ids: tuple[str, ...] = Field((), alias="LITMOS_COURSE_IDS")
    sync_team_roles: bool = Field(True, alias="LITMOS_SYNC_TEAM_ROLES")
    # 90 of the key's 100 requests a minute for syncs leaves room for provisioning.
    requests_per_minute: float = Field(90.0, alias="LITMOS_REQUESTS_PER_MINUTE", gt=0)
    provision_requests_per_minute: float = Field(
        10.0, alias="LITMOS_PROVISION_REQUESTS_PER_MINUTE", gt=0
    )
    max_retries: int = Field(6, alias="LITMOS_MAX_RETRIES", ge=0, le=20)
    timeout_s: float = Field(60.0, alias="LITMOS_TIMEOUT_S", gt=0)
    send_messages: bool = Field(False, alias="LITMOS_SEND_MESSAGES")

    @field_validator("base_url", mode="before")
    @classmethod
    def _region_or_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.lower() in LITMOS_REGIONS:
                return LITMOS_REGIONS[value.lower()]
            return _litmos_url(value)
        return value

    @field_validator("course_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return _split_ids(value)

    @field_validator("sync_team_roles", "send_messages", mode="before")
    @classmethod
    def _bools(cls, value: Any) -> Any:
        return _parse_bool(value)


class WarehouseSettings(_Settings):
    duckdb_path: Path = Field(DEFAULT_DATA_DIR / "litmos.duckdb", alias="LITMOS_DUCKDB_PATH")
    history_retention_syncs: int = Field(30, alias="LITMOS_HISTORY_RETENTION", ge=1)
    memory_limit: str = Field("96MB", alias="LITMOS_DUCKDB_MEMORY_LIMIT")

    @property
    def staging_dir(self) -> Path:
        return self.duckdb_path.parent / "staging"


class ScheduleSettings(_Settings):
    sync_cron: str = Field("0 3 * * *", alias="LITMOS_SYNC_CRON")
    timezone: str = Field("UTC", alias="LITMOS_SYNC_TIMEZONE")

    @field_validator("sync_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("expected a 5-field cron expression")
        return value


class C1Settings(_Settings):
    client_id: str = Field(alias="C1_CLIENT_ID", min_length=1)
    client_secret: SecretStr = Field(alias="C1_CLIENT_SECRET", min_length=1)
    api_url: str | None = Field(None, alias="C1_API_URL")
    grpc_target: str | None = Field(None, alias="C1_GRPC_TARGET")


class PublishSettings(_Settings):
    c1z_output_dir: Path = Field(DEFAULT_DATA_DIR / "c1z", alias="C1Z_OUTPUT_DIR")
    sensor_interval_s: int = Field(5, alias="C1_SENSOR_INTERVAL_S", ge=1)
    keep_c1z_files: int = Field(10, alias="C1Z_KEEP_FILES", ge=1)


class ProvisionSettings(_Settings):
    dry_run: bool = Field(False, alias="LITMOS_PROVISION_DRY_RUN")

    @field_validator("dry_run", mode="before")
    @classmethod
    def _bools(cls, value: Any) -> Any:
        return _parse_bool(value)


S = TypeVar("S", bound=_Settings)


def load(model: type[S], values: Mapping[str, Any] | None = None) -> S:
    """Validate `values` (default: the environment) into `model`.

    Keys are environment variable names; unset or empty optional variables take the default.
    """
    source = os.environ if values is None else values
    names = {field.alias or name for name, field in model.model_fields.items()}
    picked = {k: v for k, v in source.items() if k in names and v is not None and v != ""}
    try:
        return model.model_validate(picked)
    except ValidationError as exc:
        raise SettingsError(describe_errors(model, exc)) from None


def describe_errors(model: type[_Settings], exc: ValidationError) -> str:
    """One line per bad setting, naming it, without the offending value."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]) if error["loc"] else model.__name__
        # Our validators' own messages read as "<VARIABLE> <reason>", without pydantic's tag.
        message = error["msg"].removeprefix("Value error, ")
        reason = "is not set" if error["type"] == "missing" else message
        lines.append(f"{name} {reason}")
    return "Invalid settings: " + "; ".join(lines)


def c1_configured(values: Mapping[str, str] | None = None) -> bool:
    source = os.environ if values is None else values
    return bool(source.get("C1_CLIENT_ID")) and bool(source.get("C1_CLIENT_SECRET"))


class FileSettings(_Settings):
    """Permissions of the files holding personal data (warehouse, staging, c1z)."""

    # Octal text, e.g. 0600 or 0640; folders get the matching search bits (0700, 0750).
    file_mode: int = Field(0o600, alias="LITMOS_FILE_MODE")

    @field_validator("file_mode", mode="before")
    @classmethod
    def _octal(cls, value: Any) -> Any:
        # One check for both readers: litmos_pipeline.files parses it without pydantic.
        from litmos_pipeline.files import parse_mode

        return parse_mode(value)
