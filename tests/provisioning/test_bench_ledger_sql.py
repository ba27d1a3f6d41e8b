"""bench_ledger_sql compares each hand-written statement of the ledger with its ORM twin
(provisioning.bench.ledger_orm) and refuses twins that answer differently: a twin left behind by
a change to the ledger shows here, not when somebody next runs the benchmark."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from provisioning.bench import ledger_orm

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmark runs on PostgreSQL"
)


def _bench() -> str:
    out = io.StringIO()
    call_command("bench_ledger_sql", calls=1, stdout=out)
    return out.getvalue()


def test_every_statement_is_measured_against_a_twin_that_answers_alike(db):
    rows = _bench().splitlines()
    measured = {row.split()[0] for row in rows[1:]}
    assert {"create_steps", "claim", "show_progress", "machine_at", "nics"} <= measured
    assert len(rows) == 21, rows
    assert all("x   (wall" in row for row in rows[1:])


def test_a_twin_that_answers_differently_is_refused(db, monkeypatch):
    monkeypatch.setattr(ledger_orm, "nics", lambda machine_id: [])
    with pytest.raises(CommandError, match="nics: hand-written"):
        _bench()
