"""C1 id strings (a published contract) and KSUIDs."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from litmos_pipeline.c1 import ids
from litmos_pipeline.c1.ksuid import (
    KSUID_EPOCH,
    is_ksuid,
    ksuid_bytes,
    ksuid_from,
    ksuid_payload,
    ksuid_time,
    new_ksuid,
)
from litmos_pipeline.litmos.ids import UnsafeIdError, shown

# --------------------------------------------------------------------------- ids


def test_resource_type_ids_and_slugs_match_baton_litmos() -> None:
    assert ids.RESOURCE_TYPES == ("user", "team", "course")
    assert ids.TEAM_SLUGS == ("member", "leader", "admin")
    assert ids.COURSE_SLUGS == ("assigned", "completed", "in_progress")
    assert ids.SLUGS_BY_RESOURCE_TYPE["course"] == ids.COURSE_SLUGS


def test_id_formats() -> None:
    assert ids.resource_external_id("user", "u42") == "user:u42"
    assert ids.entitlement_id("team", "abc123", "member") == "team:abc123:member"
    assert ids.entitlement_id("course", "xyz", "in_progress") == "course:xyz:in_progress"
    ent = ids.entitlement_id("team", "abc123", "member")
    assert ids.grant_id(ent, "user", "u42") == "team:abc123:member:user:u42"


def test_parse_round_trips() -> None:
    ref = ids.parse_entitlement_id("course:xyz:assigned")
    assert (ref.resource_type, ref.resource_id, ref.slug) == ("course", "xyz", "assigned")
    assert ref.id == "course:xyz:assigned"
    grant = ids.parse_grant_id("team:abc123:member:user:u42")
    assert grant.entitlement == ids.EntitlementRef("team", "abc123", "member")
    assert (grant.principal_type, grant.principal_id) == ("user", "u42")
    assert grant.id == "team:abc123:member:user:u42"
    assert ids.parse_resource_external_id("user:u42") == ("user", "u42")


@pytest.mark.parametrize(
    "bad",
    ["", "course:xyz", "course:xyz:assigned:extra", "course::assigned", ":xyz:assigned"],
)
def test_parse_entitlement_id_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        ids.parse_entitlement_id(bad)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize(
    "bad",
    ["team:abc:member:user", "team:abc:member:user:u4:2", "team:abc:member::u42", "x"],
)
def test_parse_grant_id_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        ids.parse_grant_id(bad)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("user", "a:b"), "resource id"),
        (("", "u1"), "resource type"),
    ],
)
def test_builders_reject_colons_and_empty_parts(args: tuple[str, str], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ids.resource_external_id(*args)


def test_builders_reject_bad_slug_and_principal() -> None:
    with pytest.raises(ValueError, match="slug"):
        ids.entitlement_id("course", "c1", "as:signed")
    with pytest.raises(ValueError, match="principal id"):
        ids.grant_id("course:c1:assigned", "user", "u:1")
    with pytest.raises(ValueError, match="entitlement id"):
        ids.grant_id("course:c1", "user", "u1")


UNSAFE = ["..", ".", "a/b", "%2E%2E", "%2F", "u1?x", "u1#x", "u1\n", "é7", "a b", "x" * 101]


@pytest.mark.parametrize("bad", UNSAFE)
def test_parsing_holds_resource_and_principal_ids_to_the_litmos_id_rule(bad: str) -> None:
    # Before the fix `course:..:assigned` parsed, and `..` went on into a Litmos URL path.
    for value, part in [(f"course:{bad}:assigned", "resource id"),
                        (f"team:t1:member:user:{bad}", "principal id"),
                        (f"team:{bad}:member:user:u1", "resource id"),
                        (f"user:{bad}", "resource id")]:
        parse = {2: ids.parse_resource_external_id, 3: ids.parse_entitlement_id,
                 5: ids.parse_grant_id}[value.count(":") + 1]
        with pytest.raises(UnsafeIdError) as info:
            parse(value)
        assert shown(value) in str(info.value) and part in str(info.value)


def test_valid_ids_parse_and_build_byte_identically() -> None:
    grant = "course:mVN_K4Q9yuQ1:assigned:user:u-42_X"
    assert ids.parse_grant_id(grant).id == grant
    assert ids.parse_entitlement_id("team:t1:leader").id == "team:t1:leader"
    # Builders check shape only, as before: what they build from warehouse rows is unchanged.
    assert ids.grant_id(ids.entitlement_id("team", "é7", "member"), "user", "ÅBC") \
        == "team:é7:member:user:ÅBC"


# --------------------------------------------------------------------------- KSUIDs

# The example from segmentio/ksuid's README.
_KNOWN = "0ujtsYcgvSTl8PAuAdqWYSMnLOv"
_KNOWN_PAYLOAD = bytes.fromhex("B5A1CD34B5F99D1154FB6853345C9735")
_KNOWN_UNIX = 1507608047


def test_ksuid_matches_reference_vector() -> None:
    assert ksuid_from(_KNOWN_UNIX, _KNOWN_PAYLOAD) == _KNOWN
    assert ksuid_time(_KNOWN) == datetime(2017, 10, 10, 4, 0, 47, tzinfo=UTC)
    assert ksuid_payload(_KNOWN) == _KNOWN_PAYLOAD
    assert ksuid_bytes(_KNOWN)[:4] == (_KNOWN_UNIX - KSUID_EPOCH).to_bytes(4, "big")


def test_ksuid_bounds() -> None:
    assert ksuid_from(KSUID_EPOCH, bytes(16)) == "0" * 27
    assert ksuid_from(KSUID_EPOCH + 2**32 - 1, b"\xff" * 16) == "aWgEPTl1tmebfsQzFP4bxwgy80V"
    with pytest.raises(ValueError):
        ksuid_from(KSUID_EPOCH - 1, bytes(16))
    with pytest.raises(ValueError):
        ksuid_from(KSUID_EPOCH, bytes(15))


def test_ksuid_from_datetime_is_deterministic_and_requires_aware() -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert ksuid_from(when, b"\x01" * 16) == ksuid_from(when.timestamp(), b"\x01" * 16)
    with pytest.raises(ValueError, match="timezone-aware"):
        ksuid_from(datetime(2024, 5, 1), b"\x01" * 16)


def test_new_ksuid_shape_and_time_order() -> None:
    early = new_ksuid(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
    late = new_ksuid(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    fresh = new_ksuid()
    assert len(fresh) == 27 and is_ksuid(fresh)
    assert early < late
    assert abs((ksuid_time(fresh) - datetime.now(UTC)).total_seconds()) < 5
    assert new_ksuid() != new_ksuid()


@pytest.mark.parametrize("bad", ["", "short", "0" * 26, "0" * 28, "!" * 27, "z" * 27])
def test_is_ksuid_rejects(bad: str) -> None:
    assert not is_ksuid(bad)
    with pytest.raises(ValueError):
        ksuid_time(bad)


def test_duckdb_macros_build_the_same_ids() -> None:
    con = duckdb.connect()
    for statement in ids.DUCKDB_MACROS:
        con.execute(statement)
    row = con.execute(
        "SELECT c1_resource_key('user', 'u42'), c1_entitlement_id('course', 'c 1', 'assigned'),"
        " c1_grant_id(c1_entitlement_id('team', 'é7', 'member'), 'user', 'u42')"
    ).fetchone()
    assert row == (
        ids.resource_external_id("user", "u42"),
        ids.entitlement_id("course", "c 1", "assigned"),
        ids.grant_id(ids.entitlement_id("team", "é7", "member"), "user", "u42"),
    )
    con.close()
