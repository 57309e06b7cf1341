"""Thin Dagster resources: settings in, clients and connections out; the resources' defs.

Each resource carries one group of `litmos_pipeline.settings`, and its fields are derived
from that group's declarations (`settings_resource`): same names, all text, so the
pydantic settings do the validation and errors name the variable, never its value.
Dagster config has no secret type, so secret fields are plain strings left out of
repr/str (`Field(repr=False)`); the settings hold them as SecretStr from there on.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Self

import dagster as dg
import duckdb
from pydantic import Field, PrivateAttr, create_model

from litmos_pipeline import settings as cfg
from litmos_pipeline.c1.client import BatonClient, default_target
from litmos_pipeline.c1.credentials import (
    CLIENT_ID_SETTING,
    CLIENT_SECRET_SETTING,
    C1CredentialsError,
    default_token_url,
    parse_client_id,
    parse_client_secret,
)
from litmos_pipeline.c1.heartbeat import TaskHeartbeat
from litmos_pipeline.c1.ksuid import ksuid_from
from litmos_pipeline.litmos.budget import (
    BUDGET_FILE,
    PROVISION,
    SYNC,
    KeyBudget,
    Shares,
    key_id,
)
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.taskloop.loop import TokenCache
from litmos_pipeline.taskloop.tags import HEARTBEAT_TAG, run_task_ids
from litmos_pipeline.warehouse import store

EXTRACT_MEMORY_LIMIT = "32MB"  # measured: the 2M-enrollment extract runs in 32MB, not 16MB
EXTRACT_CHECKPOINT_THRESHOLD = "1GB"
# FSST string compression was half of the staging file's one checkpoint (2.1 s -> 1.0 s on
# the large tenant's 2.2M rows, the model build no slower): the file is read once, by the
# model build, and deleted after the c1z, so it is kept larger (76 MB -> 254 MB) instead.
EXTRACT_DISABLED_COMPRESSION = "fsst,dict_fsst"
SYNC_BURST = 4  # request starts a sync may make back to back (see LitmosResource.client)


def _value(field: str) -> str:
    # The resources in the Definitions hold EnvVars; runs and sensors get the values.
    if isinstance(field, dg.EnvVar):
        return field.get_value() or ""
    return field


class SettingsResource(dg.ConfigurableResource):
    """A resource whose fields are one settings group's, as text (see settings_resource).

    An empty field means "not set": the settings loader then applies the declared
    default, or names the variable a required setting is missing from.
    """

    settings_model: ClassVar[type[cfg.Settings]]

    def setting_values(self) -> dict[str, str]:
        """The fields keyed by their environment variables, as `cfg.load` takes them."""
        return {cfg.env_name(field): _value(getattr(self, name))
                for name, field in self.settings_model.model_fields.items()}

    @classmethod
    def from_env(cls) -> Self:
        """This resource with every field pointing at its variable: Dagster shows the names.

        Dagster's EnvVar has no default: an unset variable would fail every run's config.
        Each unset optional variable is therefore declared empty in this process (every
        process that loads the definitions does the same), which the settings loader
        reads as unset and answers with the declared default. Required ones stay unset,
        so a run without them fails at launch naming the variable, as it always did.
        """
        model = cls.settings_model
        for field in model.model_fields.values():
            if not cfg.is_required(model, field):
                os.environ.setdefault(cfg.env_name(field), "")
        return cls(**{name: dg.EnvVar(cfg.env_name(field))
                      for name, field in model.model_fields.items()})


def settings_resource(model: type[cfg.Settings]) -> Any:
    """A resource base with one text field per setting of `model`, named as in `model`.

    The help text becomes the field's description in the Dagster UI; secret fields are
    left out of repr and str.
    """
    fields: dict[str, Any] = {
        name: (str, Field("", repr=not cfg.is_secret(field),
                          description=f"{cfg.env_name(field)}: {field.description}"))
        for name, field in model.model_fields.items()}
    base = create_model(f"{model.__name__}Fields", __base__=SettingsResource,
                        __module__=__name__, **fields)
    base.settings_model = model
    return base


class LitmosResource(settings_resource(cfg.LitmosSettings)):
    """The Litmos REST API for one account (see the README's settings table)."""

    def settings(self) -> cfg.LitmosSettings:
        return cfg.load(cfg.LitmosSettings, self.setting_values())

    @contextmanager
    def client(
        self, log: logging.Logger | dg.DagsterLogManager | None = None, *,
        provisioning: bool = False, budget_path: Path | None = None,
    ) -> Iterator[LitmosClient]:
        """A paced client: the sync's rate, or the small one kept for provisioning.

        With `budget_path` (the warehouse's `key_budget_path()`), every request is also
        drawn from the key's budget shared by all the project's processes (litmos.budget):
        the key's limit is the two rates added (the key's 100 a minute by default).
        """
        s = self.settings()
        rate = s.provision_requests_per_minute if provisioning else s.requests_per_minute
        progress: Callable[[str], None] | None = log.info if log is not None else None
        budget = None
        if budget_path is not None:
            shares = Shares.for_rates(s.requests_per_minute, s.provision_requests_per_minute)
            budget = KeyBudget(budget_path, key_id(s.base_url, s.api_key.get_secret_value()),
                               shares)
            if provisioning:
                # The key's budget keeps provisioning's share; a run serving a batch of
                # tasks may use all the key has free, not 10 a minute of its own.
                rate = shares.per_minute
        # A provisioning run makes a handful of calls: all at once if the minute has room.
        # A sync spaces its starts evenly, with a burst of a few so that a slow answer
        # does not cost its slot for good; the 60 s window still caps the minute.
        client = LitmosClient(
            s.base_url, s.api_key, s.source,
            requests_per_minute=rate, burst=int(rate) if provisioning else SYNC_BURST,
            budget=budget, lane=PROVISION if provisioning else SYNC,
            max_retries=s.max_retries, timeout_s=s.timeout_s, on_progress=progress,
        )
        try:
            yield client
        finally:
            client.close()
            if budget is not None:
                budget.close()


@dataclass(frozen=True)
class SyncIdentity:
    """One sync = one Dagster run; its KSUID is derived from the run, so every step agrees."""

    sync_id: str
    run_id: str
    started_at: datetime


class WarehouseResource(settings_resource(cfg.WarehouseSettings)):
    """The DuckDB warehouse file and the per-run staging files beside it."""

    def settings(self) -> cfg.WarehouseSettings:
        return cfg.load(cfg.WarehouseSettings, self.setting_values())

    def key_budget_path(self) -> Path:
        """The Litmos key's shared request budget (litmos.budget), beside the DuckDB file."""
        return self.settings().duckdb_path.parent / BUDGET_FILE

    def staging_path(self, run_id: str) -> Path:
        return self.settings().staging_dir / f"{run_id}.duckdb"

    def discard_staging(self, run_id: str, *, older_than_days: float = 7.0) -> int:
        """Remove this run's staging file, and other runs' left longer than `older_than_days`.

        A failed run's staging file is kept that long for inspection.
        """
        staging_dir = self.settings().staging_dir
        cutoff = time.time() - older_than_days * 86400
        removed = 0
        for path in staging_dir.glob("*.duckdb*"):
            if path.name.startswith(run_id) or path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    @contextmanager
    def main(self, lock_timeout_s: float = 300.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """The main file, with the schema in place; hold it briefly."""
        s = self.settings()
        with store.opened_main(s.duckdb_path, memory_limit=s.memory_limit,
                               lock_timeout_s=lock_timeout_s) as con:
            yield con

    @contextmanager
    def staging(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """This run's staging file, for the extract's appends.

        Appends need little of DuckDB's memory, and the run process must keep what it
        has; the model build and the c1z write get LITMOS_DUCKDB_MEMORY_LIMIT in worker
        processes of their own.
        """
        with store.opened(self.staging_path(run_id), memory_limit=EXTRACT_MEMORY_LIMIT) as con:
            # One checkpoint, at close. Every 16MB of WAL (the default) rewrote half-filled
            # row groups over and over: on 2.2M rows the file came out 145 MB instead of
            # 80 MB, the extract took ~3 s longer and the model build ~1 s (measured).
            # Memory stays bounded: blocks not yet checkpointed spill to DuckDB's temp dir.
            con.execute(f"SET checkpoint_threshold = '{EXTRACT_CHECKPOINT_THRESHOLD}'")
            con.execute(f"SET disabled_compression_methods = '{EXTRACT_DISABLED_COMPRESSION}'")
            yield con


def sync_identity(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> SyncIdentity:
    return run_sync_identity(context.instance, context.run_id)


def run_sync_identity(instance: dg.DagsterInstance, run_id: str) -> SyncIdentity:
    """The sync identity of any run, e.g. a dead one whose files must be cleaned up."""
    record = instance.get_run_record_by_id(run_id)
    started = record.create_timestamp if record else datetime.now(UTC)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return SyncIdentity(
        sync_id=ksuid_from(started.timestamp(), uuid.UUID(run_id).bytes),
        run_id=run_id,
        started_at=started.astimezone(UTC).replace(tzinfo=None),
    )


@lru_cache(maxsize=16)
def credentials_problem(client_id: str, client_secret: str, api_url: str = "") -> str | None:
    """C1Resource.problem for given values: the first malformed setting, in one line."""
    if not client_id and not client_secret:
        return None
    if not client_id or not client_secret:
        unset, other = ((CLIENT_ID_SETTING, CLIENT_SECRET_SETTING) if not client_id
                        else (CLIENT_SECRET_SETTING, CLIENT_ID_SETTING))
        return f"{unset} is not set while {other} is"
    try:
        tenant_host = parse_client_id(client_id).tenant_host
        parse_client_secret(client_secret)
        default_token_url(tenant_host, api_url or None)
    except C1CredentialsError as exc:
        return str(exc)
    return None


class C1Resource(settings_resource(cfg.C1Settings)):
    """ConductorOne's service-mode API (BatonService) for this connector.

    Optional: without C1_CLIENT_ID and C1_CLIENT_SECRET the pipeline still syncs and writes
    c1z files; it just has no C1 to talk to.
    """

    _heartbeat: TaskHeartbeat | None = PrivateAttr(default=None)
    _run_client: BatonClient | None = PrivateAttr(default=None)
    # Dagster builds a resource afresh for each run and each sensor tick: this cache lives
    # as long as one of them. Sensors pass their TaskLoop's, which outlives the tick.
    _tokens: TokenCache = PrivateAttr(default_factory=TokenCache)

    @property
    def configured(self) -> bool:
        return bool(_value(self.client_id) and _value(self.client_secret))

    def problem(self) -> str | None:
        """Why C1 tasks cannot be served with these settings, found offline; None if they can.

        None also when C1 is not configured at all (no client id, no secret). Otherwise one
        line naming the setting at fault (C1_CLIENT_ID, C1_CLIENT_SECRET, C1_API_URL),
        never its value. Cached per process: a sensor may ask on every tick.
        """
        return credentials_problem(_value(self.client_id), _value(self.client_secret),
                                   _value(self.api_url))

    def settings(self) -> cfg.C1Settings:
        return cfg.load(cfg.C1Settings, self.setting_values())

    def connect(self, tokens: TokenCache | None = None) -> BatonClient:
        """A client whose bearer token comes from `tokens` (a sensor's TaskLoop.tokens).

        Without, from this resource's own cache: clients of one run share its token.
        """
        s = self.settings()
        cache = tokens if tokens is not None else self._tokens
        try:
            tenant_host = parse_client_id(s.client_id).tenant_host
            source = cache.source(s.client_id, s.client_secret.get_secret_value(),
                                  default_token_url(tenant_host, s.api_url))
        except C1CredentialsError as exc:
            raise cfg.SettingsError(str(exc)) from None
        host_id = s.host_id or f"litmos-pipeline-{socket.gethostname()}"
        return BatonClient(default_target(tenant_host, s.grpc_target), source, host_id=host_id)

    @contextmanager
    def client(self, tokens: TokenCache | None = None) -> Iterator[BatonClient]:
        client = self.connect(tokens)
        try:
            yield client
        finally:
            client.close()

    @property
    def heartbeat(self) -> TaskHeartbeat | None:
        return self._heartbeat

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run working on a C1 task keeps it leased for as long as the run lives."""
        tags = context.dagster_run.tags if context.dagster_run else {}
        task_ids = run_task_ids(tags)
        problem = self.problem()
        if problem and task_ids:
            raise cfg.SettingsError(problem)
        if problem and context.dagster_run is not None:
            # A headless sync would otherwise say nothing until C1 asks for a task.
            (context.log or logging.getLogger(__name__)).warning(
                f"{problem}; C1 tasks cannot be served until it is fixed "
                "(this run still syncs and writes its c1z)")
        if not (task_ids and self.configured):
            return
        # C1 advises the interval with each task; like the SDK, keep it within 1 s..5 min.
        interval = min(300.0, max(1.0, float(tags.get(HEARTBEAT_TAG) or 30.0)))
        self._run_client = self.connect()
        self._heartbeat = TaskHeartbeat(self._run_client, task_ids, interval_s=interval).start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._heartbeat:
            self._heartbeat.stop()
        if self._run_client:
            self._run_client.close()
        self._tokens.close()

    def run_client(self) -> BatonClient:
        """The client opened for this run's task (see setup_for_execution)."""
        if self._run_client is None:
            raise RuntimeError("this run carries no C1 task, or C1 is not configured")
        return self._run_client


class PublishResource(settings_resource(cfg.PublishSettings)):
    """Where c1z files go and how many are kept."""

    def settings(self) -> cfg.PublishSettings:
        return cfg.load(cfg.PublishSettings, self.setting_values())


class ProvisionResource(settings_resource(cfg.ProvisionSettings)):
    """How provisioning runs change Litmos (or only say what they would change)."""

    def settings(self) -> cfg.ProvisionSettings:
        return cfg.load(cfg.ProvisionSettings, self.setting_values())


# One resource per settings group that has one, under the group's resource key.
RESOURCES: tuple[type[SettingsResource], ...] = (LitmosResource, WarehouseResource, C1Resource,
                                                 PublishResource, ProvisionResource)


@dg.definitions
def defs() -> dg.Definitions:
    """The resources, wired to the environment, and the executor every job runs with."""
    return dg.Definitions(
        resources={cls.settings_model.resource: cls.from_env() for cls in RESOURCES},
        # Steps of a run share one process: staging files are opened by one step at a
        # time, the C1 task heartbeat lives as long as the run, and a provisioning run
        # starts fast.
        executor=dg.in_process_executor,
    )
