"""What the destination holds, and how our SQL names it.

The views are written once, in DuckDB's SQL dialect, and transpiled by sqlglot (a dlt dependency)
into the destination's dialect (`capabilities().sqlglot_dialect`). Which views can be made depends
on which tables and columns exist *in the destination* (a column GitHub never sent a value for is
never created), so the catalog asks the destination itself, through dlt's job client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlglot
from dlt.common.normalizers.naming import NamingConvention

# the dialect the view SQL is written in
SOURCE_DIALECT = "duckdb"


def quote(identifier: str) -> str:
    """An identifier quoted the way the source dialect (DuckDB) quotes it; sqlglot re-quotes it."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class Catalog:
    """The tables (and their columns) found in the pipeline's dataset.

    `tables` maps a table's name as dlt's naming convention writes it to its columns as the
    destination stores them (folded to its identifier case). Output names (view columns, CTEs)
    are written unquoted, so each destination folds them the way its users expect.
    """

    dataset_path: tuple[str, ...]
    tables: dict[str, set[str]]
    naming: NamingConvention
    casefold: Callable[[str], str] = str
    dialect: str = SOURCE_DIALECT
    # tables asked about but missing, for the log
    missing: set[str] = field(default_factory=set)

    def key(self, name: str) -> str:
        """A table's name as dlt's naming convention writes it (dlt may shorten long names)."""
        return self.naming.normalize_path(name)

    def physical(self, name: str) -> str:
        """The name a table or column has in the destination: normalized, then case-folded."""
        return self.casefold(self.key(name))

    def has(self, table: str, *columns: str) -> bool:
        found = self.tables.get(self.key(table))
        if found is None:
            self.missing.add(table)
            return False
        return all(self.physical(column) in found for column in columns)

    def has_any(self, table: str, *columns: str) -> str | None:
        """The first of `columns` that `table` has, or None."""
        for column in columns:
            if self.has(table, column):
                return column
        return None

    def table(self, name: str) -> str:
        """The table's qualified, quoted name in the source dialect."""
        return ".".join(quote(part) for part in (*self.dataset_path, self.physical(name)))

    def col(self, alias: str, name: str) -> str:
        return f"{alias}.{quote(self.physical(name))}"

    def col_or_null(self, table: str, alias: str, name: str, sql_type: str) -> str:
        """`alias.name` when `table` has that column, else a typed NULL (GitHub may not send it)."""
        return self.col(alias, name) if self.has(table, name) else f"CAST(NULL AS {sql_type})"

    def transpile(self, sql: str) -> str:
        """`sql` in the destination's dialect; raises when a construct has no translation."""
        return str(
            sqlglot.transpile(sql, read=SOURCE_DIALECT, write=self.dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)[
                0
            ]
        )
