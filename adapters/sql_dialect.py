"""SQL for read-model tables, once for PostgreSQL and SQLite; values cross in one form.

Times are timezone-aware UTC datetimes in Python, timestamptz in PostgreSQL and fixed-width ISO
text in SQLite (so text order is time order). Text order is code-point order in both ("C").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from projections.model import Change, Delete, Increment, Kind, Patch, Table, Upsert, UpsertMax
from projections.query import AnyOf, Cond, Filter, ListQuery, ascii_lower

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
_CMP = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

Statement = tuple[str, list[Any]]


class Dialect:
    """Differences between the two SQL engines, behind one small interface."""

    postgres: bool

    def __init__(self, postgres: bool, schema: str = "", prefix: str = "rm_") -> None:
        self.postgres = postgres
        self.schema = f'"{schema}".' if schema else ""
        self.prefix = prefix
        self.p = "%s" if postgres else "?"

    def name(self, table: str) -> str:
        return self.schema + self.prefix + table

    def column_type(self, kind: Kind) -> str:
        if self.postgres:
            return {Kind.TEXT: "text", Kind.INT: "bigint", Kind.BOOL: "boolean",
                    Kind.TIME: "timestamptz", Kind.UUID: "uuid"}[kind]
        return {Kind.TEXT: "TEXT", Kind.INT: "INTEGER", Kind.BOOL: "INTEGER",
                Kind.TIME: "TEXT", Kind.UUID: "TEXT"}[kind]

    def to_db(self, kind: Kind, value: Any) -> Any:
        if value is None or self.postgres:
            return value
        if kind is Kind.TIME:
            # strftime's %Y does not zero-pad years before 1000, which breaks fixed-width order.
            value = value.astimezone(UTC)
            return f"{value.year:04d}" + value.strftime(TIME_FORMAT[2:])
        if kind is Kind.UUID:
            return str(value)
        if kind is Kind.BOOL:
            return int(value)
        return value

    def from_db(self, kind: Kind, value: Any) -> Any:
        if value is None:
            return None
        if self.postgres:
            return value.astimezone(UTC) if kind is Kind.TIME else value
        if kind is Kind.TIME:
            return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
        if kind is Kind.UUID:
            return UUID(value)
        if kind is Kind.BOOL:
            return bool(value)
        return value

    # --- schema ---------------------------------------------------------------------------
    def create(self, table: Table) -> list[str]:
        cols = ", ".join(f"{c.name} {self.column_type(c.kind)}" for c in table.columns)
        name = self.name(table.name)
        statements = [f"CREATE TABLE IF NOT EXISTS {name} ({cols}, PRIMARY KEY ({table.key}))"]
        statements += [
            f"CREATE INDEX IF NOT EXISTS {self.prefix}{table.name}_{col}_idx ON {name} ({col})"
            for col in table.indexes
        ]
        return statements

    # --- changes --------------------------------------------------------------------------
    def change(self, table: Table, change: Change) -> Statement:
        name = self.name(table.name)
        if isinstance(change, Upsert | UpsertMax):
            cols = list(change.row)
            values = [self.to_db(table.kind_of(c), change.row[c]) for c in cols]
            marks = ", ".join(self.p for _ in cols)
            updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != table.key)
            sql = (f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks}) "
                   f"ON CONFLICT ({table.key}) DO UPDATE SET {updates}")
            if isinstance(change, UpsertMax):
                c = change.column
                sql += f" WHERE {name}.{c} IS NULL OR {name}.{c} < excluded.{c}"
            return sql, values
        where, params = self._where_equal(table, change.where)
        if isinstance(change, Patch):
            sets = ", ".join(f"{c} = {self.p}" for c in change.fields)
            values = [self.to_db(table.kind_of(c), v) for c, v in change.fields.items()]
            return f"UPDATE {name} SET {sets}{where}", values + params
        if isinstance(change, Increment):
            c = change.column
            return f"UPDATE {name} SET {c} = {c} + {self.p}{where}", [change.delta, *params]
        if isinstance(change, Delete):
            return f"DELETE FROM {name}{where}", params
        raise TypeError(change)

    def _where_equal(self, table: Table, where: dict[str, Any]) -> Statement:
        if not where:
            return "", []
        clause, params = self.equal(table, {c: c for c in where}, where)
        return " WHERE " + clause, params

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

    def select(self, table: Table, query: ListQuery) -> tuple[Statement, Statement]:
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
        columns = ", ".join(f"{e} AS {n}" for n, e in exprs.items())
        offset = (query.page - 1) * query.page_size
        rows = (f"SELECT {columns} FROM {source}{where} ORDER BY {order} "
                f"LIMIT {self.p} OFFSET {self.p}", [*params, query.page_size, offset])
        return rows, (f"SELECT COUNT(*) AS n FROM {source}{where}", params)

    @staticmethod
    def _tiebreak(table: Table, query: ListQuery) -> tuple[Any, ...]:
        from projections.query import Order

        return (Order(table.key),)

    def select_equal(self, table: Table, where: dict[str, Any], limit: int) -> Statement:
        """Rows whose columns equal `where`, in key order (the views' `select`)."""
        source, exprs = self.source(table)
        clause, params = self.equal(table, exprs, where)
        columns = ", ".join(f"{e} AS {n}" for n, e in exprs.items())
        order = self._order(table, f"t.{table.key}", table.key, descending=False)
        sql = (f"SELECT {columns} FROM {source} WHERE {clause or '1 = 1'} "
               f"ORDER BY {order} LIMIT {limit:d}")
        return sql, params

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
            like = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"{target} LIKE {self.p}", [like.replace("*", "%")]
        target = f"lower({expr})" if insensitive else expr
        glob = pattern.replace("[", "[[]").replace("?", "[?]")
        return f"{target} GLOB {self.p}", [glob]

    def row(self, table: Table, raw: dict[str, Any]) -> dict[str, Any]:
        return {c.name: self.from_db(c.kind, raw[c.name]) for c in table.all_columns()}
