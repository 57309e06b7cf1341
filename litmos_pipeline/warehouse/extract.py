"""Stream Litmos lists into a sync's staging tables, page by page.

`load_all` takes the Litmos client and a staging connection and returns what it did;
the Dagster extract asset only wires it up and reports.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from litmos_pipeline import catalog
from litmos_pipeline.catalog import ID_FIELD, ResourceType
from litmos_pipeline.litmos.client import PAGE_SIZE, LitmosClient
from litmos_pipeline.litmos.ids import ID_PATTERN, path_segment
from litmos_pipeline.litmos.prefetch import ReadAhead
from litmos_pipeline.litmos.records import Page, is_json, parse_page
from litmos_pipeline.warehouse.loader import RawLoader, check_ids, id_error
from litmos_pipeline.warehouse.progress import ExtractProgress

Progress = Callable[[str], None]
# Between the 10% steps, a progress line at least this often (a long list is read).
REPORT_EVERY_S = 10.0


@dataclass
class LoadResult:
    """One raw table's share of the extract."""

    rows: int = 0
    pages: int = 0  # one request each, retries aside
    parents: int = 0  # teams or courses whose lists were read
    missing_ids: list[str] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class ListRef:
    """One paged Litmos list and the raw table its pages go to."""

    path: str
    what: str  # names the list in errors, e.g. "course c1 users"
    loader: RawLoader
    context: Mapping[str, str] = field(default_factory=dict)


def load_all(con: duckdb.DuckDBPyConnection, client: LitmosClient, *,
             course_ids: Iterable[str] = (), roles: Iterable[str] = ("member",),
             options: Collection[str] = (), progress: Progress | None = None,
             types: tuple[ResourceType, ...] = catalog.CATALOG,
             by_id: Mapping[str, Sequence[str]] | None = None) -> dict[str, LoadResult]:
    """Every list the catalog names, into the raw tables; results by raw table name.

    Two passes: the lists of the types that have per-resource lists (teams, courses)
    first, as their ids name those lists; then the other types' lists (users) and every
    per-resource list through the same fetch threads, so the API never idles while one
    table is set up or finished. Per-resource lists start in parent id order (see
    `_ids_in_order`), each type's spread among the others' (see `_spread`). `course_ids`
    restricts the types with a filter setting (courses) to those ids, one GET each;
    `roles` picks the team-role lists (see `catalog.Listing.variant`); `options` names the
    sync settings turned on (`sync_modules`): a type or list with an `option` not named is
    not read, and its raw table is staged empty. `by_id` (a targeted sync) reads only the
    types it names, each record by one GET, with its per-resource lists; every other
    table is staged empty.
    """
    # Every table of `types`, read or not: the transform reads them all.
    loaders = {spec.table: RawLoader(con, spec) for spec in _specs(types)}
    results = {table: LoadResult() for table in loaders}
    counter = JsonPageCounter(con)
    wanted = list(dict.fromkeys(course_ids))
    only = {rt.id: wanted for rt in types if rt.filter_setting and wanted}
    if by_id is not None:
        only = {type_id: list(dict.fromkeys(ids)) for type_id, ids in by_id.items()}
        types = tuple(rt for rt in types if rt.id in only or rt.parent in only)
    types = tuple(rt for rt in types if rt.option is None or rt.option in options)
    parents = [rt for rt in types if rt.children]
    first = [ListRef(rt.list_path, rt.list_what, loaders[rt.records.table])
             for rt in parents if rt.id not in only]
    _stream(client, counter, first, results)
    for rt in types:
        if rt.id in only and rt.parent is None:
            table = rt.records.table
            results[table].missing_ids = _read_by_id(client, rt, loaders[table], only[rt.id])
            results[table].pages = len(only[rt.id])  # one GET each, found or not
    wanted_roles = set(roles)
    groups = []
    for rt in parents:
        ids = _ids_in_order(con, rt.records.table)
        listings = [lst for lst in rt.children
                    if (lst.variant is None or lst.variant in wanted_roles)
                    and (lst.option is None or lst.option in options)]
        groups.append([ListRef(lst.path.format(id=path_segment(parent_id, f"{rt.id} id")),
                               lst.what.format(id=parent_id), loaders[lst.records.table],
                               {f"{rt.id}_id": parent_id, **lst.context})
                       for parent_id in ids for lst in listings])
        for spec in dict.fromkeys(lst.records for lst in listings):
            results[spec.table].parents = len(ids)
    second = [*(ListRef(rt.list_path, rt.list_what, loaders[rt.records.table])
                for rt in types if not rt.children and rt.parent is None
                and rt.id not in only),
              *_spread(*groups)]
    _stream(client, counter, second, results, progress)
    for table, loader in loaders.items():
        results[table].rows = loader.rows
    return results


def _specs(types: tuple[ResourceType, ...]) -> list[catalog.RecordSpec]:
    """The raw tables of `types`, in the catalog's order (own lists, then children)."""
    return [spec for spec in catalog.RECORD_SPECS
            if any(spec is rt.records or spec in catalog.child_specs(rt) for rt in types)]


def _spread(*groups: list[ListRef]) -> list[ListRef]:
    """Every group's lists, each group in its own order, spread evenly among the others.

    Course lists (pages of up to 1,000 enrollees) go between team lists (a page of ~20
    members), so heavy pages, for the API and for this process, do not all come at the
    end: there, at the benchmark's ~100 requests a second, they came faster than the
    sandbox and this process could serve them.
    """
    keyed = [((i + 0.5) / len(group), g, ref)
             for g, group in enumerate(groups) for i, ref in enumerate(group)]
    keyed.sort(key=lambda item: item[:2])
    return [ref for *_, ref in keyed]


def _read_by_id(client: LitmosClient, rt: ResourceType, loader: RawLoader,
                wanted: list[str]) -> list[str]:
    """The listed records of `rt` (one GET each); returns the ids Litmos does not know."""
    missing = []
    for record_id in wanted:
        path = rt.one_path.format(id=path_segment(record_id, f"{rt.id} id"))
        what = rt.one_what.format(id=record_id)
        record = client.get_one(path, what)
        if record is None:
            missing.append(record_id)
            continue
        loader.add([record], where=what)
    loader.flush()
    return missing


def _ids_in_order(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    # In id order: members and enrollees are then staged clustered by their parent's id
    # (only the few lists in flight at once interleave), which is the order the c1z
    # writer reads grants in (see snapshot.build_and_check).
    sql = f"SELECT DISTINCT id FROM {table} ORDER BY id"
    return [row[0] for row in con.execute(sql).fetchall()]


def _stream(client: LitmosClient, counter: JsonPageCounter, lists: list[ListRef],
            results: dict[str, LoadResult], progress: Progress | None = None) -> None:
    """Every page of `lists` into its raw table, the fetching running ahead."""
    step = max(1, len(lists) // 10)  # report every 10%: enough to follow a long sync
    reported = 0
    last_report = time.monotonic()
    still_open = len(lists)  # lists whose last page (the first short one) is not in yet
    with _relayed(client) as relay:
        ahead = ReadAhead(lists, lambda ref: _pages(client, counter, ref.path, ref.what),
                          relay=relay)
        for n, page in ahead:
            ref = lists[n]
            ref.loader.add_page(page, ref.context, where=ref.what)
            results[ref.loader.spec.table].pages += 1
            if page.rows < PAGE_SIZE:
                still_open -= 1
            # Every 10% of the lists, and between those every REPORT_EVERY_S: a long
            # list (the users, a big course) must not look stalled.
            done = ahead.lists_done
            if done >= reported + step:
                reported = done - done % step
                done = reported
            elif time.monotonic() - last_report < REPORT_EVERY_S:
                continue
            _report(progress, done, lists, client, results, still_open)
            last_report = time.monotonic()
    for loader in dict.fromkeys(ref.loader for ref in lists):
        loader.flush()
    _report(progress, len(lists), lists, client, results, 0)


def _pages(client: LitmosClient, counter: JsonPageCounter, path: str,
           what: str) -> Iterator[Page]:
    """A list's pages with their ids checked; JSON array pages are counted, not decoded,
    so what waits in the read-ahead queue is their text alone."""
    start = 0
    for page in client.pages(path, what, parse=counter.parse):
        check_ids(page.records, ID_FIELD, f"{what} (start={start})")
        start += page.rows
        yield page


class JsonPageCounter:
    """Counts a JSON array page's records (and finds one whose Id is missing or not a
    Litmos id) in DuckDB.

    Decoding 2M records with json.loads only to count them held the GIL for seconds and
    left ~20 MB of fragments in the run process; DuckDB parses the page without either,
    on a cursor of its own per fetch thread. Anything else goes to `parse_page`, and so
    does a page naming `LoginKey`, which parse_page drops.
    """

    # The pattern is inlined, not a parameter: RE2 then compiles it once per statement.
    SQL = (f"SELECT n, bad, l[bad].\"Id\" FROM (SELECT l, len(l) AS n, list_position("
           f"list_transform(l, lambda r: NOT coalesce(regexp_full_match(r.\"Id\", "
           f"'{ID_PATTERN}'), false)), true) AS bad "
           f"FROM (SELECT from_json($1, '[{{\"Id\": \"VARCHAR\"}}]') AS l))")

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._local = threading.local()

    def parse(self, body: bytes, content_type: str | None, what: str) -> Page:
        text = _json_text(body, content_type)
        if text is None or _LOGIN_KEY in body:
            return parse_page(body, content_type, what)
        try:
            row = self._cursor().execute(self.SQL, [text]).fetchone()
        except (duckdb.InvalidInputException, duckdb.ConversionException):
            # Not an array of objects: parse_page says what is wrong.
            return parse_page(body, content_type, what)
        rows, bad, value = (int(row[0] or 0), row[1], row[2]) if row else (0, None, None)
        if bad:
            raise id_error(ID_FIELD, value, what, bad)
        return Page([], decoded=True, json_array=text, rows=rows)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._con.cursor()
        return cursor


# A page that names LoginKey (as Litmos spells it) is not kept as text. A bytes search,
# not a case-blind regex: a tenth of the cost per page. A variant spelling would still
# not reach a table: the loader keeps only the fields its spec names.
_LOGIN_KEY = b"LoginKey"


def _json_text(body: bytes, content_type: str | None) -> str | None:
    """The body of a JSON array page as text, or None if it is anything else."""
    if not is_json(content_type) or body[:64].lstrip(b" \t\r\n\xef\xbb\xbf")[:1] != b"[":
        return None
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


@contextmanager
def _relayed(client: LitmosClient) -> Iterator[Callable[[], None]]:
    """A relay for ReadAhead: the client's retry messages, passed on from the caller's
    thread (the workers' own would reach Dagster's log from a thread it does not know)."""
    report = client.on_progress
    held: queue.SimpleQueue[str] = queue.SimpleQueue()

    def relay() -> None:
        while not held.empty():
            message = held.get()
            if report:
                report(message)

    client.on_progress = held.put
    try:
        yield relay
    finally:
        client.on_progress = report
        relay()


def _report(progress: Progress | None, done: int, lists: list[ListRef], client: LitmosClient,
            results: Mapping[str, LoadResult], still_open: int) -> None:
    if progress:
        loaders = dict.fromkeys(ref.loader for ref in lists)
        rows = sum(loader.rows + loader.pending for loader in loaders)
        pages = sum(result.pages for result in results.values())
        progress(ExtractProgress(lists_done=done, lists=len(lists), rows=rows, pages=pages,
                                 floor=pages + still_open, sent=client.stats.requests
                                 ).message())
