"""Optuna's RDB storage opened the way many workers need it: a URL whose driver is installed,
a connect timeout, and every connection fault as one line with the password masked.

Why normalise: SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, SQLAlchemy 2.0 to psycopg2;
a bare scheme therefore works or fails depending on versions the user never chose. Here a bare
``postgresql://`` (or ``postgres://``) gets the driver that is installed, psycopg 3 first
(``gensuite[postgres]`` installs both, so ``mlflow server`` accepts the same bare URL too).
"""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gensuite.errors import GensuiteError

CONNECT_TIMEOUT_S = 5  # a wrong host or port is an error within seconds, not a hang

_POSTGRES_DRIVERS = (("psycopg", "psycopg"), ("psycopg2", "psycopg2"))  # (module, dialect)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for every log line and error)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def normalise_db_url(url: str) -> str:
    """``postgres://``/``postgresql://`` → ``postgresql+<installed driver>://``; others as given."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        return url
    for module, dialect in _POSTGRES_DRIVERS:
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{dialect}://{rest}"
    raise GensuiteError(f"no PostgreSQL driver for {mask_url(url)}: "
                        f"pip install 'gensuite[postgres]' (psycopg and psycopg2)")


def engine_kwargs(url: str) -> dict[str, Any]:
    """Connection settings per backend: a connect timeout and a liveness check per checkout."""
    if url.startswith(("postgresql", "mysql")):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, "pool_pre_ping": True}
    return {}


def db_fault(url: str, exc: BaseException) -> GensuiteError:
    """A storage exception → one line: which database (password masked) and the server's cause."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    text = " ".join(str(cause).split())  # drivers' messages span lines; keep it one
    text = text.split("(Background on this error at:")[0].strip()  # SQLAlchemy's link
    if len(text) > 300:
        text = text[:297] + "..."
    return GensuiteError(f"cannot use the study storage {mask_url(url)}: "
                         f"{text or type(cause).__name__}")


def open_storage(url: str, *, heartbeat_s: int, grace_s: int, stale_callback) -> Any:
    """An ``optuna.storages.RDBStorage`` with heartbeats; connection faults are one line."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage

    kwargs = _stale_callback_kwarg(stale_callback)
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(url, engine_kwargs=engine_kwargs(url), heartbeat_interval=heartbeat_s,
                              grace_period=grace_s, **kwargs)
    except Exception as exc:  # sqlalchemy/driver errors, optuna's "Failed to import DB ..."
        raise db_fault(url, exc) from None


def _stale_callback_kwarg(callback) -> dict[str, Any]:
    """Optuna 4.9 renamed the hook (heartbeat_stale_trial_callback, was failed_trial_callback)."""
    import inspect

    from optuna.storages import RDBStorage

    names = inspect.signature(RDBStorage.__init__).parameters
    if "heartbeat_stale_trial_callback" in names:
        return {"heartbeat_stale_trial_callback": callback}
    return {"failed_trial_callback": callback}


def retry_once():
    """Optuna's re-queue of a trial failed by the heartbeat, under either of its names."""
    import warnings

    from optuna import storages

    with warnings.catch_warnings():  # "experimental" notices
        warnings.simplefilter("ignore")
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
            return storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
        return storages.RetryFailedTrialCallback(max_retry=1)
