"""The local Prefect server starter against a real `prefect server start`: a server that exits
while starting (its port taken) is reported at once, with its exit code and its log, which is
kept under the state folder (what `prefect server start --background` would lose; see the
docstring of climb.servers)."""

from __future__ import annotations

import socket
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
