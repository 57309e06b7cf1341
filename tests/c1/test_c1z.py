"""The c1z writer and reader: DuckDB c1_* tables -> .c1z -> decoded records."""

from __future__ import annotations

import hashlib
import io
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import zstandard
from google.protobuf import struct_pb2

from litmos_pipeline.c1 import c1z
from litmos_pipeline.c1.c1z import encoding, sqlite_build
from litmos_pipeline.c1.ksuid import ksuid_from
from litmos_pipeline.c1.proto import connector_v2_pb2 as pb
from litmos_pipeline.warehouse import c1z_source
from litmos_pipeline.warehouse.c1z_source import write_c1z

SYNC_ID = ksuid_from(datetime(2024, 5, 1, tzinfo=UTC), b"\x07" * 16)
STARTED = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
ENDED = datetime(2024, 5, 1, 12, 5, 30, tzinfo=UTC)

# A principal id longer than 127 bytes (2-byte varint lengths) with non-ASCII characters.
LONG_USER = "u-" + "é" * 70
USERS = [
    # id, login, email, given, family, status, last_login, profile
    ("u1", "alice", "alice@example.com", "Alice", "Able", 1, datetime(2024, 4, 1, 8, 30),
     '{"user_id": "u1", "active": true, "points": 12.5, "brand": null}'),
    ("u2", "bob", None, None, None, 2, None, None),
    (LONG_USER, "long", "long@example.com", "Lo", "Ng", 1, None, '{"user_id": "long"}'),
]  # fmt: skip
# Ids with combining marks and astral characters: SQLite cuts id columns out of the grant
# id by code point, which must agree with DuckDB's length().
ODD_TEAM = "te\u0301\U0001f600"
TEAMS = [("t1", "Team One", None), ("t2", "Sub Team", "t1"), (ODD_TEAM, "Odd", None)]
COURSES = [("c1", "Course One"), ("c2", "Course Two")]
TEAM_SLUGS = ("member", "leader", "admin")
COURSE_SLUGS = ("assigned", "completed", "in_progress")
GRANTS = [
    ("team", "t1", "member", "u1"),
    ("team", "t1", "leader", "u2"),
    ("team", "t2", "member", LONG_USER),
    ("team", ODD_TEAM, "admin", LONG_USER),
    ("team", ODD_TEAM, "member", "u1"),
    ("course", "c1", "assigned", "u1"),
    ("course", "c1", "completed", "u1"),
    ("course", "c1", "assigned", "u2"),
    ("course", "c1", "in_progress", "u2"),
    ("course", "c2", "assigned", LONG_USER),
    ("course", "c2", "in_progress", LONG_USER),
]


def build_tables(con: duckdb.DuckDBPyConnection, grants: list[tuple[str, str, str, str]]) -> None:
    """The c1_* tables with exactly the lead's transform columns."""
    con.execute(
        "CREATE OR REPLACE TABLE c1_resource_types AS SELECT * FROM (VALUES"
        " ('user', 'User', [1], 'A Litmos user'), ('team', 'Team', [2], 'A team'),"
        " ('course', 'Course', []::INTEGER[], 'A course'))"
        " t(resource_type_id, display_name, traits, description)"
    )
    con.execute(
        """CREATE OR REPLACE TABLE c1_resources (
            resource_type_id VARCHAR, resource_id VARCHAR, external_id VARCHAR,
            parent_resource_type_id VARCHAR, parent_resource_id VARCHAR, display_name VARCHAR,
            description VARCHAR, trait VARCHAR, user_status INTEGER, user_login VARCHAR,
            user_email VARCHAR, user_given_name VARCHAR, user_family_name VARCHAR,
            user_last_login TIMESTAMP, user_created_at TIMESTAMP, profile VARCHAR)"""
    )
    for uid, login, email, given, family, status, last_login, profile in USERS:
        con.execute(
            "INSERT INTO c1_resources VALUES ('user', ?, 'user:' || ?, NULL, NULL, ?, NULL,"
            " 'user', ?, ?, ?, ?, ?, ?, TIMESTAMP '2020-02-03 04:05:06', ?)",
            [uid, uid, f"{given} {family}", status, login, email, given, family, last_login,
             profile],
        )  # fmt: skip
    for tid, name, parent in TEAMS:
        con.execute(
            "INSERT INTO c1_resources VALUES ('team', ?, 'team:' || ?, ?, ?, ?, 'desc', 'group',"
            " NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{\"team_id\": \"' || ? || '\"}')",
            [tid, tid, "team" if parent else None, parent, name, tid],
        )
    for cid, name in COURSES:
        con.execute(
            "INSERT INTO c1_resources VALUES ('course', ?, 'course:' || ?, NULL, NULL, ?, NULL,"
            " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            [cid, cid, name],
        )
    con.execute(
        """CREATE OR REPLACE TABLE c1_entitlements (
            entitlement_id VARCHAR, resource_type_id VARCHAR, resource_id VARCHAR, slug VARCHAR,
            display_name VARCHAR, description VARCHAR, purpose INTEGER, grantable_to VARCHAR[])"""
    )
    targets = [("team", t[0], TEAM_SLUGS) for t in TEAMS] + [
        ("course", c[0], COURSE_SLUGS) for c in COURSES
    ]
    for rtype, rid, slugs in targets:
        for slug in slugs:
            con.execute(
                "INSERT INTO c1_entitlements VALUES (?, ?, ?, ?, ?, ?, 1, ['user'])",
                [f"{rtype}:{rid}:{slug}", rtype, rid, slug, f"{rid} {slug}", f"{slug} of {rid}"],
            )
    con.execute(
        """CREATE OR REPLACE TABLE c1_grants (
            grant_id VARCHAR, entitlement_id VARCHAR, resource_type_id VARCHAR,
            resource_id VARCHAR, principal_type_id VARCHAR, principal_id VARCHAR)"""
    )
    for rtype, rid, slug, uid in grants:
        ent = f"{rtype}:{rid}:{slug}"
        con.execute(
            "INSERT INTO c1_grants VALUES (?, ?, ?, ?, 'user', ?)",
            [f"{ent}:user:{uid}", ent, rtype, rid, uid],
        )


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    build_tables(connection, GRANTS)
    yield connection
    connection.close()


def _write(tmp_path: Path, con: duckdb.DuckDBPyConnection, **kwargs: Any) -> c1z.C1zSummary:
    return write_c1z(tmp_path / "sync.c1z", con, SYNC_ID, STARTED, ENDED, **kwargs)


def _sqlite_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    assert data[:5] == b"C1ZF\x00"
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data[5:])).read()


@pytest.fixture
def written(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> c1z.C1zSummary:
    return _write(tmp_path, con)


@pytest.fixture
def sqlite_db(tmp_path: Path, written: c1z.C1zSummary) -> Iterator[sqlite3.Connection]:
    db_path = tmp_path / "raw.db"
    db_path.write_bytes(_sqlite_bytes(written.path))
    db = sqlite3.connect(db_path)
    yield db
    db.close()


# --------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_id(
    written: c1z.C1zSummary, con: duckdb.DuckDBPyConnection
) -> None:
    def column(sql: str) -> list[str]:
        return sorted(r[0] for r in con.execute(sql).fetchall())

    with c1z.read_c1z(written.path) as contents:
        assert contents.sync_id == SYNC_ID
        types = [k for k, _ in contents.resource_types()]
        resources = list(contents.resources())
        entitlements = list(contents.entitlements())
        grants = list(contents.grants())
    assert types == column("SELECT resource_type_id FROM c1_resource_types")
    assert [k for k, _ in resources] == column("SELECT external_id FROM c1_resources")
    assert [f"{r.id.resource_type}:{r.id.resource}" for _, r in resources] == [
        k for k, _ in resources
    ]
    assert [k for k, _ in entitlements] == column("SELECT entitlement_id FROM c1_entitlements")
    assert [e.id for _, e in entitlements] == [k for k, _ in entitlements]
    assert [k for k, _ in grants] == column("SELECT grant_id FROM c1_grants")
    assert [g.id for _, g in grants] == [k for k, _ in grants]
    assert written.counts == {
        "resource_types": 3,
        "resources": 8,
        "entitlements": 15,
        "grants": len(GRANTS),
    }


def test_summary_matches_the_file(written: c1z.C1zSummary, tmp_path: Path) -> None:
    data = written.path.read_bytes()
    assert written.path == tmp_path / "sync.c1z"
    assert written.size_bytes == len(data)
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert written.sha256_bytes == hashlib.sha256(data).digest()
    assert written.sqlite_bytes == len(_sqlite_bytes(written.path))
    assert {"validate", "grants", "indexes", "compress"} <= set(written.stage_seconds)
    assert written.total_seconds >= 0


def test_grants_are_byte_identical_to_the_generated_classes(
    written: c1z.C1zSummary, con: duckdb.DuckDBPyConnection
) -> None:
    names = dict(
        con.execute("SELECT external_id, display_name FROM c1_resources").fetchall()
    )
    with c1z.read_c1z(written.path) as contents:
        raw = dict(contents.raw_records("v1_grants"))
    assert len(raw) == len(GRANTS)
    for rtype, rid, slug, uid in GRANTS:
        ent = f"{rtype}:{rid}:{slug}"
        gid = f"{ent}:user:{uid}"
        expected = c1z.grant_message(ent, rtype, rid, names[f"{rtype}:{rid}"], "user", uid, gid)
        assert raw[gid] == expected.SerializeToString(deterministic=True), gid


def test_grant_id_columns_match_the_source_rows(
    sqlite_db: sqlite3.Connection, con: duckdb.DuckDBPyConnection
) -> None:
    expected = sorted(
        con.execute(
            "SELECT grant_id, resource_type_id, resource_id, entitlement_id, principal_type_id,"
            " principal_id FROM c1_grants"
        ).fetchall()
    )
    actual = sqlite_db.execute(
        "SELECT external_id, resource_type_id, resource_id, entitlement_id,"
        " principal_resource_type_id, principal_resource_id FROM v1_grants ORDER BY external_id"
    ).fetchall()
    assert actual == expected


def test_grant_embeds_entitlement_and_principal(written: c1z.C1zSummary) -> None:
    with c1z.read_c1z(written.path) as contents:
        grants = dict(contents.grants())
    grant = grants[f"team:t2:member:user:{LONG_USER}"]
    assert grant.entitlement.id == "team:t2:member"
    assert grant.entitlement.resource.id.resource_type == "team"
    assert grant.entitlement.resource.id.resource == "t2"
    assert grant.entitlement.resource.display_name == "Sub Team"
    assert grant.principal.id.resource_type == "user"
    assert grant.principal.id.resource == LONG_USER
    assert not grant.annotations


def test_user_resource_fields_and_trait(written: c1z.C1zSummary) -> None:
    with c1z.read_c1z(written.path) as contents:
        users = dict(contents.resources("user"))
    assert sorted(users) == sorted(f"user:{u[0]}" for u in USERS)
    alice = users["user:u1"]
    assert alice.display_name == "Alice Able"
    assert alice.status.status == pb.Status.RESOURCE_STATUS_ENABLED
    assert alice.created_at.ToDatetime() == datetime(2020, 2, 3, 4, 5, 6)
    assert dict(alice.profile) == {"user_id": "u1", "active": True, "points": 12.5, "brand": None}
    (annotation,) = alice.annotations
    assert annotation.type_url == "type.googleapis.com/c1.connector.v2.UserTrait"
    trait = pb.UserTrait()
    assert annotation.Unpack(trait)
    assert [(e.address, e.is_primary) for e in trait.emails] == [("alice@example.com", True)]
    assert trait.login == "alice"
    assert trait.account_type == pb.UserTrait.ACCOUNT_TYPE_HUMAN
    assert trait.status.status == pb.UserTrait.Status.STATUS_ENABLED
    assert trait.last_login.ToDatetime() == datetime(2024, 4, 1, 8, 30)
    assert (trait.structured_name.given_name, trait.structured_name.family_name) == (
        "Alice",
        "Able",
    )
    assert trait.profile == alice.profile

    bob = users["user:u2"]
    bob_trait = pb.UserTrait()
    assert bob.annotations[0].Unpack(bob_trait)
    assert bob.status.status == pb.Status.RESOURCE_STATUS_DISABLED
    assert bob_trait.status.status == pb.UserTrait.Status.STATUS_DISABLED
    assert not bob_trait.emails and not bob_trait.HasField("last_login")
    assert not bob.HasField("profile")


def test_group_and_plain_resources(written: c1z.C1zSummary) -> None:
    with c1z.read_c1z(written.path) as contents:
        resources = dict(contents.resources())
    sub = resources["team:t2"]
    assert (sub.parent_resource_id.resource_type, sub.parent_resource_id.resource) == (
        "team",
        "t1",
    )
    assert sub.description == "desc"
    (annotation,) = sub.annotations
    assert annotation.type_url == "type.googleapis.com/c1.connector.v2.GroupTrait"
    group = pb.GroupTrait()
    assert annotation.Unpack(group)
    assert dict(group.profile) == {"team_id": "t2"} == dict(sub.profile)
    assert not resources["team:t1"].HasField("parent_resource_id")
    course = resources["course:c1"]
    assert course.display_name == "Course One"
    assert not course.annotations and not course.HasField("status")


def test_resource_types_and_entitlements(written: c1z.C1zSummary) -> None:
    with c1z.read_c1z(written.path) as contents:
        types = dict(contents.resource_types())
        ents = dict(contents.entitlements())
    assert list(types["user"].traits) == [pb.ResourceType.TRAIT_USER]
    assert list(types["team"].traits) == [pb.ResourceType.TRAIT_GROUP]
    assert list(types["course"].traits) == []
    assert types["user"].display_name == "User"
    ent = ents["course:c1:in_progress"]
    assert ent.slug == "in_progress"
    assert ent.purpose == pb.Entitlement.PURPOSE_VALUE_ASSIGNMENT
    assert ent.display_name == "c1 in_progress" and ent.description == "in_progress of c1"
    assert (ent.resource.id.resource_type, ent.resource.id.resource) == ("course", "c1")
    assert ent.resource.display_name == "Course One"
    assert [t.id for t in ent.grantable_to] == ["user"]
    assert list(ent.grantable_to[0].traits) == [pb.ResourceType.TRAIT_USER]


def test_records_use_deterministic_encoding(written: c1z.C1zSummary) -> None:
    # Struct maps must be written with sorted keys: re-encoding reproduces the bytes.
    with c1z.read_c1z(written.path) as contents:
        for table in c1z.RECORD_TABLES:
            cls = {
                "v1_resource_types": pb.ResourceType,
                "v1_resources": pb.Resource,
                "v1_entitlements": pb.Entitlement,
                "v1_grants": pb.Grant,
            }[table]
            for key, data in contents.raw_records(table):
                msg = cls.FromString(data)
                assert msg.SerializeToString(deterministic=True) == data, key


def test_small_partitions_give_the_same_records(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, written: c1z.C1zSummary
) -> None:
    other = write_c1z(
        tmp_path / "small.c1z", con, SYNC_ID, STARTED, ENDED, partition_rows=2, batch_rows=1
    )
    with c1z.read_c1z(written.path) as a, c1z.read_c1z(other.path) as b:
        for table in c1z.RECORD_TABLES:
            assert list(a.raw_records(table)) == list(b.raw_records(table)), table


# --------------------------------------------------------------------------- the SQLite layout

EXPECTED_COLUMNS = {
    "v1_resource_types": ["id", "external_id", "data", "sync_id", "discovered_at"],
    "v1_resources": [
        "id", "resource_type_id", "external_id", "parent_resource_type_id",
        "parent_resource_id", "data", "sync_id", "discovered_at",
    ],
    "v1_entitlements": [
        "id", "resource_type_id", "resource_id", "external_id", "data", "sync_id",
        "discovered_at",
    ],
    "v1_grants": [
        "id", "resource_type_id", "resource_id", "entitlement_id",
        "principal_resource_type_id", "principal_resource_id", "external_id", "expansion",
        "needs_expansion", "data", "sync_id", "discovered_at",
    ],
    "v1_sync_runs": [
        "id", "sync_id", "started_at", "ended_at", "sync_token", "sync_type",
        "parent_sync_id", "linked_sync_id", "supports_diff", "grants_backfilled", "stats",
        "ingest_invariant_generation", "ingest_invariant_coverage", "ingest_invariant_mode",
    ],
    "v1_assets": ["id", "external_id", "content_type", "data", "sync_id", "discovered_at"],
    "v1_connector_sessions": ["id", "sync_id", "key", "value"],
}  # fmt: skip
NULLABLE = {
    ("v1_resources", "parent_resource_type_id"),
    ("v1_resources", "parent_resource_id"),
    ("v1_grants", "expansion"),
    ("v1_sync_runs", "ended_at"),
    ("v1_sync_runs", "stats"),
}


def test_tables_columns_and_not_nulls_match_the_sdk(sqlite_db: sqlite3.Connection) -> None:
    for table, columns in EXPECTED_COLUMNS.items():
        info = sqlite_db.execute(f"PRAGMA table_info({table})").fetchall()
        assert [row[1] for row in info] == columns, table
        for _cid, name, _type, notnull, _default, pk in info:
            if name != "id":
                assert bool(notnull) == ((table, name) not in NULLABLE), (table, name)
            else:
                assert pk == 1


def test_unique_external_id_sync_indexes(sqlite_db: sqlite3.Connection) -> None:
    for table in ("v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants", "v1_assets"):
        uniques = [
            row[1] for row in sqlite_db.execute(f"PRAGMA index_list({table})") if row[2] == 1
        ]
        cols = [
            [c[2] for c in sqlite_db.execute(f"PRAGMA index_info({name})")] for name in uniques
        ]
        assert ["external_id", "sync_id"] in cols, table
    names = {r[0] for r in sqlite_db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {
        "idx_grants_entitlement_id_principal_id_v1",
        "idx_grants_principal_id_v1",
        "idx_grants_sync_needs_expansion_v1",
        "idx_resources_parent_resource_id_v1",
        "idx_sync_runs_sync_id_v1",
    } <= names


def test_one_finished_full_sync_run(sqlite_db: sqlite3.Connection) -> None:
    rows = sqlite_db.execute(
        "SELECT sync_id, started_at, ended_at, sync_token, sync_type, parent_sync_id,"
        " grants_backfilled FROM v1_sync_runs"
    ).fetchall()
    assert rows == [
        (
            SYNC_ID,
            c1z.format_c1z_time(STARTED),
            c1z.format_c1z_time(ENDED),
            "",
            "full",
            "",
            1,
        )
    ]


def test_every_record_carries_sync_id_and_discovered_at(sqlite_db: sqlite3.Connection) -> None:
    for table in c1z.RECORD_TABLES:
        rows = set(sqlite_db.execute(f"SELECT DISTINCT sync_id, discovered_at FROM {table}"))
        assert rows == {(SYNC_ID, c1z.format_c1z_time(ENDED))}, table
    grant_row = sqlite_db.execute(
        "SELECT resource_type_id, resource_id, entitlement_id, principal_resource_type_id,"
        " principal_resource_id, expansion, needs_expansion FROM v1_grants"
        " WHERE external_id = 'course:c1:completed:user:u1'"
    ).fetchone()
    assert grant_row == ("course", "c1", "course:c1:completed", "user", "u1", None, 0)
    res_row = sqlite_db.execute(
        "SELECT resource_type_id, parent_resource_type_id, parent_resource_id FROM v1_resources"
        " WHERE external_id = 'team:t2'"
    ).fetchone()
    assert res_row == ("team", "team", "t1")


def test_file_is_self_contained_sqlite_in_one_zstd_frame(written: c1z.C1zSummary) -> None:
    data = written.path.read_bytes()
    params = zstandard.get_frame_parameters(data[5:])
    assert params.content_size == written.sqlite_bytes
    assert params.window_size <= c1z.MAX_WINDOW_BYTES
    db = _sqlite_bytes(written.path)
    assert db[:16] == b"SQLite format 3\x00"
    # Header bytes 18/19 are 2 in WAL mode; 1 means a rollback-journal (self-contained) file.
    assert db[18:20] == b"\x01\x01"


def test_timestamp_format_matches_the_sdk() -> None:
    when = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    text = c1z.format_c1z_time(when)
    local = when.astimezone()
    assert text == local.strftime("%Y-%m-%d %H:%M:%S") + ".25"
    assert c1z.format_c1z_time(when.replace(microsecond=0)) == local.strftime("%Y-%m-%d %H:%M:%S")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})?", text)
    other_zone = when.astimezone(timezone(timedelta(hours=5)))
    assert c1z.format_c1z_time(other_zone) == text
    with pytest.raises(ValueError, match="timezone-aware"):
        c1z.format_c1z_time(datetime(2024, 5, 1))


# --------------------------------------------------------------------------- writer errors


def _dir_entries(path: Path) -> set[str]:
    return set(os.listdir(path))


def test_failure_mid_write_leaves_nothing(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    appended: list[int] = []
    real_append = sqlite_build.append_arrow_streams

    def append_one_partition_then_fail(db_path: Path, table: str, streams: Any) -> int:
        def first_then_fail() -> Iterator[Any]:
            iterator = iter(streams)
            yield next(iterator)  # appended to v1_grants inside the open transaction
            appended.append(1)
            raise RuntimeError("disk on fire")

        return real_append(db_path, table, first_then_fail())

    monkeypatch.setattr(sqlite_build, "append_arrow_streams", append_one_partition_then_fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_c1z(out / "sync.c1z", con, SYNC_ID, STARTED, ENDED, partition_rows=1)
    assert appended == [1]  # the failure came after grant rows were written
    assert _dir_entries(out) == set()


def test_sqlite_append_failure_names_the_table(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    db_path = tmp_path / "build.db"
    sqlite_build.open_sqlite(db_path, create=True).close()
    stream = con.sql("SELECT 1 AS nope").__arrow_c_stream__()
    with pytest.raises(c1z.C1zError, match="appending rows to v1_grants .* nope"):
        sqlite_build.append_arrow_streams(db_path, "v1_grants", [stream])


def test_failure_while_compressing_keeps_the_previous_file(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "sync.c1z"
    dest.write_bytes(b"previous")

    def broken_compress(db_path: Path, out_path: Path, level: int) -> tuple[int, str]:
        out_path.write_bytes(b"C1ZF\x00partial")
        raise OSError("no space left on device")

    monkeypatch.setattr(sqlite_build, "compress", broken_compress)
    with pytest.raises(OSError, match="no space"):
        write_c1z(dest, con, SYNC_ID, STARTED, ENDED)
    assert dest.read_bytes() == b"previous"
    assert _dir_entries(out) == {"sync.c1z"}


def test_overwrites_an_existing_file_atomically(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    dest = tmp_path / "sync.c1z"
    dest.write_bytes(b"old")
    summary = write_c1z(dest, con, SYNC_ID, STARTED, ENDED)
    assert dest.read_bytes()[:5] == b"C1ZF\x00"
    assert summary.size_bytes == dest.stat().st_size
    assert _dir_entries(tmp_path) == {"sync.c1z"}


def test_grant_for_unknown_entitlement_is_rejected(tmp_path: Path) -> None:
    con = duckdb.connect()
    build_tables(con, [*GRANTS, ("course", "c9", "assigned", "u1")])
    with pytest.raises(c1z.C1zInputError, match=r"course:c9:assigned.*not in c1_entitlements"):
        _write(tmp_path, con)
    assert _dir_entries(tmp_path) == set()


def test_malformed_grant_is_rejected_naming_it(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    con.execute(
        "INSERT INTO c1_grants VALUES ('course:c1:assigned:user:u:9', 'course:c1:assigned',"
        " 'course', 'c1', 'user', 'u:9')"
    )
    with pytest.raises(c1z.C1zInputError, match=r"'course:c1:assigned:user:u:9'"):
        _write(tmp_path, con)


def test_duplicate_grant_ids_are_rejected_naming_one(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    con.execute("INSERT INTO c1_grants SELECT * FROM c1_grants WHERE principal_id = 'u2' LIMIT 1")
    with pytest.raises(c1z.C1zInputError, match=r"duplicate grant_id.*user:u2"):
        _write(tmp_path, con)
    assert _dir_entries(tmp_path) == set()


def test_duplicate_resources_are_rejected_naming_one(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    con.execute("INSERT INTO c1_resources SELECT * FROM c1_resources WHERE resource_id = 'c1'")
    with pytest.raises(c1z.C1zInputError, match=r"duplicate external_id.*course:c1"):
        _write(tmp_path, con)
    assert _dir_entries(tmp_path) == set()


def test_missing_input_table_is_named(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE c1_entitlements")
    with pytest.raises(c1z.C1zInputError, match="c1_entitlements"):
        _write(tmp_path, con)


def test_bad_resource_rows_are_rejected(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    # Resources are encoded while grant indexes build in the background: the error must
    # still surface and the half-built files must go.
    con.execute("UPDATE c1_resources SET profile = '[1, 2]' WHERE resource_id = 'c2'")
    with pytest.raises(c1z.C1zInputError, match=r"course:c2.*JSON object"):
        _write(tmp_path, con)
    assert _dir_entries(tmp_path) == set()
    con.execute("UPDATE c1_resources SET profile = NULL, external_id = 'course:zz'"
                " WHERE resource_id = 'c2'")
    with pytest.raises(c1z.C1zInputError, match="external_id must be 'course:c2'"):
        _write(tmp_path, con)


def test_arguments_are_checked(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(c1z.C1zInputError, match="KSUID"):
        write_c1z(tmp_path / "x.c1z", con, "not-a-ksuid", STARTED, ENDED)
    with pytest.raises(ValueError, match="timezone-aware"):
        write_c1z(tmp_path / "x.c1z", con, SYNC_ID, datetime(2024, 5, 1), ENDED)
    with pytest.raises(c1z.C1zInputError, match="before started_at"):
        write_c1z(tmp_path / "x.c1z", con, SYNC_ID, ENDED, STARTED)
    with pytest.raises(c1z.C1zError, match="does not exist"):
        write_c1z(tmp_path / "missing" / "x.c1z", con, SYNC_ID, STARTED, ENDED)
    assert _dir_entries(tmp_path) == set()


def test_read_only_duckdb_connection_is_enough(tmp_path: Path) -> None:
    db_path = tmp_path / "w.duckdb"
    with duckdb.connect(str(db_path)) as rw:
        build_tables(rw, GRANTS)
    out = tmp_path / "out"
    out.mkdir()
    with duckdb.connect(str(db_path), read_only=True) as ro:
        summary = write_c1z(out / "sync.c1z", ro, SYNC_ID, STARTED, ENDED, partition_rows=3)
    assert summary.counts["grants"] == len(GRANTS)


# --------------------------------------------------------------------------- reader errors


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def _assert_rejected(path: Path, work_dir: Path, pattern: str) -> None:
    with pytest.raises(c1z.C1zFormatError, match=pattern):
        c1z.read_c1z(path, work_dir=work_dir)
    assert _dir_entries(work_dir) == set()


def test_wrong_magic(tmp_path: Path, work_dir: Path) -> None:
    path = tmp_path / "bad.c1z"
    path.write_bytes(b"PK\x03\x04 not a c1z")
    _assert_rejected(path, work_dir, "not a c1z file")
    path.write_bytes(b"C1Z3\x00" + b"x" * 20)
    _assert_rejected(path, work_dir, "v3")
    path.write_bytes(b"")
    _assert_rejected(path, work_dir, "not a c1z file")


def test_truncated_file(tmp_path: Path, written: c1z.C1zSummary, work_dir: Path) -> None:
    data = written.path.read_bytes()
    path = tmp_path / "truncated.c1z"
    path.write_bytes(data[: len(data) // 2])
    _assert_rejected(path, work_dir, "truncated|damaged")
    path.write_bytes(data[:5])
    _assert_rejected(path, work_dir, "no compressed data")


def test_corrupted_zstd(tmp_path: Path, written: c1z.C1zSummary, work_dir: Path) -> None:
    data = bytearray(written.path.read_bytes())
    data[5:9] = b"\x00\x01\x02\x03"  # break the zstd frame magic
    path = tmp_path / "corrupt.c1z"
    path.write_bytes(bytes(data))
    _assert_rejected(path, work_dir, "damaged")


def test_payload_that_is_not_sqlite(tmp_path: Path, work_dir: Path) -> None:
    path = tmp_path / "notdb.c1z"
    path.write_bytes(b"C1ZF\x00" + zstandard.ZstdCompressor().compress(b"hello world" * 100))
    _assert_rejected(path, work_dir, "not a SQLite database")


def test_sqlite_without_v1_tables(tmp_path: Path, work_dir: Path) -> None:
    db_path = tmp_path / "other.db"
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE something (x)")
    db.close()
    path = tmp_path / "other.c1z"
    path.write_bytes(b"C1ZF\x00" + zstandard.ZstdCompressor().compress(db_path.read_bytes()))
    _assert_rejected(path, work_dir, "missing table")


def test_missing_file(tmp_path: Path, work_dir: Path) -> None:
    _assert_rejected(tmp_path / "nope.c1z", work_dir, "cannot open")


def test_decoded_size_limit(written: c1z.C1zSummary, work_dir: Path) -> None:
    with pytest.raises(c1z.C1zFormatError, match="exceeds the limit"):
        c1z.read_c1z(written.path, work_dir=work_dir, max_decoded_bytes=1000)
    assert _dir_entries(work_dir) == set()


def test_reader_cleans_up_on_close(written: c1z.C1zSummary, work_dir: Path) -> None:
    contents = c1z.read_c1z(written.path, work_dir=work_dir)
    assert len(_dir_entries(work_dir)) == 1
    contents.close()
    assert _dir_entries(work_dir) == set()


def test_reader_picks_newest_finished_sync(tmp_path: Path, written: c1z.C1zSummary) -> None:
    # Add an unfinished and an older finished run by hand: the reader must keep ours.
    db_path = tmp_path / "multi.db"
    db_path.write_bytes(_sqlite_bytes(written.path))
    older = ksuid_from(datetime(2024, 4, 1, tzinfo=UTC), b"\x01" * 16)
    newer = ksuid_from(datetime(2024, 6, 1, tzinfo=UTC), b"\x02" * 16)
    db = sqlite3.connect(db_path)
    db.execute(
        "INSERT INTO v1_sync_runs (sync_id, started_at, ended_at, sync_token)"
        " VALUES (?, '2024-04-01 00:00:00', '2024-04-01 00:10:00', ''),"
        " (?, '2030-01-01 00:00:00', NULL, '')",
        (older, newer),
    )
    db.commit()
    db.close()
    path = tmp_path / "multi.c1z"
    path.write_bytes(b"C1ZF\x00" + zstandard.ZstdCompressor().compress(db_path.read_bytes()))
    with c1z.read_c1z(path) as contents:
        assert contents.sync_id == SYNC_ID
        assert [r.sync_id for r in contents.sync_runs] == [SYNC_ID, older, newer]
        assert not contents.sync_runs[2].finished
    with c1z.read_c1z(path, sync_id=older) as contents:
        assert contents.counts()["grants"] == 0
    with pytest.raises(c1z.C1zFormatError, match="no sync"):
        c1z.read_c1z(path, sync_id="x" * 27)


# --------------------------------------------------------------------------- CLI


def test_cli_commands(written: c1z.C1zSummary, capsys: pytest.CaptureFixture[str]) -> None:
    assert c1z.main(["stats", str(written.path)]) == 0
    out = capsys.readouterr().out
    assert f"* sync {SYNC_ID} type=full" in out
    assert f"grants\t{len(GRANTS)}" in out
    assert "course\tresources=2\tentitlements=6\tgrants=6" in out
    assert "team\tresources=3\tentitlements=9\tgrants=5" in out

    assert c1z.main(["grants", str(written.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "course:c1:completed:user:u1\tcourse:c1:completed\tuser:u1" in lines
    assert len(lines) == len(GRANTS)

    assert c1z.main(["resources", str(written.path)]) == 0
    assert "user:u1\tAlice Able\tUserTrait" in capsys.readouterr().out.splitlines()

    assert c1z.main(["entitlements", str(written.path)]) == 0
    assert "team:t1:member\tt1 member\tPURPOSE_VALUE_ASSIGNMENT" in capsys.readouterr().out


def test_cli_reports_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.c1z"
    path.write_bytes(b"garbage")
    assert c1z.main(["stats", str(path)]) == 2
    assert "not a c1z file" in capsys.readouterr().err


def test_struct_profile_helper_rejects_non_objects() -> None:
    with pytest.raises(c1z.C1zInputError, match="not valid JSON"):
        encoding._struct_from_json("{", "resource 'x'")
    assert isinstance(encoding._struct_from_json('{"a": 1}', "r"), struct_pb2.Struct)


def test_duplicate_entitlements_are_rejected(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    con.execute(
        "INSERT INTO c1_entitlements SELECT * FROM c1_entitlements"
        " WHERE entitlement_id = 'course:c2:assigned'"
    )
    with pytest.raises(c1z.C1zInputError, match="duplicate entitlement_id 'course:c2:assigned'"):
        _write(tmp_path, con)
    assert _dir_entries(tmp_path) == set()


def test_failure_while_reading_duckdb_surfaces(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The last grant partition fails inside DuckDB while SQLite is appending the stream.
    real_partitions = c1z_source.grant_partitions

    def partitions_then_a_failing_one(*args: Any) -> list[tuple[str, dict[str, str]]]:
        return [*real_partitions(*args), ("error('lost the warehouse file') IS NULL", {})]

    monkeypatch.setattr(c1z_source, "grant_partitions", partitions_then_a_failing_one)
    with pytest.raises((duckdb.Error, c1z.C1zError), match="lost the warehouse"):
        _write(tmp_path, con, partition_rows=3)
    assert _dir_entries(tmp_path) == set()


def many_grants() -> tuple[duckdb.DuckDBPyConnection, list[tuple[str, str, str, str]]]:
    """390 grants: 130 users on each of three entitlements, and the users as resources."""
    con = duckdb.connect()
    many = [
        ("course", c, slug, f"x{i:03d}\u00e9")
        for i in range(130)
        for c, slug in (("c1", "assigned"), ("c2", "completed"), (ODD_TEAM, "member"))
    ]
    many = [(("team" if c == ODD_TEAM else rt), c, s, u) for rt, c, s, u in many]
    build_tables(con, many)
    con.execute(
        "INSERT INTO c1_resources SELECT 'user', principal_id, 'user:' || principal_id,"
        " NULL, NULL, principal_id, NULL, 'user', 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        " FROM (SELECT DISTINCT principal_id FROM c1_grants)"
    )
    return con, many


def test_many_grants_across_partitions_and_batches(tmp_path: Path) -> None:
    # Enough rows for several partitions of whole entitlements, each one Arrow stream.
    con, many = many_grants()
    summary = write_c1z(
        tmp_path / "many.c1z", con, SYNC_ID, STARTED, ENDED, partition_rows=150, batch_rows=120
    )
    assert summary.counts["grants"] == len(many) == 390
    names = dict(con.execute("SELECT external_id, display_name FROM c1_resources").fetchall())
    db_path = tmp_path / "many.db"
    db_path.write_bytes(_sqlite_bytes(summary.path))
    db = sqlite3.connect(db_path)
    rows = db.execute(
        "SELECT external_id, resource_type_id, resource_id, entitlement_id,"
        " principal_resource_type_id, principal_resource_id, data FROM v1_grants"
    ).fetchall()
    db.close()
    assert len(rows) == len(many)
    for gid, rtype, rid, ent, ptype, pid, data in rows:
        assert gid == f"{ent}:{ptype}:{pid}" and ent == f"{rtype}:{rid}:{ent.rsplit(':', 1)[1]}"
        expected = c1z.grant_message(ent, rtype, rid, names[f"{rtype}:{rid}"], ptype, pid, gid)
        assert data == expected.SerializeToString(deterministic=True), gid
    assert {(r[1], r[2], r[4], r[5]) for r in rows} == {
        (rt, c, "user", u) for rt, c, _s, u in many
    }


def test_the_callers_memory_limit_is_restored(tmp_path: Path,
                                              con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET memory_limit = '512MiB'")  # shown exactly, so restorable exactly
    before = con.execute("SELECT current_setting('memory_limit')").fetchone()
    _write(tmp_path, con)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone() == before


@pytest.mark.parametrize("partition_rows", [40, 130, 131, 1000])
def test_grants_go_in_once_each_in_grant_id_order_however_they_are_cut(
        tmp_path: Path, partition_rows: int) -> None:
    # 40: every entitlement (130 grants) is cut into grant id slices of its own.
    con, many = many_grants()
    summary = write_c1z(tmp_path / "cut.c1z", con, SYNC_ID, STARTED, ENDED,
                            partition_rows=partition_rows, batch_rows=7)
    db_path = tmp_path / "cut.db"
    db_path.write_bytes(_sqlite_bytes(summary.path))
    db = sqlite3.connect(db_path)
    ids = [r[0] for r in db.execute("SELECT external_id FROM v1_grants ORDER BY id")]
    db.close()
    expected = sorted(r[0] for r in con.execute("SELECT grant_id FROM c1_grants").fetchall())
    assert len(ids) == len(many) and ids == expected


def test_background_job_is_told_to_stop_when_the_body_fails() -> None:
    statements: list[int] = []

    def job(stop: threading.Event) -> None:
        for n in range(200):  # index builds: the job looks at `stop` between statements
            if stop.is_set():
                return
            statements.append(n)
            time.sleep(0.01)

    with pytest.raises(ValueError, match="resource encoding failed"):
        with sqlite_build.Background(job):
            time.sleep(0.05)
            raise ValueError("resource encoding failed")
    assert 0 < len(statements) < 50


def test_background_job_error_is_raised_by_the_owner() -> None:
    def job(stop: threading.Event) -> None:
        raise c1z.C1zError("building indexes of the c1z's SQLite file failed")

    with pytest.raises(c1z.C1zError, match="building indexes"):
        with sqlite_build.Background(job):
            pass
