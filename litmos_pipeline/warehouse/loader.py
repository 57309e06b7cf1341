"""Bulk-load pages of records into a raw DuckDB table, a batch at a time.

JSON array pages go to DuckDB as they came (it parses them, keeping only the fields the
table has); other records are buffered column-wise. Either way one statement loads a
batch, so memory is bounded by the batch size, not by the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb

from litmos_pipeline.catalog.base import RecordSpec
from litmos_pipeline.litmos.ids import ID_RULE, is_litmos_id, shown
from litmos_pipeline.litmos.records import Page, Record, as_text

# 10k rows a statement: as fast as larger batches, and a quarter of the memory (measured).
BATCH_ROWS = 10_000


class MissingIdError(ValueError):
    """A record without the Id every Litmos record must have."""


class BadIdError(MissingIdError):
    """A record whose Id no Litmos id looks like: it would later go into URL paths
    (its members, its enrollees) and C1 ids, so the sync stops here instead."""


def check_ids(records: list[Mapping[str, Any]], id_field: str, where: str) -> None:
    """Refuse a page with a record whose Id is missing or is not a Litmos id."""
    for position, record in enumerate(records):
        value = record.get(id_field)
        # Decoded JSON may hold a number: judged by its text, as DuckDB's path judges it.
        text = value if type(value) is str else as_text(value)
        if not is_litmos_id(text):
            raise id_error(id_field, text, where, position + 1)


def id_error(id_field: str, value: str | None, where: str, number: int) -> MissingIdError:
    """The error for record #`number` of a page, whose Id is missing or not a Litmos id."""
    if not value:
        return MissingIdError(f"Litmos returned a record without {id_field} in {where} "
                              f"(record #{number} of the page)")
    return BadIdError(f"Litmos returned a record whose {id_field} {shown(value)} is not a "
                      f"Litmos id ({ID_RULE}) in {where} (record #{number} of the page)")


class RawLoader:
    def __init__(self, con: duckdb.DuckDBPyConnection, spec: RecordSpec,
                 batch_rows: int = BATCH_ROWS) -> None:
        self.con = con
        self.spec = spec
        self.batch_rows = batch_rows
        self.rows = 0  # rows inserted so far; also the next row's _seq
        self._id_field = spec.fields[0][0]
        self._columns: list[list[str | None]] = [[] for _ in spec.columns]
        self._pages: list[tuple[str, int, tuple[str, ...]]] = []  # (JSON, first _seq, context)
        self._page_rows = 0
        con.execute(self._ddl())
        self._insert_columns = self._columns_sql()
        self._insert_pages = self._pages_sql()

    def _ddl(self) -> str:
        columns = ", ".join(f"{c} VARCHAR" for c in self.spec.columns)
        return f"CREATE OR REPLACE TABLE {self.spec.table} (_seq BIGINT, {columns})"

    def _columns_sql(self) -> str:
        n = len(self.spec.columns)
        unnests = ", ".join(f"unnest(${i + 2})" for i in range(n))
        return f"INSERT INTO {self.spec.table} SELECT unnest($1), {unnests}"

    def _pages_sql(self) -> str:
        # from_json parses each page once into the kept fields; JSON values become their
        # text (true/false, numbers as written), and "" becomes NULL as in as_text.
        shape = ", ".join(f'"{field}": "VARCHAR"' for field, _ in self.spec.fields)
        contexts = "".join(f", unnest(${i + 3}::VARCHAR[]) AS c{i}"
                           for i in range(len(self.spec.context)))
        context_cols = "".join(f"c{i}, " for i in range(len(self.spec.context)))
        fields = ", ".join(f"nullif(r.\"{field}\", '')" for field, _ in self.spec.fields)
        return f"""
            INSERT INTO {self.spec.table}
            SELECT first_seq + i - 1, {context_cols}{fields}
            FROM (
                SELECT first_seq, {context_cols}unnest(l) AS r, generate_subscripts(l, 1) AS i
                FROM (
                    SELECT from_json(unnest($1::VARCHAR[]), '[{{{shape}}}]') AS l,
                           unnest($2::BIGINT[]) AS first_seq{contexts}
                )
            )"""

    @property
    def pending(self) -> int:
        """Rows buffered, not yet inserted."""
        return len(self._columns[0]) + self._page_rows

    def add_page(self, page: Page, context: Mapping[str, str] | None = None,
                 where: str = "") -> int:
        """Buffer one page; `where` names the page in errors (e.g. 'users start=2000').

        A JSON page counted without decoding its records (`extract.JsonPageCounter`) has
        had its ids checked there.
        """
        if page.json_array is None:
            return self.add(page.text_records(), context, where)
        check_ids(page.records, self._id_field, where or self.spec.table)
        if self._columns[0]:
            self._flush_columns()
        values = tuple((context or {})[name] for name in self.spec.context)
        self._pages.append((page.json_array, self.rows + self.pending, values))
        self._page_rows += page.rows
        if self.pending >= self.batch_rows:
            self.flush()
        return page.rows

    def add(self, records: Iterable[Record], context: Mapping[str, str] | None = None,
            where: str = "") -> int:
        """Buffer records of text (or of decoded JSON values)."""
        records = records if isinstance(records, list) else list(records)
        check_ids(records, self._id_field, where or self.spec.table)
        if self._pages:
            self._flush_pages()
        # Column by column: one comprehension per kept field, not a loop per value.
        for column, name in zip(self._columns, self.spec.context, strict=False):
            column.extend([(context or {})[name]] * len(records))
        offset = len(self.spec.context)
        for i, (field, _) in enumerate(self.spec.fields):
            self._columns[offset + i].extend(
                [v if type(v := r.get(field)) is str and v else as_text(v) for r in records])
        if self.pending >= self.batch_rows:
            self.flush()
        return len(records)

    def flush(self) -> None:
        self._flush_pages()
        self._flush_columns()

    def _flush_pages(self) -> None:
        if not self._pages:
            return
        bodies, firsts, contexts = zip(*self._pages, strict=True)
        by_context = [list(values) for values in zip(*contexts, strict=True)]
        self.con.execute(self._insert_pages, [list(bodies), list(firsts), *by_context])
        self.rows += self._page_rows
        self._pages, self._page_rows = [], 0

    def _flush_columns(self) -> None:
        pending = len(self._columns[0])
        if not pending:
            return
        sequence = list(range(self.rows, self.rows + pending))
        self.con.execute(self._insert_columns, [sequence, *self._columns])
        self.rows += pending
        self._columns = [[] for _ in self.spec.columns]
