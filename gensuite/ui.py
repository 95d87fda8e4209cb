"""``gensuite ui``: the MLflow UI for the project's tracking store, quiet (no job workers), and
optionally optuna-dashboard on the sweeps' study storage, both on 127.0.0.1.

Why MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: MLflow ≥ 3 starts background job workers with
its server by default; a local browser of finished runs needs none of them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gensuite.errors import GensuiteError
from gensuite.storage import mask_url, normalise_db_url


def commands(*, results_dir: Path, tracking_uri: str | None, port: int, with_optuna: bool,
             storage: str | None) -> list[tuple[str, list[str], str]]:
    """(name, argv, url) of each server to start."""
    from gensuite.sweep import default_storage
    from gensuite.tracking import default_tracking_uri, is_remote

    uri = tracking_uri or default_tracking_uri(results_dir)
    out = []
    if not is_remote(uri):
        out.append(("MLflow UI", [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                                  uri, "--host", "127.0.0.1", "--port", str(port)],
                    f"http://127.0.0.1:{port}"))
    if with_optuna:
        if importlib.util.find_spec("optuna_dashboard") is None:
            raise GensuiteError("--optuna needs optuna-dashboard: pip install 'gensuite[ui]'")
        url = normalise_db_url(storage or default_storage(results_dir))
        # its console script's entry point, run with this interpreter (no __main__ module)
        code = "import sys; from optuna_dashboard._cli import main; sys.exit(main())"
        out.append(("Optuna dashboard", [sys.executable, "-c", code, url, "--host",
                                         "127.0.0.1", "--port", str(port + 1)],
                    f"http://127.0.0.1:{port + 1}"))
    if not out:
        raise GensuiteError(f"{mask_url(uri)} is a tracking server with its own UI; "
                            f"add --optuna for the study view")
    return out


def serve(*, results_dir: Path, tracking_uri: str | None, port: int, with_optuna: bool,
          storage: str | None, echo: Callable[[str], None]) -> int:
    """Start the servers, wait until one exits or Ctrl-C; stop the others. Exit status."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # Ctrl-C and SIGTERM both stop the servers, even where SIGINT was inherited as ignored (a
    # command started in the background of a script without job control)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    procs = []
    try:
        for name, argv, url in commands(results_dir=results_dir, tracking_uri=tracking_uri,
                                        port=port, with_optuna=with_optuna, storage=storage):
            echo(f"{name} at {url}")
            procs.append(subprocess.Popen(argv, env=env, start_new_session=True))
        return _wait_any(procs)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop(procs: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """SIGTERM each server's process group, SIGKILL what is still there after ``grace_s``
    (uvicorn's graceful shutdown may wait on open connections)."""
    import time

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, sig)
        deadline = time.monotonic() + grace_s
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
        if all(p.poll() is not None for p in procs):
            return


def _wait_any(procs: list[subprocess.Popen]) -> int:
    import time

    while True:
        for p in procs:
            if p.poll() is not None:
                return p.returncode
        time.sleep(0.5)
