"""The C1 message builders: one display-name rule in Python and in the transform's SQL,
and the grant shapes provisioning, the c1z writer and the C1 sandbox send."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from litmos_pipeline.c1 import c1z, messages
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.provisioning.flow import Action, grant_message
from litmos_pipeline.warehouse import store
from litmos_sandbox.c1 import grant_from_id

# Blank, whitespace DuckDB trims (spaces, no-break, ideographic) and whitespace it does
# not (tabs, line breaks), combining marks, right-to-left text, emoji, and None.
HOSTILE = [None, "", " ", "   ", "\u00a0", "\u3000Ana\u3000", " Ana ", "\tAna\n", "\u2028",
           "Zoë", "e\u0301", "\u05e9\u05dc\u05d5\u05dd", "🙂", "O'Brien", "a  b", "\u200b"]
LOGINS = [None, "", " ", "ana", "\u00a0ana"]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path: Path = tmp_path_factory.mktemp("names") / "n.duckdb"
    with store.opened(path) as connection:
        yield connection


def test_sql_and_python_name_users_alike(con: duckdb.DuckDBPyConnection) -> None:
    cases = list(itertools.product(HOSTILE, HOSTILE, LOGINS, ["u1", ""]))
    rows = con.execute(
        "SELECT c1_user_display_name(f, l, u, i) FROM (SELECT unnest($f::VARCHAR[]) AS f, "
        "unnest($l::VARCHAR[]) AS l, unnest($u::VARCHAR[]) AS u, unnest($i::VARCHAR[]) AS i)",
        {"f": [c[0] for c in cases], "l": [c[1] for c in cases],
         "u": [c[2] for c in cases], "i": [c[3] for c in cases]}).fetchall()
    assert [r[0] for r in rows] == [messages.user_display_name(*c) for c in cases]


def test_the_transforms_nonblank_is_the_same_as_pythons(
        con: duckdb.DuckDBPyConnection) -> None:
    # Every code point DuckDB's trim() removes is in SPACES, and no other.
    trimmed = {row[0] for row in con.execute(
        "SELECT i FROM range(1, 1114112) t(i) WHERE (i < 55296 OR i > 57343) "
        "AND trim(chr(i::INTEGER) || 'a') = 'a'").fetchall()}
    assert trimmed == {ord(c) for c in messages.SPACES}
    values = [v for v in HOSTILE if v is not None]
    rows = con.execute("SELECT nonblank(unnest($v::VARCHAR[]))", {"v": values}).fetchall()
    assert [r[0] for r in rows] == [messages.nonblank(v) for v in values]


def test_user_resource_uses_the_rule() -> None:
    resource = messages.user_resource({"Id": "u1", "FirstName": " Ana ", "LastName": None,
                                       "UserName": "ana"})
    assert (resource.id.resource_type, resource.id.resource, resource.display_name) == \
        ("user", "u1", "Ana")
    assert messages.user_resource({"Id": "u2", "FirstName": "  ", "UserName": "bo"}) \
        .display_name == "bo"


def test_provisioning_grant_has_ids_and_slug() -> None:
    grant = grant_message(Action(kind="grant", resource_type="course", resource_id="c1",
                                 slug="assigned", user_id="u1"))
    expected = v2.Grant(
        id="course:c1:assigned:user:u1",
        entitlement=v2.Entitlement(
            id="course:c1:assigned", slug="assigned",
            resource=v2.Resource(id=v2.ResourceId(resource_type="course", resource="c1"))),
        principal=v2.Resource(id=v2.ResourceId(resource_type="user", resource="u1")))
    assert grant.SerializeToString(deterministic=True) == \
        expected.SerializeToString(deterministic=True)


def test_c1z_grant_embeds_the_resource_name_and_no_slug() -> None:
    grant = c1z.grant_message("team:t1:member", "team", "t1", "Sales", "user", "u1",
                              "team:t1:member:user:u1")
    assert grant.entitlement.resource.display_name == "Sales"
    assert grant.entitlement.slug == ""
    assert grant.id == "team:t1:member:user:u1"
    # The writer's bulk encoding of field 1 is the same entitlement, byte for byte.
    field = c1z.encoding.grant_entitlement_field("team:t1:member", "team", "t1", "Sales")
    assert grant.SerializeToString(deterministic=True).startswith(field)


def test_sandbox_grant_is_the_provisioning_shape_plus_c1s_fields() -> None:
    sandbox = grant_from_id("team:t1:member:user:u1")
    provisioning = messages.user_grant("team", "t1", "member", "u1")
    assert sandbox.id == provisioning.id
    assert sandbox.principal == provisioning.principal
    assert sandbox.entitlement.id == provisioning.entitlement.id
    assert sandbox.entitlement.slug == provisioning.entitlement.slug == "member"
    assert sandbox.entitlement.purpose == v2.Entitlement.PURPOSE_VALUE_ASSIGNMENT
