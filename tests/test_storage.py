"""Storage URLs and fault messages without a server: passwords masked, the installed PostgreSQL
driver chosen, driver and HTTP errors reduced to one line."""

from __future__ import annotations

import importlib.util

import pytest

from gensuite.errors import GensuiteError
from gensuite.storage import db_fault, mask_url, normalise_db_url
from gensuite.study_lock import lock_key
from gensuite.tracking import tracking_fault


@pytest.mark.parametrize("url, masked", [
    ("postgresql://u:secret@db:5432/optuna", "postgresql://u:***@db:5432/optuna"),
    ("postgresql+psycopg2://u:secret@db/optuna", "postgresql+psycopg2://u:***@db/optuna"),
    ("http://u:secret@[::1]:5000", "http://u:***@[::1]:5000"),
    ("postgresql://u@db/optuna", "postgresql://u@db/optuna"),
    ("sqlite:////tmp/x/optuna.db", "sqlite:////tmp/x/optuna.db"),
])
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_bare_postgres_urls_get_the_installed_driver(monkeypatch):
    real = importlib.util.find_spec

    def only(*installed):
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name: real("json") if name in installed else None)

    only("psycopg", "psycopg2")
    assert normalise_db_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_db_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    only("psycopg2")
    assert normalise_db_url("postgresql://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    # explicit drivers and other backends are left as given
    assert normalise_db_url("postgresql+psycopg2://h/db") == "postgresql+psycopg2://h/db"
    assert normalise_db_url("sqlite:///x.db") == "sqlite:///x.db"
    only()
    with pytest.raises(GensuiteError, match=r"no PostgreSQL driver for postgresql://u:\*\*\*@h"):
        normalise_db_url("postgresql://u:p@h/db")


def test_driver_errors_become_one_line_without_the_password():
    class DriverError(Exception):
        pass

    class Wrapped(Exception):
        orig = DriverError('connection to server at "h", port 1 failed: Connection refused\n'
                           "\tIs the server running on that host and accepting TCP/IP "
                           "connections?\n")

    err = db_fault("postgresql+psycopg://u:hunter2@h:1/db", Wrapped("(psycopg.Operational...)"))
    text = str(err)
    assert "\n" not in text and "hunter2" not in text
    assert text.startswith("cannot use the study storage postgresql+psycopg://u:***@h:1/db: "
                           'connection to server at "h", port 1 failed: Connection refused')


def test_tracking_errors_name_the_cause_briefly():
    exc = Exception("API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch failed "
                    "with exception HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries "
                    "exceeded (Caused by NewConnectionError(...: [Errno 111] Connection refused))")
    assert str(tracking_fault("http://u:pw@127.0.0.1:5000", exc)) == (
        "MLflow tracking at http://u:***@127.0.0.1:5000 failed: connection refused "
        "(/api/2.0/mlflow/runs/log-batch, after 2 retries)")


def test_lock_keys_are_stable_signed_bigints_per_study():
    assert lock_key("a") == lock_key("a") != lock_key("b")
    assert 0 <= lock_key("a") < 2**63


def test_the_sqlite_study_lock_excludes_a_second_holder(tmp_path):
    import threading
    import time

    from gensuite.study_lock import StudyLock

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    events: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with StudyLock(url, "s")():
            events.append("first in")
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with StudyLock(url, "s")():
        events.append("second in")
    t.join()
    assert events == ["first in", "first out", "second in"]
