"""Real servers for the scale-out tests and benchmark: a fresh PostgreSQL database per use (on
the server that ``GENSUITE_TEST_PG`` names) and an ``mlflow server`` on 127.0.0.1.

``GENSUITE_TEST_PG`` is an admin URL of a role that may create databases, e.g.
``postgresql://gensuite:PASSWORD@127.0.0.1:5432/postgres`` (.ci/run makes one with pg_ctlcluster).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

PG_ENV = "GENSUITE_TEST_PG"


def admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _connect(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True, connect_timeout=5)


@contextlib.contextmanager
def fresh_database(prefix: str = "gs") -> Iterator[str]:
    """A new, empty database; its bare ``postgresql://`` URL; dropped afterwards."""
    admin = admin_url()
    if admin is None:
        raise RuntimeError(f"{PG_ENV} is not set")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _connect(admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin, name)
    finally:
        with _connect(admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """``mlflow server`` with proxied artifacts, no job workers, on a free local port."""

    def __init__(self, backend_uri: str, artifacts: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
             "--artifacts-destination", str(artifacts), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, timeout_s: float = 120) -> MlflowServer:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/health", timeout=2).ok:
                    return self
            time.sleep(0.5)
        raise RuntimeError(f"mlflow server not up in {timeout_s} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
