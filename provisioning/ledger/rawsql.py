"""Running the ledger's hand-written statements (see `sql`) with rows that come back as model
instances.

A statement is plain SQL that PostgreSQL and SQLite both run (`%s` or `%(name)s` placeholders),
executed through Django's cursor (so query counts, execute wrappers and psycopg's prepared
statements apply), and the values it reads go through the converters the ORM itself applies
(SQLite returns UUIDs, JSON and datetimes as text): the instances are the ones a queryset would
have made.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Model


class Columns:
    """Every concrete column of one model under a table alias in a SELECT (`sql`), and the
    instance a row's share of the values makes (`build`)."""

    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        self.fields = tuple(model._meta.concrete_fields)
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self._names = [field.attname for field in self.fields]
        self._pk_index = self.fields.index(model._meta.pk)
        self._alias = alias
        self._converters: dict[str, list] = {}  # per database vendor

    def __len__(self) -> int:
        return len(self.fields)

    def _converters_for(self, conn) -> list:
        found = self._converters.get(conn.vendor)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self._alias)
                functions = [
                    *conn.ops.get_db_converters(column),
                    *column.get_db_converters(conn),
                ]
                if functions:
                    found.append((index, functions, column))
            self._converters[conn.vendor] = found
        return found

    def build(self, values: Sequence, conn=connection) -> Model | None:
        """The instance, or None for the all-NULL columns of a LEFT JOIN that found none."""
        values = list(values)
        if values[self._pk_index] is None:
            return None
        for index, functions, column in self._converters_for(conn):
            value = values[index]
            for function in functions:
                value = function(value, column, conn)
            values[index] = value
        return self.model.from_db(conn.alias, self._names, values)


def select(sql: str, params: Sequence | Mapping, *shapes: Columns) -> list[tuple]:
    """Run a SELECT whose columns are `shapes`' columns in order (then any extra ones): each
    row as a tuple of one instance per shape, followed by the extra values as read."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows = []
    for values in fetched:
        row, start = [], 0
        for shape in shapes:
            end = start + len(shape)
            row.append(shape.build(values[start:end]))
            start = end
        row.extend(values[start:])
        rows.append(tuple(row))
    return rows


def execute(sql: str, params: Sequence | Mapping) -> int:
    """Run an INSERT, UPDATE or DELETE; the number of rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def at(moment: datetime | None):
    """A datetime as a parameter, stored the way the ORM stores it (SQLite keeps text in UTC)."""
    return connection.ops.adapt_datetimefield_value(moment)
