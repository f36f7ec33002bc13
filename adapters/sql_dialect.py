"""SQL for read-model tables, once for PostgreSQL and SQLite; values cross in one form.

Times are timezone-aware UTC datetimes in Python, timestamptz in PostgreSQL and fixed-width ISO
text in SQLite (so text order is time order). Text order is code-point order in both ("C").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking

from domain.shared import utc_within_range
from projections.model import (
    FOUND,
    Change,
    Delete,
    Increment,
    Kind,
    Patch,
    Table,
    Upsert,
    UpsertMax,
)
from projections.query import AnyOf, Cond, Filter, ListQuery, ascii_lower

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
SHAPES_KEPT = 10_000  # statement shapes come from code: the bound only guards a leak
K = TypeVar("K")
V = TypeVar("V")


def by_shape(cache: dict[K, V], shape: K, build: Callable[[], V]) -> V:
    """What `cache` holds for `shape`, built on its first use (statement text that depends only
    on a change's or a query's shape is built once, not per call)."""
    found = cache.get(shape)
    if found is None:
        if len(cache) > SHAPES_KEPT:
            cache.clear()
        found = cache[shape] = build()
    return found


_CMP = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

Statement = tuple[str, list[Any]]


def tracking_bounds(trackings: Iterable[Tracking]) -> list[Tracking]:
    """The positions a batch records: per application its first and its last.

    Each must exceed what is recorded already (single-row tracking refuses anything else), and
    the batch must rise strictly in between, so a batch repeating an applied event still fails
    whole, as with a row per event, for two statements instead of one per event.
    """
    first: dict[str, Tracking] = {}
    last: dict[str, Tracking] = {}
    for tracking in trackings:
        name = tracking.application_name
        before = last.get(name)
        if before is not None and tracking.notification_id <= before.notification_id:
            msg = f"{name} position {tracking.notification_id} after {before.notification_id}"
            raise IntegrityError(msg)
        first.setdefault(name, tracking)
        last[name] = tracking
    return [*first.values(), *(t for name, t in last.items() if t is not first[name])]


def _pg_text(value: Any) -> Any:
    """PostgreSQL text cannot hold U+0000: store (and compare) U+FFFD instead, so an event that
    carries one still projects rather than stalling the read model on a DataError."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


DELTA = "edge_delta_"  # an increment's column in a group's row source (no table has one so named)


def change_sql(name: str, key: str, change: Change, value: Callable[[str], str],
               source: str = "") -> str:
    """The statement of a change's shape on table `name`, for one change or a group of like ones.

    `value(column)` is where a column's value comes from: a placeholder for one change; for a
    group (sql_bulk), a column of `source`, the row source the table (aliased t) is joined to.
    A None in `where` reads IS NULL, as in the memory view's `==`."""
    t = "t." if source else ""
    if isinstance(change, Upsert | UpsertMax):
        cols = ", ".join(change.row)
        rows = (f"SELECT {cols} FROM {source}" if source
                else f"VALUES ({', '.join(value(c) for c in change.row)})")
        updates = ", ".join(f"{c} = excluded.{c}" for c in change.row if c != key)
        sql = f"INSERT INTO {name} ({cols}) {rows} ON CONFLICT ({key}) DO UPDATE SET {updates}"
        if isinstance(change, UpsertMax):
            c = change.column
            sql += f" WHERE {name}.{c} IS NULL OR {name}.{c} < excluded.{c}"
        return sql
    target = f"{name} AS t" if source else name
    conds = [f"{t}{c} IS NULL" if v is None else f"{t}{c} = {value(c)}"
             for c, v in change.where.items()]
    if isinstance(change, Delete):
        if change.column is not None:
            c = change.column
            conds.append(f"({t}{c} IS NULL OR {t}{c} <= {value(c)})")
        return f"DELETE FROM {target}{' USING ' + source if source else ''}{_where(conds)}"
    if isinstance(change, Patch):
        sets = ", ".join(f"{c} = {value(c)}" for c in change.fields)
    else:
        c = change.column
        sets = f"{c} = {t}{c} + {value(DELTA)}"
    return f"UPDATE {target} SET {sets}{' FROM ' + source if source else ''}{_where(conds)}"


def _where(conds: list[str]) -> str:
    return f" WHERE {' AND '.join(conds)}" if conds else ""


# Members read once: an Enum member read from its class costs ~100 ns on Python 3.11, and
# to_db/from_db run for every value a replay writes.
_TEXT, _TIME, _UUID, _BOOL = Kind.TEXT, Kind.TIME, Kind.UUID, Kind.BOOL


class Dialect:
    """Differences between the two SQL engines, behind one small interface."""

    postgres: bool

    def __init__(self, postgres: bool, schema: str = "", prefix: str = "rm_") -> None:
        self.postgres = postgres
        self.schema = f'"{schema}".' if schema else ""
        self.prefix = prefix
        self.p = "%s" if postgres else "?"
        self._kinds: dict[str, tuple[Table, dict[str, Kind]]] = {}
        self._sql: dict[tuple[Any, ...], str] = {}
        self._equal_sql: dict[tuple[Any, ...], tuple[str, tuple[Kind, ...]]] = {}
        self._reader_cache: dict[tuple[str, tuple[str, ...]], tuple[
            Table, list[str], list[tuple[str, Callable[[Any], Any]]]]] = {}

    def name(self, table: str) -> str:
        return self.schema + self.prefix + table

    def column_type(self, kind: Kind) -> str:
        if self.postgres:
            return {Kind.TEXT: "text", Kind.INT: "bigint", Kind.BOOL: "boolean",
                    Kind.TIME: "timestamptz", Kind.UUID: "uuid"}[kind]
        return {Kind.TEXT: "TEXT", Kind.INT: "INTEGER", Kind.BOOL: "INTEGER",
                Kind.TIME: "TEXT", Kind.UUID: "TEXT"}[kind]

    def to_db(self, kind: Kind, value: Any) -> Any:
        if value is None:
            return value
        if self.postgres:
            return _pg_text(value) if kind is _TEXT else value
        if kind is _TIME:
            # strftime's %Y does not zero-pad years before 1000, which breaks fixed-width order.
            value = utc_within_range(value)
            return f"{value.year:04d}" + value.strftime(TIME_FORMAT[2:])
        if kind is _UUID:
            return str(value)
        if kind is _BOOL:
            return int(value)
        return value

    def stored(self, kind: Kind, value: Any) -> Any:
        """What reading back gives for `value` written to a column of `kind`."""
        return self.from_db(kind, self.to_db(kind, value))

    def from_db(self, kind: Kind, value: Any) -> Any:
        if value is None:
            return None
        if self.postgres:
            return value.astimezone(UTC) if kind is _TIME else value
        if kind is _TIME:
            return datetime.fromisoformat(value)
        if kind is _UUID:
            return UUID(value)
        if kind is _BOOL:
            return bool(value)
        return value

    # --- schema ---------------------------------------------------------------------------
    def create(self, table: Table) -> list[str]:
        cols = ", ".join(f"{c.name} {self.column_type(c.kind)}" for c in table.columns)
        name = self.name(table.name)
        statements = [f"CREATE TABLE IF NOT EXISTS {name} ({cols}, PRIMARY KEY ({table.key}))"]
        for entry in table.indexes:  # "col" or "col_a, col_b" (a composite index)
            parts = [c.strip() for c in entry.split(",")]
            index = f"{self.prefix}{table.name}_{'_'.join(parts)}_idx"
            statements.append(f"CREATE INDEX IF NOT EXISTS {index} ON {name} ({', '.join(parts)})")
        return statements

    # --- changes --------------------------------------------------------------------------
    def kinds(self, table: Table) -> dict[str, Kind]:
        cached = self._kinds.get(table.name)
        if cached is None or cached[0] is not table:
            kinds = {c.name: c.kind for c in table.all_columns()}
            cached = self._kinds[table.name] = (table, kinds)
        return cached[1]

    def change(self, table: Table, change: Change) -> Statement:
        """SQL and parameters; the SQL depends only on the change's shape, so it is built once."""
        kinds = self.kinds(table)
        shape: tuple[Any, ...] = (table.name, table.key, type(change),
                                  getattr(change, "column", None))
        if isinstance(change, Upsert | UpsertMax):
            shape += tuple(change.row)
            params = [self.to_db(kinds[c], v) for c, v in change.row.items()]
        else:
            # A None in `where` reads IS NULL, so which values are None is part of the shape.
            shape += tuple((c, v is None) for c, v in change.where.items())
            if isinstance(change, Patch):
                shape += (None, *change.fields)
            params = [self.to_db(kinds[c], v) for c, v in change.where.items() if v is not None]
            if isinstance(change, Patch):
                params[:0] = [self.to_db(kinds[c], v) for c, v in change.fields.items()]
            elif isinstance(change, Increment):
                params.insert(0, change.delta)
            elif isinstance(change, Delete) and change.column is not None:
                params.append(self.to_db(kinds[change.column], change.upto))
        return by_shape(self._sql, shape, lambda: change_sql(
            self.name(table.name), table.key, change, lambda _: self.p)), params

    def statements(
        self, table: Callable[[str], Table], changes: Iterable[Change]
    ) -> list[tuple[str, list[list[Any]]]]:
        """Changes in order, consecutive ones of the same shape sharing one statement (for
        executemany: one round trip per run instead of one per change)."""
        out: list[tuple[str, list[list[Any]]]] = []
        for change in changes:
            sql, params = self.change(table(change.table), change)
            if out and out[-1][0] is sql:
                out[-1][1].append(params)
            else:
                out.append((sql, [params]))
        return out

    def equal(self, table: Table, exprs: dict[str, str], where: dict[str, Any]) -> Statement:
        """Every column equals its value, None matching NULL as in the memory view's `==`."""
        clauses, params = [], []
        for column, value in where.items():
            if value is None:
                clauses.append(f"{exprs[column]} IS NULL")
            else:
                clauses.append(f"{exprs[column]} = {self.p}")
                params.append(self.to_db(table.kind_of(column), value))
        return " AND ".join(clauses), params

    # --- queries --------------------------------------------------------------------------
    def source(self, table: Table) -> tuple[str, dict[str, str]]:
        """FROM clause and the qualified expression of every readable column."""
        exprs = {c.name: f"t.{c.name}" for c in table.columns}
        sql = f"{self.name(table.name)} t"
        for i, join in enumerate(table.joins):
            alias = f"j{i}"
            sql += (f" LEFT JOIN {self.name(join.table)} {alias} "
                    f"ON {alias}.{join.remote} = t.{join.local}")
            exprs.update({c.name: f"{alias}.{c.name}" for c in join.columns})
        return sql, exprs

    def select(self, table: Table, query: ListQuery) -> tuple[Statement, Statement | None]:
        """The page's statement, and the count's when the query asks for one."""
        (columns, rest, params), counted = self._page(table, query)
        return (f"SELECT {columns}{rest}", params), (counted if query.count else None)

    def select_counted(self, table: Table, query: ListQuery) -> tuple[Statement, Statement]:
        """The page whose rows carry the number of matches in one more, last column (one
        statement, one snapshot: PostgreSQL counts once for the page), and the count alone
        for a page that has no rows to carry it."""
        (columns, rest, params), counted = self._page(table, query)
        return (f"SELECT {columns}, ({counted[0]}) AS total_{rest}", [*counted[1], *params]
                ), counted

    def select_counted_since(self, table: Table, query: ListQuery, version: str
                             ) -> tuple[Statement, Statement]:
        """`select_counted`, whose rows also carry the read model's `version` (a scalar
        query) as of the statement, in one more last column. The page's first two parameters
        are a version and the count known at it (None and 0 as made: none known); where the
        version is still that one, the count is that one and the table is not counted again
        (PostgreSQL runs a subquery in a CASE only when its branch is taken)."""
        (columns, rest, params), counted = self._page(table, query)
        rows = (f"SELECT {columns}, CASE WHEN ({version}) = {self.p} THEN {self.p}"
                f" ELSE ({counted[0]}) END AS total_, ({version}) AS version_{rest}",
                [None, 0, *counted[1], *params])
        return rows, counted

    def _page(self, table: Table, query: ListQuery) -> tuple[tuple[str, str, list[Any]],
                                                               Statement]:
        """(select list, the rest after it, parameters), the count.

        LIMIT and OFFSET are written into the text, not bound: with them as parameters
        PostgreSQL planned every list anew (a custom plan knows the limit, so it always looked
        cheaper than the prepared generic one), 0.1-0.3 ms of its CPU each time. A text per
        page size and page is still one prepared statement per page a client reads."""
        source, exprs = self.source(table)
        clauses, params = [], []
        for item in query.filters:
            sql, values = self._filter(table, exprs, item)
            clauses.append(sql)
            params += values
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        order = ", ".join(
            self._order(table, exprs[o.column], o.column, o.descending)
            for o in (*query.order, *self._tiebreak(table, query))
        )
        columns = ", ".join(f"{exprs[n]} AS {n}" for n in self.shown(table, query.columns))
        offset = (query.page - 1) * query.page_size
        rest = f" FROM {source}{where} ORDER BY {order} LIMIT {query.page_size:d} OFFSET {offset:d}"
        return (columns, rest, params), (f"SELECT COUNT(*) AS n FROM {source}{where}", params)

    @staticmethod
    def shown(table: Table, columns: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The columns `select` and `select_equal` fetch, in their order: those asked for, or
        every readable column (the table's, then its joins')."""
        return columns or tuple(c.name for c in table.all_columns())

    @staticmethod
    def _tiebreak(table: Table, query: ListQuery) -> tuple[Any, ...]:
        from projections.query import Order

        return (Order(table.key),)

    def select_equal(self, table: Table, where: dict[str, Any], limit: int) -> Statement:
        """Rows whose columns equal `where`, in key order (the views' `select`). Its text
        depends only on the table, which columns are given, which of them are NULL and the
        limit: built once per shape, as a GET by id asks the same one every time (building
        it was 2-3% of that GET's CPU)."""
        shape = (table.name, tuple((c, v is None) for c, v in where.items()), limit)
        sql, kinds = by_shape(self._equal_sql, shape,
                              lambda: self._select_equal_sql(table, where, limit))
        values = [v for v in where.values() if v is not None]
        return sql, [self.to_db(k, v) for k, v in zip(kinds, values, strict=True)]

    def select_touching(self, table: Table, where: dict[str, Any], target: Table,
                        touch: Upsert | UpsertMax) -> Statement:
        """`select_equal` of one row that also applies `touch` (FOUND in its row: the key of
        the row found) to `target`, in one statement: PostgreSQL's data-modifying CTE. The
        row answered is as it was before the touch."""
        assert self.postgres, "SQLite has no data-modifying CTE"
        found, found_params = self.select_equal(table, where, 1)
        shape = (found, target.name, tuple((c, v is FOUND) for c, v in touch.row.items()),
                 type(touch), getattr(touch, "column", None))

        def build() -> str:
            picks = ", ".join(f"found.{table.key} AS {c}" if v is FOUND else f"{self.p} AS {c}"
                              for c, v in touch.row.items())
            upsert = change_sql(self.name(target.name), target.key, touch, lambda c: c,
                                source="touch")
            return (f"WITH found AS ({found}), touch AS (SELECT {picks} FROM found), "
                    f"touched AS ({upsert}) SELECT * FROM found")

        kinds = self.kinds(target)
        params = [self.to_db(kinds[c], v) for c, v in touch.row.items() if v is not FOUND]
        return by_shape(self._sql, shape, build), [*found_params, *params]

    def _select_equal_sql(self, table: Table, where: dict[str, Any], limit: int
                          ) -> tuple[str, tuple[Kind, ...]]:
        source, exprs = self.source(table)
        clause, _ = self.equal(table, exprs, where)
        columns = ", ".join(f"{e} AS {n}" for n, e in exprs.items())
        order = self._order(table, f"t.{table.key}", table.key, descending=False)
        sql = (f"SELECT {columns} FROM {source} WHERE {clause or '1 = 1'} "
               f"ORDER BY {order} LIMIT {limit:d}")
        return sql, tuple(table.kind_of(c) for c, v in where.items() if v is not None)

    def _order(self, table: Table, expr: str, column: str, descending: bool) -> str:
        collate = ' COLLATE "C"' if self.postgres and table.kind_of(column) is Kind.TEXT else ""
        return f"{expr}{collate} {'DESC NULLS FIRST' if descending else 'ASC NULLS LAST'}"

    def _filter(self, table: Table, exprs: dict[str, str], item: Filter) -> Statement:
        if isinstance(item, AnyOf):
            parts = [self._filter(table, exprs, c) for c in item.items]
            if not parts:  # an empty OR is false, as any(()) is
                return "(1 = 0)", []
            return "(" + " OR ".join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]
        return self._cond(table, exprs[item.column], item)

    def _cond(self, table: Table, expr: str, cond: Cond) -> Statement:
        if cond.op == "null":
            return f"{expr} IS NULL", []
        if cond.op == "notnull":
            return f"{expr} IS NOT NULL", []
        if self.postgres and table.kind_of(cond.column) is Kind.TEXT:
            expr += ' COLLATE "C"'  # code-point comparisons whatever the database's collation
        if cond.op in _CMP:
            value = self.to_db(table.kind_of(cond.column), cond.value)
            return f"{expr} {_CMP[cond.op]} {self.p}", [value]
        insensitive = cond.op == "iglob"
        pattern = ascii_lower(cond.value) if insensitive else cond.value
        if self.postgres:
            target = f"translate({expr}, '{_UPPER}', '{_LOWER}')" if insensitive else expr
            like = _pg_text(pattern).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"{target} LIKE {self.p}", [like.replace("*", "%")]
        target = f"lower({expr})" if insensitive else expr
        glob = pattern.replace("[", "[[]").replace("?", "[?]")
        return f"{target} GLOB {self.p}", [glob]

    def row(self, table: Table, raw: Any, columns: tuple[str, ...] = ()) -> dict[str, Any]:
        """A fetched row (mapping by column name) in Python values; `columns`: those fetched."""
        names, readers = self._readers(table, columns)
        out = {name: raw[name] for name in names}
        for name, read in readers:
            value = out[name]
            if value is not None:
                out[name] = read(value)
        return out

    def _readers(
        self, table: Table, only: tuple[str, ...] = ()
    ) -> tuple[list[str], list[tuple[str, Callable[[Any], Any]]]]:
        """Column names, and a converter for each column whose values need one."""
        cached = self._reader_cache.get((table.name, only))
        if cached is None or cached[0] is not table:
            columns = [c for c in table.all_columns() if not only or c.name in only]
            readers = [(c.name, read) for c in columns
                       if (read := self._reader(c.kind)) is not None]
            cached = (table, [c.name for c in columns], readers)
            self._reader_cache[(table.name, only)] = cached
        return cached[1], cached[2]

    def _reader(self, kind: Kind) -> Callable[[Any], Any] | None:
        if kind is Kind.TIME:
            if self.postgres:
                return lambda value: value.astimezone(UTC)
            return datetime.fromisoformat  # TIME_FORMAT text; much faster than strptime
        if self.postgres:
            return None
        return {Kind.UUID: UUID, Kind.BOOL: bool}.get(kind)
