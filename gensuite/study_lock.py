"""A lock, held in the study's own database, around "count the trials, then start one".

Why: Optuna's ``MaxTrialsCallback`` counts finished trials after the fact, so workers that ask
for a trial at the same moment overshoot ``--trials`` (12 asked → 13 finished, measured with
three workers). Deciding and creating under one lock per study makes the target exact. The lock
lives where the study lives, so it needs no extra service: a PostgreSQL advisory lock, MySQL's
GET_LOCK, or a file lock beside a sqlite file.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from gensuite.errors import GensuiteError
from gensuite.storage import db_fault, engine_kwargs

LOCK_TIMEOUT_S = 120  # a worker that holds it only counts and creates one row


def lock_key(study_name: str) -> int:
    """A stable signed 63-bit key per study (advisory locks take a bigint)."""
    digest = hashlib.sha256(f"gensuite-sweep/{study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class StudyLock:
    """``with StudyLock(url, name):`` — one holder per study across every worker."""

    def __init__(self, url: str, study_name: str) -> None:
        self.url, self.study_name = url, study_name
        self._engine = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self.url.startswith("sqlite"):
            with self._file_lock():
                yield
        elif self.url.startswith(("postgresql", "mysql")):
            with self._db_lock():
                yield
        else:  # another backend: no lock; the target may be overshot by concurrent workers
            yield

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        import fcntl

        from sqlalchemy.engine import make_url

        database = make_url(self.url).database
        if not database or database == ":memory:":
            yield
            return
        path = Path(database).with_name(Path(database).name + ".gensuite-lock")
        with path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _db_lock(self) -> Iterator[None]:
        import sqlalchemy as sa

        key = lock_key(self.study_name)
        if self._engine is None:
            self._engine = sa.create_engine(self.url, **engine_kwargs(self.url))
        try:
            conn = self._engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise db_fault(self.url, exc) from None
        with conn:
            if self.url.startswith("postgresql"):
                conn.execute(sa.text(f"SET lock_timeout = '{LOCK_TIMEOUT_S}s'"))
                acquire = sa.text("SELECT pg_advisory_lock(:k)")
                release = sa.text("SELECT pg_advisory_unlock(:k)")
            else:
                acquire = sa.text(f"SELECT GET_LOCK(:k, {LOCK_TIMEOUT_S})")
                release = sa.text("SELECT RELEASE_LOCK(:k)")
            arg = {"k": key if self.url.startswith("postgresql") else str(key)}
            try:
                conn.execute(acquire, arg)
            except sa.exc.SQLAlchemyError as exc:
                raise GensuiteError(f"no lock on study {self.study_name!r} within "
                                    f"{LOCK_TIMEOUT_S} s ({db_fault(self.url, exc)})") from None
            try:
                yield
            finally:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.execute(release, arg)
                    conn.commit()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
