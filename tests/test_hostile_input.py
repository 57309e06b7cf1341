"""Hostile input, property-based: parsers, id builders and the path-segment gate (issue 12).

Every value is either refused with a specific error naming what it was for, or handled;
none reaches a URL path unescaped. Derandomized, so CI sees the same examples every run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litmos_pipeline.c1 import ids as c1_ids
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.litmos.ids import ID_PATTERN, UnsafeIdError, path_segment
from litmos_pipeline.litmos.records import LitmosParseError, parse_page, parse_record
from litmos_pipeline.warehouse.extract import JsonPageCounter
from litmos_pipeline.warehouse.loader import MissingIdError, check_ids
from tests.conftest import CannedLitmos

HOSTILE = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NASTY = ["", ".", "..", "...", "/", "a/b", "../users", "?", "u1?x=1", "#", "u1#x", "%2F",
         "%2E%2E", "%2e%2e", "%00", "u1\n", "u1\r\nX-Evil: 1", "\x00", "\t", " ", "é", "ü1",
         "\u202e", "\ufeff", "🙂", "a:b", "x" * 100, "x" * 101, "x" * 100_000, "é" * 100_000,
         "mVN_K4Q9yuQ1", "u-42", "_", "-"]
VALID = st.from_regex(re.compile(ID_PATTERN), fullmatch=True)
ANY_ID = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), VALID,
                   st.text(alphabet="./%?#:2EeFf", max_size=8))


# --------------------------------------------------------------------------- path segments

@HOSTILE
@given(ANY_ID)
def test_a_segment_is_refused_or_needs_no_escaping(value: str) -> None:
    try:
        segment = path_segment(value, "user id")
    except UnsafeIdError as exc:
        assert str(exc).startswith("refusing user id ")
        return
    assert segment == value == quote(value, safe="")
    assert segment not in (".", "..")
    assert not set(segment) & set("/?#%\\ ") and segment.isascii() and segment.isprintable()


@HOSTILE
@given(VALID)
def test_every_litmos_shaped_id_is_accepted(value: str) -> None:
    assert path_segment(value, "course id") == value


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[CannedLitmos, LitmosClient]]:
    server = CannedLitmos(lambda method, path, query: (200, None, b""))
    client = LitmosClient(server.base_url, "k", "pytest", requests_per_minute=None,
                          max_retries=0)
    yield server, client
    client.close()
    server.close()


@HOSTILE
@given(team=ANY_ID, user=ANY_ID)
def test_a_request_lands_on_exactly_its_path_or_is_not_sent(
        echo: tuple[CannedLitmos, LitmosClient], team: str, user: str) -> None:
    server, client = echo
    before = len(server.requests)
    try:
        client.remove_team_member(team, user)
    except UnsafeIdError as exc:
        assert "team id" in str(exc) or "user id" in str(exc)
        assert len(server.requests) == before
        return
    assert server.requests[before:] == [("DELETE", f"/v1.svc/teams/{team}/users/{user}",
                                         {"source": "pytest", "format": "json"})]


# --------------------------------------------------------------------------- C1 ids

@HOSTILE
@given(st.sampled_from(c1_ids.RESOURCE_TYPES), ANY_ID, st.sampled_from(c1_ids.COURSE_SLUGS),
       ANY_ID)
def test_built_ids_parse_back_byte_identically_or_are_refused(
        resource_type: str, resource_id: str, slug: str, principal_id: str) -> None:
    try:
        entitlement = c1_ids.entitlement_id(resource_type, resource_id, slug)
        grant = c1_ids.grant_id(entitlement, "user", principal_id)
    except ValueError as exc:
        assert "must" in str(exc)  # builders name the part: "resource id must not ..."
        return
    try:
        ref = c1_ids.parse_grant_id(grant)
    except UnsafeIdError as exc:
        assert "malformed grant id" in str(exc)
        assert not (path_ok(resource_id) and path_ok(principal_id))
        return
    assert ref.id == grant and ref.entitlement.id == entitlement
    assert (ref.entitlement.resource_id, ref.principal_id) == (resource_id, principal_id)


@HOSTILE
@given(st.one_of(st.text(max_size=60), st.sampled_from(NASTY),
                 st.builds(lambda a, b: f"course:{a}:assigned:user:{b}", ANY_ID, ANY_ID)))
def test_any_text_parses_to_litmos_ids_or_is_refused(value: str) -> None:
    for parse in (c1_ids.parse_resource_external_id, c1_ids.parse_entitlement_id,
                  c1_ids.parse_grant_id):
        try:
            parsed = parse(value)
        except ValueError as exc:
            assert "malformed" in str(exc)
            continue
        parts = parsed if isinstance(parsed, tuple) else (parsed.id,)
        assert c1_ids.SEP.join(parts) == value


def path_ok(value: str) -> bool:
    try:
        path_segment(value, "id")
    except UnsafeIdError:
        return False
    return True


# --------------------------------------------------------------------------- parsers

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20), st.sampled_from(NASTY))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=8), kids, max_size=3)),
    max_leaves=12)
FIELDS = st.sampled_from(["Id", "UserName", "Active", "LoginKey", "loginkey", "Items", "X"])
RECORDS = st.dictionaries(st.one_of(FIELDS, st.text(max_size=8)), JSON_VALUES, max_size=5)


def _laughs(levels: int) -> bytes:
    entities = b"".join(b'<!ENTITY l%d "%s">' % (n, b"&l%d;" % (n - 1) * 10)
                        for n in range(1, levels + 1))
    return (b'<?xml version="1.0"?><!DOCTYPE Users [<!ENTITY l0 "lol">' + entities
            + b"]><Users><User><Id>&l%d;</Id></User></Users>" % levels)


HOSTILE_BODIES = [
    _laughs(9), _laughs(3),
    b'<!DOCTYPE U [<!ENTITY e SYSTEM "file:///etc/passwd">]><Users><User><Id>&e;</Id></User>'
    b"</Users>",
    b"[" * 50_000 + b"]" * 50_000, b"{" * 10 + b"}" * 10, b'[{"Id": ' + b"[" * 500
    + b"]" * 500 + b"}]",
    b"<a>" * 20_000 + b"</a>" * 20_000,
    b'<?xml version="1.0" encoding="cp932"?><Users/>',
    b'<?xml version="1.0" encoding="nope"?><Users/>',
    b"<Users><User><Id>u1</Id></User><User><Id>u1</Id></User></Users>",  # duplicate ids
    b'[{"Id": "u1"}, {"Id": "u1"}]',
    b'[{"Id": 5}, {"Id": null}, {"Id": [1]}, {"Id": {"a": 1}}, {"Name": "no id"}]',
    b"<Users><User><Id>" + b"x" * 100_000 + b"</Id></User></Users>",
    b'[{"Id": "' + "é".encode() * 50_000 + b'"}]',
    b"\xff\xfe\x00<", b"\x00" * 10, b"", b"  ", b"null", b"[]", b'{"Items": 5}',
]
XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


def _xml(records: list[dict[str, str]]) -> bytes:
    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;")

    items = "".join("<User>" + "".join(f"<{k}>{esc(v)}</{k}>" for k, v in r.items())
                    + "</User>" for r in records)
    return f"<Users>{items}</Users>".encode("utf-8", "surrogatepass")


XML_RECORDS = st.lists(st.dictionaries(st.sampled_from(["Id", "UserName", "LoginKey", "A"]),
                                       XML_TEXT, max_size=4), max_size=4)
BODIES = st.one_of(
    st.sampled_from(HOSTILE_BODIES).map(lambda b: (b, "application/json")),
    st.sampled_from(HOSTILE_BODIES).map(lambda b: (b, "application/xml")),
    st.tuples(st.binary(max_size=200), st.sampled_from(["application/json", "text/xml", None])),
    st.lists(RECORDS, max_size=4).map(lambda r: (json.dumps(r).encode(), "application/json")),
    RECORDS.map(lambda r: (json.dumps(r).encode(), "application/json; charset=utf-8")),
    XML_RECORDS.map(lambda r: (_xml(r), "application/xml")),
)


@HOSTILE
@given(BODIES)
def test_a_body_is_parsed_or_refused_naming_its_page(body_and_type: tuple[bytes, str]) -> None:
    body, ctype = body_and_type
    where = "users (start=1000)"
    try:
        page = parse_page(body, ctype, where)
        records = page.text_records()
    except LitmosParseError as exc:
        assert str(exc).startswith(f"{where}: ")
        return
    assert page.rows == len(records)
    for record in records:
        assert all(isinstance(k, str) for k in record)
        assert all(v is None or isinstance(v, str) for v in record.values())
        assert "loginkey" not in {k.lower() for k in record}
    if page.json_array is not None:
        assert '"LoginKey"' not in page.json_array
    try:
        check_ids(records, "Id", where)
    except MissingIdError as exc:
        assert f"in {where} (record #" in str(exc)
    else:
        assert all(path_ok(r["Id"] or "") for r in records)
    try:
        one = parse_record(body, ctype, where)
    except LitmosParseError as exc:
        assert str(exc).startswith(f"{where}: ")
    else:
        assert "loginkey" not in {k.lower() for k in one}


@pytest.fixture(scope="module")
def counter() -> Iterator[JsonPageCounter]:
    con = duckdb.connect()
    yield JsonPageCounter(con)
    con.close()


@HOSTILE
@given(BODIES)
def test_the_duckdb_page_counter_counts_or_refuses_naming_the_page(
        counter: JsonPageCounter, body_and_type: tuple[bytes, str]) -> None:
    body, ctype = body_and_type
    where = "course c1 users (start=0)"
    try:
        page = counter.parse(body, ctype, where)
    except MissingIdError as exc:  # and BadIdError
        assert f"in {where} (record #" in str(exc)
        return
    except LitmosParseError as exc:
        assert str(exc).startswith(f"{where}: ")
        return
    if page.json_array is not None and not page.records:  # counted in DuckDB
        ids = [r.get("Id") for r in json.loads(page.json_array)]
        assert len(ids) == page.rows
        assert all(path_ok(i if isinstance(i, str) else json.dumps(i)) for i in ids)
        assert "LoginKey" not in page.json_array
