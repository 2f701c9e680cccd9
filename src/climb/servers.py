"""Local servers for the embedded default: a Prefect server on SQLite under the state folder
(started once, detached, reused by later runs) and the MLflow UI over the local SQLite store.

Nothing here starts anything when PREFECT_API_URL is already set: a configured server wins.

Why not `prefect server start --background` / `prefect server stop` (Prefect 3.9, checked against
its source and by hand): they do cover part of this (PREFECT_HOME and the SQLite URL pass through
the environment, `--port` works, `prefect server status --wait --timeout N` is a health wait, the
pid file lands in PREFECT_HOME), but
- the background server's stdout and stderr are pipes to the CLI process, which exits at once:
  the server's log is lost, so a server that dies while starting (a bad database, a port taken
  between the CLI's check and uvicorn's bind) leaves nothing to read and only times out; here it
  logs to `<state>/prefect/server.log`, and an exit while starting is reported at once, with its
  code and that log;
- `stop` sends SIGTERM and returns while the server is still running (measured: alive after
  `stop` returned, 3 s later), with no escalation; here the stop waits up to 10 s for the whole
  process group, then kills it, so the next start finds the port free;
- the server stays in the caller's process group, so a Ctrl-C meant for one `climb run` would
  stop the server that later runs reuse; here it runs in its own session.
Adopting them would mean wrapping each of these, which is more code than starting uvicorn's
parent (`prefect server start`, foreground) detached as below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from climb.state import StateDir

DEFAULT_PREFECT_PORT = 4200
DEFAULT_MLFLOW_PORT = 5000


class ServerError(RuntimeError):
    """A local server did not start; the message points at its log."""


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def prefect_env(state: StateDir) -> dict[str, str]:
    """Environment of the local Prefect server and its clients (SQLite under the state dir)."""
    home = state.prefect
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        "DO_NOT_TRACK": "1",
    }


def _pid_file(state: StateDir) -> Path:
    return state.prefect / "server.json"


def _started_here(state: StateDir, api: str) -> bool:
    """Whether the server answering at `api` is the one this state folder started: its pid file
    names that API and its process group is alive."""
    path = _pid_file(state)
    try:
        record = json.loads(path.read_text())
        os.killpg(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(record.get("api") == api)


def ensure_prefect_server(
    state: StateDir, port: int | None = None, timeout_s: float = 120.0
) -> tuple[str, bool]:
    """Return (api_url, started_now). Uses PREFECT_API_URL when set; else reuses the local
    server this state folder started, or starts one and waits until it answers its health
    check. Raises ServerError when another server holds the port (the message says what to do)
    or the new one exits or never becomes healthy.
    """
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"], False
    port = port or int(os.environ.get("CLIMB_PREFECT_PORT", DEFAULT_PREFECT_PORT))
    api = f"http://127.0.0.1:{port}/api"
    if _healthy(f"{api}/health"):
        if _started_here(state, api):
            return api, False
        raise ServerError(
            f"a Prefect server this state folder ({state.root}) did not start answers at {api}: "
            "its runs would go to another folder's database, and `climb servers down` could not "
            "stop it. Stop that server, give this folder another port (CLIMB_PREFECT_PORT=4210), "
            f"or use it on purpose with PREFECT_API_URL={api}"
        )
    state.prefect.mkdir(parents=True, exist_ok=True)
    log_path = state.prefect / "server.log"
    # The UI asks the API at PREFECT_UI_API_URL, which defaults to port 4200 whatever --port says:
    # on another port the UI would show whichever server holds 4200 (or nothing).
    env = {**os.environ, **prefect_env(state), "PREFECT_UI_API_URL": api}
    cmd = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
    _pid_file(state).write_text(json.dumps({"pid": proc.pid, "api": api}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(
                f"Prefect server exited with {proc.returncode}; see {log_path} "
                f"(is port {port} in use? set CLIMB_PREFECT_PORT)"
            )
        if _healthy(f"{api}/health"):
            return api, True
        time.sleep(0.5)
    stop_prefect_server(state)
    raise ServerError(f"Prefect server not healthy after {timeout_s:.0f}s; see {log_path}")


def stop_prefect_server(state: StateDir) -> bool:
    """Stop the local Prefect server started for this state folder; return whether one ran."""
    path = _pid_file(state)
    if not path.is_file():
        return False
    pid = int(json.loads(path.read_text())["pid"])
    path.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(100):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return True


def ui_url(api_url: str) -> str:
    """Return the Prefect UI base URL for an API URL (PREFECT_UI_URL wins when set)."""
    return os.environ.get("PREFECT_UI_URL") or api_url.rstrip("/").removesuffix("/api")


def mlflow_ui_command(state: StateDir, port: int = DEFAULT_MLFLOW_PORT) -> list[str]:
    """Return the command that serves the MLflow UI over the local SQLite store."""
    db = state.mlflow / "mlflow.db"
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        (state.mlflow / "artifacts").resolve().as_uri(),
    ]
