"""Every setting the pipeline reads, each declared once, validated with pydantic.

A declaration is one `setting(...)` field of a group model below: its environment
variable (the alias), type, default, secrecy (a SecretStr type), one line of help, and
its group; a group names the Dagster resource that carries it (`resource`), or none for
the settings read when the definitions load. The Dagster resources' fields and their
EnvVar wiring (`defs/resources.py`), the validation errors and the README's settings
table (`settings_table`, held equal to the README by a test) are derived from these.
Error messages name the variable, never its value: some are secrets.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo

from litmos_pipeline.errors import SettingsError, settings_error
from litmos_pipeline.files import parse_mode
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


__all__ = ["SettingsError"]  # re-exported: callers catch cfg.SettingsError

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


SHARE_RULE = "expected a fraction 0..1 (0.2) or a percentage 0%..100% (20%)"


def _parse_share(value: Any) -> Any:
    """A share of the published access: `0.2` or `20%`.

    A bare number above 1 is refused rather than read as a percentage: "20" may be 20%
    or a mistyped 0.20, and a guard against mistakes must not guess.
    """
    if isinstance(value, str):
        text = value.strip()
        is_percent = text.endswith("%")
        try:
            number = float(text.removesuffix("%").strip())
        except ValueError:
            raise ValueError(SHARE_RULE) from None
        if is_percent:
            number /= 100
        if not (math.isfinite(number) and 0 <= number <= 1):
            raise ValueError(SHARE_RULE)
        return number
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


REQUIRED: Any = ...  # pydantic's marker: no default


def setting(env: str, help: str, default: Any = REQUIRED, *, shown: str | None = None,
            **rules: Any) -> Any:
    """One setting's declaration: its variable, help, default and pydantic rules.

    `shown` is the default as the README shows it, where the value itself reads badly
    (a full URL for `us`, an absolute path, an octal mode).
    """
    extra = {"shown": shown} if shown is not None else None
    return Field(default, alias=env, description=help, json_schema_extra=extra, **rules)


class Settings(BaseModel):
    """A group of settings; `resource` is the Dagster resource key carrying them."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")
    resource: ClassVar[str | None] = None
    # The whole group may be left unset (C1 is optional): its required fields are
    # required only once the group is used.
    optional: ClassVar[bool] = False
    # Who reads a group no resource carries (the README's "resource" column).
    read_by: ClassVar[str] = "— (read at load)"


class LitmosSettings(Settings):
    resource = "litmos"

    api_key: SecretStr = setting("LITMOS_API_KEY", "the Litmos API key (`apikey` header)",
                                 min_length=1, max_length=50)
    source: str = setting("LITMOS_SOURCE", "`source` parameter on every request "
                          "(≤ 50 chars)", min_length=1, max_length=50)
    base_url: str = setting(
        "LITMOS_BASE_URL", "`us`, `eu`, `au`, or a full `https://…/v1.svc` URL (plain "
        "`http://` only to loopback: the sandboxes)", LITMOS_REGIONS["us"], shown="`us`")
    course_ids: tuple[str, ...] = setting(
        "LITMOS_COURSE_IDS", "comma-separated course ids to sync (and to allow "
        "provisioning of); a blank entry is an error, and an id Litmos does not know fails "
        "the sync before anything is published", (), shown="all courses")
    sync_team_roles: bool = setting(
        "LITMOS_SYNC_TEAM_ROLES", "also sync team leaders and admins (two more requests "
        "per team)", True)
    sync_modules: bool = setting(
        "LITMOS_SYNC_MODULES", "also sync course modules as resources under their course "
        "(one more request per course)", False)
    sync_learning_paths: bool = setting(
        "LITMOS_SYNC_LEARNING_PATHS", "sync learning paths and who is assigned to each "
        "(one list, and one more request per learning path)", True)
    # 90 of the key's 100 requests a minute for syncs leaves room for provisioning.
    requests_per_minute: float = setting(
        "LITMOS_REQUESTS_PER_MINUTE", "the sync's pacing; the key allows 100, the rest is "
        "left for provisioning. The two rates added are the key's limit, shared by every "
        "process through `litmos-key-budget.sqlite` beside the DuckDB file", 90.0, gt=0)
    provision_requests_per_minute: float = setting(
        "LITMOS_PROVISION_REQUESTS_PER_MINUTE", "provisioning's share of the key, always "
        "left free by syncs; provisioning may use more when the key has room (a waiting "
        "sync keeps half its rate)", 10.0, gt=0)
    max_retries: int = setting(
        "LITMOS_MAX_RETRIES", "retries of 429/5xx, timeouts and dropped connections "
        "(exponential backoff, jitter, `Retry-After`)", 6, ge=0, le=20)
    timeout_s: float = setting("LITMOS_TIMEOUT_S", "per-request timeout", 60.0, gt=0)
    last_login_days: int = setting(
        "LITMOS_LAST_LOGIN_DAYS", "a full sync reads who signed in during this many days "
        "(GET /org/users/logins: one query per 7 days, floor(n/1000)+1 requests each for n "
        "sign-ins) for users' last login; an older one is kept from the previous snapshot, "
        "and refreshes read the sign-ins of their window; 0: not read", 7, ge=0, le=91)
    send_messages: bool = setting("LITMOS_SEND_MESSAGES",
                                  "let provisioning send Litmos notification emails", False)

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

    @field_validator("sync_team_roles", "sync_modules", "sync_learning_paths",
                     "send_messages", mode="before")
    @classmethod
    def _bools(cls, value: Any) -> Any:
        return _parse_bool(value)


class ProvisionSettings(Settings):
    resource = "provision"

    dry_run: bool = setting("LITMOS_PROVISION_DRY_RUN",
                            "log the calls provisioning would make; change nothing", False)

    @field_validator("dry_run", mode="before")
    @classmethod
    def _bools(cls, value: Any) -> Any:
        return _parse_bool(value)


class WarehouseSettings(Settings):
    resource = "warehouse"

    duckdb_path: Path = setting(
        "LITMOS_DUCKDB_PATH", "the warehouse file (staging files go beside it)",
        DEFAULT_DATA_DIR / "litmos.duckdb")
    memory_limit: str = setting(
        "LITMOS_DUCKDB_MEMORY_LIMIT", "DuckDB's memory limit in the worker processes that "
        "build the model and write the c1z (the extract's appends use 32MB)", "96MB")
    history_retention_syncs: int = setting(
        "LITMOS_HISTORY_RETENTION", "full syncs whose grant changes are kept (with the "
        "refreshes between them)", 30, ge=1)
    risk_idle_days: int = setting(
        "LITMOS_RISK_IDLE_DAYS", "access_risks flags team leaders and admins who have not "
        "logged in for this many days (once last logins are synced)", 90, ge=1)
    refresh_overlap_s: int = setting(
        "LITMOS_REFRESH_OVERLAP_S", "a refresh reads Litmos' changes since the current "
        "snapshot began reading, less this margin (seconds; Litmos' clock and the time zone "
        "of its delta queries are not documented)", 600, ge=0, le=86400)
    # The mass-revocation guard (warehouse/guard.py): an answer from the wrong account or
    # a half-failed Litmos must not reach C1 as "these people lost their access".
    max_grant_removal: float = setting(
        "LITMOS_GUARD_MAX_GRANT_REMOVAL", "a sync that would remove more than this share "
        "of the published grants is not published and fails with its figures (a fraction "
        "`0.2` or a percentage `20%`; `1` turns the guard off); one run is accepted with "
        "the run tag `litmos/accept_mass_removal=true`; the first sync is never held",
        0.2, shown="`0.2` (20%)", ge=0, le=1)
    max_user_removal: float = setting(
        "LITMOS_GUARD_MAX_USER_REMOVAL", "the same for the share of the published users "
        "(an empty user list is never published)", 0.1, shown="`0.1` (10%)", ge=0, le=1)

    @field_validator("max_grant_removal", "max_user_removal", mode="before")
    @classmethod
    def _shares(cls, value: Any) -> Any:
        return _parse_share(value)

    @property
    def staging_dir(self) -> Path:
        return self.duckdb_path.parent / "staging"


class PublishSettings(Settings):
    resource = "publish"

    c1z_output_dir: Path = setting(
        "C1Z_OUTPUT_DIR", "where c1z files are written (`latest.c1z` is the newest)",
        DEFAULT_DATA_DIR / "c1z")
    keep_c1z_files: int = setting("C1Z_KEEP_FILES", "c1z files kept", 10, ge=1)


class FileSettings(Settings):
    """Permissions of the files holding personal data (warehouse, staging, c1z)."""

    read_by = "— (every process)"
    # Octal text, e.g. 0600 or 0640; folders get the matching search bits (0700, 0750).
    file_mode: int = setting(
        "LITMOS_FILE_MODE", "octal mode of the files holding personal data (DuckDB files, "
        "WAL, staging and spill files, c1z files); their folders get the matching `0700` "
        "(`0640` → `0750`); older, more permissive ones are tightened", 0o600,
        shown="`0600`")

    @field_validator("file_mode", mode="before")
    @classmethod
    def _octal(cls, value: Any) -> Any:
        # The check litmos_pipeline.files runs without pydantic (in worker processes).
        return parse_mode(value)


class C1Settings(Settings):
    resource = "c1"
    optional = True

    client_id: str = setting(
        "C1_CLIENT_ID", "C1 client id (`name@tenant.conductor.one/suffix`); enables the "
        "task loop", min_length=1)
    client_secret: SecretStr = setting(
        "C1_CLIENT_SECRET", "C1 client secret (`secret-token:conductorone.com:v1:…`)",
        min_length=1)
    api_url: str | None = setting("C1_API_URL", "override of the token endpoint's base "
                                  "(the sandbox)", None, shown="`https://<tenant host>`")
    grpc_target: str | None = setting(
        "C1_GRPC_TARGET", "override of the gRPC target (plaintext only to loopback)", None,
        shown="`<tenant host>:443`")
    host_id: str | None = setting("C1_HOST_ID", "the host id announced to C1", None,
                                  shown="`litmos-pipeline-<hostname>`")


class ScheduleSettings(Settings):
    """Read when the definitions load: they shape the schedule and the task sensor."""

    sync_cron: str = setting("LITMOS_SYNC_CRON", "the sync schedule (5-field cron)",
                             "0 3 * * *")
    timezone: str = setting("LITMOS_SYNC_TIMEZONE", "the sync schedule's time zone", "UTC")
    sensor_interval_s: int = setting("C1_SENSOR_INTERVAL_S",
                                     "how often the task sensor polls C1", 5, ge=1)
    refresh_cron: str = setting(
        "LITMOS_REFRESH_CRON", "the delta refresh's schedule (5-field cron; it skips until "
        "a full sync has succeeded)", "*/15 * * * *")
    snapshot_max_age_s: int = setting(
        "LITMOS_SNAPSHOT_MAX_AGE_S", "a C1 sync task is answered with the current snapshot "
        "(a refresh's or a sync's) when it read Litmos at most this long ago (seconds), "
        "sparing the key a full sync; `0`: every C1 sync task runs a full sync", 1800, ge=0)

    @field_validator("sync_cron", "refresh_cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("expected a 5-field cron expression")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # Dagster would refuse it only when the definitions load, in every process.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as UTC or Europe/Paris"
                             ) from None
        return value


# Every group, in the README's order.
GROUPS: tuple[type[Settings], ...] = (LitmosSettings, ProvisionSettings, WarehouseSettings,
                                      PublishSettings, FileSettings, C1Settings,
                                      ScheduleSettings)

S = TypeVar("S", bound=Settings)


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


def describe_errors(model: type[Settings], exc: ValidationError) -> str:
    """One line per bad setting, naming it, without the offending value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]) if error["loc"] else model.__name__
        # Our validators' own messages read as "<VARIABLE> <reason>", without pydantic's tag.
        message = error["msg"].removeprefix("Value error, ")
        problems.append((name, "is not set" if error["type"] == "missing" else message))
    return str(settings_error(problems))


def c1_configured(values: Mapping[str, str] | None = None) -> bool:
    source = os.environ if values is None else values
    return bool(source.get("C1_CLIENT_ID")) and bool(source.get("C1_CLIENT_SECRET"))


def env_name(field: FieldInfo) -> str:
    return str(field.alias)


def is_secret(field: FieldInfo) -> bool:
    return field.annotation is SecretStr


def is_required(model: type[Settings], field: FieldInfo) -> bool:
    """Required to run at all: no default, in a group that cannot be left unset."""
    return field.is_required() and not model.optional


def shown_default(model: type[Settings], field: FieldInfo) -> str:
    """The default as the README's table shows it."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "shown" in extra:
        return str(extra["shown"])
    if field.is_required() or field.default is None:
        notes = ["required" if is_required(model, field) else "optional"]
        if is_secret(field):
            notes.append("secret")
        return f"— ({', '.join(notes)})"
    value = field.default
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, Path):
        text = value.relative_to(PROJECT_ROOT).as_posix()
    else:
        text = str(value)
    return f"`{text}`"


def settings_table() -> str:
    """The README's settings table, one row per declared setting."""
    rows = ["| variable | default | resource | meaning |", "|---|---|---|---|"]
    for model in GROUPS:
        carrier = f"`{model.resource}`" if model.resource else model.read_by
        for field in model.model_fields.values():
            rows.append(f"| `{env_name(field)}` | {shown_default(model, field)} | {carrier} "
                        f"| {field.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
