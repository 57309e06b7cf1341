"""Extract over real HTTP: JSON pages parsed by DuckDB load what XML pages load."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from litmos_pipeline.catalog import COURSE_ENROLLMENTS, USERS
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.litmos.ids import UnsafeIdError, shown
from litmos_pipeline.litmos.records import LitmosParseError, Page, parse_page
from litmos_pipeline.warehouse import extract, store
from litmos_pipeline.warehouse.loader import BadIdError, MissingIdError, RawLoader
from litmos_sandbox.litmos import FaultRule, LitmosSandbox
from tests.conftest import CannedLitmos

RAW_TABLES = ("raw_users", "raw_teams", "raw_courses", "raw_modules", "raw_learning_paths",
              "raw_team_members", "raw_course_enrollments", "raw_learning_path_users")


def extract_all(sandbox: LitmosSandbox, db: Path, *, prefer_json: bool) -> dict[str, int]:
    messages: list[str] = []
    with LitmosClient(sandbox.base_url, sandbox.api_key, "pytest", requests_per_minute=None,
                      prefer_json=prefer_json, backoff_base_s=0.01,
                      on_progress=messages.append) as client, store.opened(db) as con:
        results = extract.load_all(con, client, roles=("member", "leader", "admin"),
                                   options=("sync_modules", "sync_learning_paths"))
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in RAW_TABLES}
    assert {t: r.rows for t, r in results.items()} == counts
    return counts


def test_json_and_xml_extracts_load_identical_raw_tables(tiny_sandbox: LitmosSandbox,
                                                          tmp_path: Path) -> None:
    from_json = extract_all(tiny_sandbox, tmp_path / "json.duckdb", prefer_json=True)
    from_xml = extract_all(tiny_sandbox, tmp_path / "xml.duckdb", prefer_json=False)
    assert from_json == from_xml
    assert all(from_json.values())
    with store.opened(tmp_path / "json.duckdb") as con:
        con.execute(f"ATTACH '{tmp_path / 'xml.duckdb'}' AS x (READ_ONLY)")
        for table in RAW_TABLES:
            # _seq is arrival order, which the fetch threads' timing decides
            differ = con.execute(f"SELECT count(*) FROM (SELECT * EXCLUDE (_seq) FROM {table}"
                                 f" EXCEPT ALL SELECT * EXCLUDE (_seq) FROM x.{table})"
                                 ).fetchone()[0]
            assert differ == 0, table


def test_load_all_starts_children_in_parent_id_order_and_counts_every_page(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[list[extract.ListRef]] = []

    class Recorded(extract.ReadAhead):  # type: ignore[type-arg]
        def __init__(self, lists: list[extract.ListRef], *args: object, **kwargs: object):
            passes.append(list(lists))
            super().__init__(lists, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(extract, "ReadAhead", Recorded)
    messages: list[str] = []
    with LitmosClient(tiny_sandbox.base_url, tiny_sandbox.api_key, "pytest",
                      requests_per_minute=None) as client, \
            store.opened(tmp_path / "o.duckdb") as con:
        results = extract.load_all(con, client, roles=("member", "admin"),
                                   options=("sync_learning_paths",), progress=messages.append)
        roles = {r[0] for r in con.execute(
            "SELECT DISTINCT role FROM raw_team_members").fetchall()}
    second = passes[-1]
    assert second[0].path == "/users"
    team_ids = [ref.context["team_id"] for ref in second if "team_id" in ref.context]
    course_ids = [ref.context["course_id"] for ref in second if "course_id" in ref.context]
    assert team_ids == sorted(team_ids) and course_ids == sorted(course_ids)
    assert len(set(team_ids)) == len(tiny_sandbox.tenant.teams())
    # the course lists are spread among the team lists, not all left for the end
    first_course = next(n for n, ref in enumerate(second) if "course_id" in ref.context)
    assert first_course < len(second) // 2
    assert roles == {"member", "admin"}
    assert sum(r.pages for r in results.values()) == client.stats.requests
    assert results["raw_team_members"].parents == len(tiny_sandbox.tenant.teams())
    assert results["raw_course_enrollments"].parents == len(tiny_sandbox.tenant.courses())
    # LITMOS_SYNC_MODULES is off by default: no module list is read, the table is empty
    assert results["raw_modules"].rows == results["raw_modules"].parents == 0
    paths = len(tiny_sandbox.tenant.learning_paths())
    assert results["raw_learning_path_users"].parents == paths
    lists = (1 + 2 * len(tiny_sandbox.tenant.teams()) + len(tiny_sandbox.tenant.courses())
             + paths)
    assert len(second) == lists
    assert messages[-1].startswith(f"{lists}/{lists} lists read")


def test_spread_keeps_each_groups_order_and_mixes_them_evenly() -> None:
    loader = object()
    teams = [extract.ListRef(f"t{n}", f"t{n}", loader) for n in range(10)]  # type: ignore[arg-type]
    courses = [extract.ListRef(f"c{n}", f"c{n}", loader) for n in range(4)]  # type: ignore[arg-type]
    assert [ref.path for ref in extract._spread(teams, courses)] == [
        "t0", "c0", "t1", "t2", "t3", "c1", "t4", "t5", "c2", "t6", "t7", "t8", "c3", "t9"]
    assert extract._spread(teams, []) == teams


def test_load_all_with_a_course_filter_reads_only_those_courses(
        tiny_sandbox: LitmosSandbox, tmp_path: Path) -> None:
    wanted = tiny_sandbox.tenant.courses()[1].id
    with LitmosClient(tiny_sandbox.base_url, tiny_sandbox.api_key, "pytest",
                      requests_per_minute=None) as client, \
            store.opened(tmp_path / "f.duckdb") as con:
        results = extract.load_all(con, client, course_ids=[wanted, "NoSuchCourse", wanted])
        courses = {r[0] for r in con.execute("SELECT id FROM raw_courses").fetchall()}
        enrolled_in = {r[0] for r in con.execute(
            "SELECT DISTINCT course_id FROM raw_course_enrollments").fetchall()}
    assert courses == {wanted} and enrolled_in <= {wanted}
    assert results["raw_courses"].missing_ids == ["NoSuchCourse"]
    assert results["raw_courses"].pages == 2  # the repeated id is asked for once
    assert results["raw_course_enrollments"].parents == 1


def test_retry_messages_from_the_fetch_thread_reach_the_callers_log(
        tiny_sandbox: LitmosSandbox, tmp_path: Path) -> None:
    tiny_sandbox.app.faults.add_rule(FaultRule("503", count=2, path_prefix="/courses/"))
    messages: list[str] = []
    with LitmosClient(tiny_sandbox.base_url, tiny_sandbox.api_key, "pytest",
                      requests_per_minute=None, backoff_base_s=0.01,
                      on_progress=messages.append) as client, \
            store.opened(tmp_path / "r.duckdb") as con:
        results = extract.load_all(con, client)
        assert client.on_progress == messages.append  # restored after the read-ahead
    assert results["raw_course_enrollments"].rows > 0
    assert sum("HTTP 503, retry" in m for m in messages) == 2


def json_page(body: str) -> Page:
    return parse_page(body.encode(), "application/json", "test")


def test_json_pages_and_text_records_mix_in_order_across_batches(tmp_path: Path) -> None:
    with store.opened(tmp_path / "m.duckdb") as con:
        loader = RawLoader(con, COURSE_ENROLLMENTS, batch_rows=3)
        loader.add_page(json_page('[{"Id":"u1","Completed":true,"PercentageComplete":40.5},'
                                  '{"Id":"u2","Completed":false,"DueDate":""}]'),
                        {"course_id": "c1"})
        loader.add([{"Id": "u3", "Completed": "true"}], {"course_id": "c2"})
        loader.add_page(json_page('[{"Id":"u4","PercentageComplete":100,"Extra":{"a":1}}]'),
                        {"course_id": "c3"})
        loader.add_page(json_page("[]"), {"course_id": "c4"})
        loader.add_page(json_page('[{"Id":"u5","UserName":"\\u00e9va"}]'), {"course_id": "c5"})
        loader.flush()
        rows = con.execute("SELECT _seq, course_id, user_id, user_name, completed, "
                           "percentage_complete, due_date FROM raw_course_enrollments "
                           "ORDER BY _seq").fetchall()
    assert loader.rows == 5
    assert rows == [
        (0, "c1", "u1", None, "true", "40.5", None),
        (1, "c1", "u2", None, "false", None, None),
        (2, "c2", "u3", None, "true", None, None),
        (3, "c3", "u4", None, None, "100", None),
        (4, "c5", "u5", "éva", None, None, None),
    ]


def test_a_json_page_without_ids_names_the_page(tmp_path: Path) -> None:
    with store.opened(tmp_path / "i.duckdb") as con:
        loader = RawLoader(con, USERS)
        page = json_page('[{"Id":"u1"},{"UserName":"x"}]')
        try:
            loader.add_page(page, where="users start=2000")
        except ValueError as exc:
            assert "users start=2000 (record #2 of the page)" in str(exc)
        else:
            raise AssertionError("a record without Id was loaded")


def test_json_pages_are_counted_in_duckdb_and_checked_for_ids(tmp_path: Path) -> None:
    with store.opened(tmp_path / "c.duckdb") as con:
        counter = extract.JsonPageCounter(con)
        page = counter.parse(b'\xef\xbb\xbf [{"Id":"u1","X":{"a":1}},{"Id":"u2"}]',
                             "application/json; charset=utf-8", "users (start=0)")
        assert (page.rows, page.records, page.json_array is not None) == (2, [], True)
        assert counter.parse(b"[]", "application/json", "users").rows == 0
        with pytest.raises(MissingIdError, match=r"without Id in users \(start=1000\) "
                                                 r"\(record #3 of the page\)"):
            counter.parse(b'[{"Id":"a"},{"Id":"b"},{"Id":""}]', "application/json",
                          "users (start=1000)")
        # Not a plain array: the Python parser decides (a wrapper, XML, or an error).
        wrapped = counter.parse(b'{"Items":[{"Id":"u9"}]}', "application/json", "users")
        assert wrapped.text_records() == [{"Id": "u9"}]
        xml = counter.parse(b"<Users><User><Id>u1</Id></User></Users>", "application/xml",
                            "users")
        assert xml.text_records() == [{"Id": "u1"}]
        with pytest.raises(LitmosParseError, match="users: malformed JSON"):
            counter.parse(b'[{"Id": "u1"', "application/json", "users")


# --------------------------------------------------------------------------- trust (issue 12)

def test_json_pages_with_an_id_no_litmos_id_looks_like_are_refused(tmp_path: Path) -> None:
    with store.opened(tmp_path / "b.duckdb") as con:
        counter = extract.JsonPageCounter(con)
        for bad in ("..", "a/b", "u1?x", "%2E%2E", "é", "x" * 101):
            body = json.dumps([{"Id": "u1"}, {"Id": bad}]).encode()
            with pytest.raises(BadIdError) as err:
                counter.parse(body, "application/json", "team t1 users (start=0)")
            assert "in team t1 users (start=0) (record #2 of the page)" in str(err.value)
            assert shown(bad) in str(err.value)
        # A JSON number is judged by its text, as before.
        assert counter.parse(b'[{"Id": 42}]', "application/json", "users").rows == 1


def test_text_records_with_a_bad_id_are_refused_by_the_loader(tmp_path: Path) -> None:
    with store.opened(tmp_path / "t.duckdb") as con:
        loader = RawLoader(con, USERS)
        with pytest.raises(BadIdError, match=r"Id '\.\./x' is not a Litmos id .* in users "
                                             r"start=0 \(record #2 of the page\)"):
            loader.add([{"Id": "u1"}, {"Id": "../x"}], where="users start=0")
        with pytest.raises(BadIdError, match="record #1"):
            loader.add_page(parse_page(b"<Teams><Team><Id>.</Id></Team></Teams>",
                                       "application/xml", "teams"), where="teams")


def test_a_json_page_naming_login_key_is_not_kept_as_text(tmp_path: Path) -> None:
    body = b'[{"Id": "u1", "UserName": "ana", "LoginKey": "/login.aspx?loginkey=s3cret"}]'
    with store.opened(tmp_path / "k.duckdb") as con:
        page = extract.JsonPageCounter(con).parse(body, "application/json", "users")
        assert page.json_array is None and "s3cret" not in repr(page)
        loader = RawLoader(con, USERS)
        loader.add_page(page, where="users")
        loader.flush()
        assert con.execute("SELECT id, user_name FROM raw_users").fetchall() == [("u1", "ana")]


def test_a_team_id_of_dot_dot_stops_the_sync_before_any_request_with_it(
        canned: Callable[..., CannedLitmos], tmp_path: Path) -> None:
    # Before the fix, the team ".." had its members read from /teams/../users, i.e. /users.
    def answer(method: str, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        if path == "/v1.svc/teams":
            return 200, "application/json", b'[{"Id": "t1"}, {"Id": ".."}]'
        return 200, "application/json", b"[]"

    server = canned(answer)
    with LitmosClient(server.base_url, "k", "pytest", requests_per_minute=None) as client, \
            store.opened(tmp_path / "d.duckdb") as con, \
            pytest.raises(BadIdError, match=r"Id '\.\.' is not a Litmos id .* in teams "
                                            r"\(start=0\) \(record #2 of the page\)"):
        extract.load_all(con, client)
    assert sorted(path for _, path, _ in server.requests) == ["/v1.svc/courses",
                                                               "/v1.svc/teams"]


def test_a_configured_course_id_that_is_no_litmos_id_sends_no_request(
        canned: Callable[..., CannedLitmos], tmp_path: Path) -> None:
    server = canned(lambda m, p, q: (200, "application/json", b"[]"))
    with LitmosClient(server.base_url, "k", "pytest", requests_per_minute=None) as client, \
            store.opened(tmp_path / "c.duckdb") as con, \
            pytest.raises(UnsafeIdError, match=r"course id '\.\.'"):
        extract.load_all(con, client, course_ids=[".."])
    assert [path for _, path, _ in server.requests] == ["/v1.svc/teams"]
