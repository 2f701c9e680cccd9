"""Start and stop a real `mlflow server` (SQLite backend, local artifact root) for tests.

It runs in its own process group (the server starts uvicorn and its workers), with one worker
and the job runner off to keep it light on small CI machines; `stop` ends the whole group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    folder: Path,
    template_db: Path | None = None,
    timeout_s: float = 180.0,
    port: int | None = None,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start `mlflow server` on 127.0.0.1 with its data in `folder`; return (url, process).

    `template_db`: an already migrated, empty MLflow SQLite database to start from (saves the
    server its schema migrations, ~10 s on a busy 2-core machine).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if template_db is not None:
        shutil.copyfile(template_db, folder / "mlflow.db")
    port = port or free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (folder / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--default-artifact-root",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited: {(folder / 'server.log').read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return url, proc
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"mlflow server not healthy within {timeout_s}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group (SIGTERM, then SIGKILL after 10 s)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
