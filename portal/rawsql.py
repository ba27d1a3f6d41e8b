"""Hand-written SQL whose rows come back as model instances, for hot paths only.

Django builds and compiles every ORM statement anew. For the small statements a booting server
makes by the dozen that costs several times what the database takes to run them (1–9 ms of CPU
a statement against 0.1–0.3 ms, measured by `bench_provision`). A statement written here is
plain SQL that PostgreSQL and SQLite both run (`%s` or `%(name)s` placeholders), executed
through Django's cursor (so query counts and execute wrappers see it), and the values it reads
go through the converters the ORM itself applies (SQLite returns UUIDs, JSON and datetimes as
text): the instances are the ones a queryset would have made.
"""

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache

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


@contextmanager
def _cursor(prepare: bool = True):
    """Django's cursor; on PostgreSQL, one whose statements are prepared (see below)."""
    if connection.vendor != "postgresql" or not prepare:
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = _prepared_cursor()(connection.connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(raw) as cursor:
        yield cursor


@cache
def _prepared_cursor():
    import psycopg

    class Prepared(psycopg.Cursor):
        """Binds parameters on the server and prepares every statement (psycopg keeps them
        per connection), so that PostgreSQL plans each of these statements once per connection
        rather than on every run: planning a five-table join cost it several times running it.
        (Django leaves prepared statements off for the rest, for the sake of connection
        poolers; PgBouncer keeps prepared statements since 1.21 with max_prepared_statements.)
        """

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return Prepared


def select(sql: str, params: Sequence | Mapping, *shapes: Columns) -> list[tuple]:
    """Run a SELECT whose columns are `shapes`' columns in order (then any extra ones): each
    row as a tuple of one instance per shape, followed by the extra values as read."""
    with _cursor() as cursor:
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


def execute(sql: str, params: Sequence | Mapping, *, prepare: bool = True) -> int:
    """Run an INSERT, UPDATE or DELETE; the number of rows it touched. `prepare=False` for a
    statement whose text changes from run to run (a list of values of any length)."""
    with _cursor(prepare) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def at(moment: datetime | None):
    """A datetime as a parameter, stored the way the ORM stores it (SQLite keeps text in UTC)."""
    return connection.ops.adapt_datetimefield_value(moment)


# Past this many rows, bulk_create's per-row cost is the lower one (PostgreSQL: it sends a
# column of values as one array where a VALUES list binds each value on its own).
FEW_ROWS = 50


def insert(objects: Sequence[Model]) -> None:
    """INSERT instances of one model with the values the ORM would write (each field's
    pre_save and get_db_prep_save) and give them their new primary keys: for the few rows a
    hot request writes, bulk_create without its per-statement cost (many rows: bulk_create)."""
    if not objects:
        return
    if len(objects) > FEW_ROWS:
        type(objects[0])._default_manager.bulk_create(objects)
        return
    meta = type(objects[0])._meta
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
    columns = ", ".join(f'"{field.column}"' for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    values = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objects
        for field in fields
    ]
    with _cursor(prepare=False) as cursor:
        cursor.execute(
            f'INSERT INTO "{meta.db_table}" ({columns}) VALUES {", ".join([row] * len(objects))}'
            f' RETURNING "{meta.pk.column}"',
            values,
        )
        keys = [found for (found,) in cursor.fetchall()]
    for obj, key in zip(objects, keys, strict=True):
        setattr(obj, meta.pk.attname, key)
        obj._state.adding, obj._state.db = False, connection.alias
