"""The local Prefect server starter against a real `prefect server start`: a server that exits
while starting (its port taken) is reported at once, with its exit code and its log, which is
kept under the state folder (what `prefect server start --background` would lose; see the
docstring of climb.servers); a server this folder did not start is not taken for its own."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from climb.servers import ServerError, ensure_prefect_server, stop_prefect_server
from climb.state import StateDir

pytestmark = pytest.mark.integration


def test_a_server_that_cannot_bind_is_reported_at_once_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    state = StateDir.at(tmp_path / "state")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(ServerError, match=r"exited with \d+; see .*server\.log") as err:
            ensure_prefect_server(state, port=port, timeout_s=120)
        took = time.monotonic() - start
    assert took < 60, f"the exit was noticed only after {took:.0f} s"
    log = (state.prefect / "server.log").read_text()
    assert f"Port {port} is already in use" in " ".join(log.split()), log[-2000:]
    assert "CLIMB_PREFECT_PORT" in str(err.value)
    assert stop_prefect_server(state) is False  # the pid file is there, the process is not


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_another_folder_started_is_refused_ours_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something healthy holds the port but this state folder did not start it (another
    clone's server): refused with the three ways out, nothing started. The server whose pid
    file this folder holds, alive, at that API, is reused."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = other.server_address[1]
    threading.Thread(target=other.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{port}/api"
    state = StateDir.at(tmp_path / "state")
    ours = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        with pytest.raises(ServerError, match="did not start") as err:
            ensure_prefect_server(state, port=port, timeout_s=5)
        for way in ("CLIMB_PREFECT_PORT", f"PREFECT_API_URL={api}", str(state.root)):
            assert way in str(err.value)
        assert not (state.prefect / "server.log").exists()  # nothing was started
        state.prefect.mkdir(parents=True)
        (state.prefect / "server.json").write_text(json.dumps({"pid": ours.pid, "api": api}))
        assert ensure_prefect_server(state, port=port, timeout_s=5) == (api, False)
        other_api = api.replace(str(port), str(port + 1))
        (state.prefect / "server.json").write_text(json.dumps({"pid": ours.pid, "api": other_api}))
        with pytest.raises(ServerError, match="did not start"):
            ensure_prefect_server(state, port=port, timeout_s=5)
    finally:
        ours.kill()
        ours.wait()
        other.shutdown()
