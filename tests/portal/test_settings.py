"""The settings module as a fresh process reads its environment."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

_PRINT_DATABASE = (
    "import json, django; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; print(json.dumps([d['ENGINE'], str(d['NAME'])]))"
)


def _database(tmp_path, database_url: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env |= {"DJANGO_SETTINGS_MODULE": "portal.settings", "IRONYARD_VAR_DIR": str(tmp_path)}
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", _PRINT_DATABASE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("database_url", [None, ""], ids=["unset", "empty"])
def test_without_a_database_url_the_demo_uses_sqlite(tmp_path, database_url):
    assert _database(tmp_path, database_url) == [
        "django.db.backends.sqlite3",
        str(tmp_path / "ironyard.sqlite3"),
    ]


def test_a_database_url_chooses_the_database(tmp_path):
    engine, name = _database(tmp_path, "postgres://ironyard@db.example:5432/racks")
    assert (engine, name) == ("django.db.backends.postgresql", "racks")
