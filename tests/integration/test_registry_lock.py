"""The promotion lock on a real MLflow registry (SQLite store, no server): exclusive, broken
only when its holder stopped beating, kept alive by the heartbeat, and a holder that lost it
moves nothing. Starts: nothing (MLflow on SQLite in a temporary folder)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from support.stages import sqlite_copy, sqlite_template

from climb.records import PublishResult
from climb.registry.champion import release
from climb.registry.lock import LOCK_SUFFIX, LockError, LockLost, break_if_stale, registry_lock
from climb.registry.tracking import client_for
from climb.registry.versions import get_champion, register_version

pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path):
    return client_for(sqlite_copy(sqlite_template(tmp_path_factory.getbasetemp()), tmp_path))


def plant_lock(client, holder: str, age_s: float) -> None:
    stamp = f"{time.time() - age_s:.3f}"
    client.create_registered_model(f"m{LOCK_SUFFIX}", tags={"holder": holder, "since": stamp})


def test_lock_is_exclusive_and_released(client) -> None:
    with registry_lock(client, "m", timeout_s=5) as held:
        assert client.get_registered_model(f"m{LOCK_SUFFIX}").tags["holder"] == held.token
        with (
            pytest.raises(LockError, match="could not take the promotion lock"),
            registry_lock(client, "m", timeout_s=0.6, poll_s=0.1),
        ):
            pass
        held.assert_held()
    assert client.search_registered_models(f"name = 'm{LOCK_SUFFIX}'") == []


def test_stale_lock_of_a_dead_holder_is_broken(client) -> None:
    plant_lock(client, "dead-holder", age_s=120)
    with registry_lock(client, "m", timeout_s=5, stale_s=60) as held:
        assert held.token != "dead-holder"
    assert [m.name for m in client.search_registered_models()] == []  # lock and marker gone


def test_fresh_lock_is_not_broken(client) -> None:
    plant_lock(client, "alive", age_s=1)
    with (
        pytest.raises(LockError),
        registry_lock(client, "m", timeout_s=0.5, stale_s=60, poll_s=0.1),
    ):
        pass
    assert client.get_registered_model(f"m{LOCK_SUFFIX}").tags["holder"] == "alive"


def test_a_breaker_already_at_work_is_left_alone(client) -> None:
    plant_lock(client, "dead", age_s=120)
    client.create_registered_model(f"m{LOCK_SUFFIX}.break-dead")
    assert break_if_stale(client, f"m{LOCK_SUFFIX}", stale_s=60) is False
    assert client.get_registered_model(f"m{LOCK_SUFFIX}").tags["holder"] == "dead"


def test_heartbeat_keeps_a_long_holder_from_looking_stale(client) -> None:
    """A contender waits twice as long as `stale_s` and is refused: without the heartbeat the
    holder would have looked stale and been broken. Whatever else happens to the contender
    (it takes the lock, or fails some other way) is reported, not swallowed."""
    stale_s = 1.2  # heartbeat every 0.2 s
    outcome: list[str] = []

    def contender() -> None:
        start = time.monotonic()
        try:
            with registry_lock(
                client_for(client.tracking_uri), "m", timeout_s=2.5, stale_s=stale_s
            ):
                outcome.append("took a lock that was held and beating")
        except LockError as exc:
            outcome.append(f"refused after {time.monotonic() - start:.1f}s: {exc}")
        except BaseException as exc:
            outcome.append(f"failed: {type(exc).__name__}: {exc}")

    with registry_lock(client, "m", timeout_s=5, stale_s=stale_s) as held:
        t = threading.Thread(target=contender)
        t.start()
        t.join(timeout=30)
        assert not t.is_alive(), "the contender never returned"
        held.assert_held()
    assert len(outcome) == 1 and outcome[0].startswith("refused after"), outcome
    waited = float(outcome[0].split()[2].rstrip("s:"))
    assert waited >= 2 * stale_s - 0.2, outcome  # it waited past the stale limit, twice


def test_a_holder_that_lost_the_lock_moves_nothing(client, tmp_path: Path) -> None:
    version = register_version(client, "m", tmp_path.as_uri(), None, {"climb.average": "50"})

    def accept(current):
        # Someone broke the lock while this holder was deciding (e.g. it paused too long).
        client.delete_registered_model(f"m{LOCK_SUFFIX}")
        plant_lock(client, "usurper", age_s=0)
        return True, "wins"

    with pytest.raises(LockLost, match="now held by usurper"):
        release(
            client, "m", version, accept=accept, publish=None, kind="pipeline", by="t", reason="r"
        )
    assert get_champion(client, "m") is None


def test_publish_failure_leaves_the_alias_and_releases_the_lock(client, tmp_path: Path) -> None:
    v1 = register_version(client, "m", tmp_path.as_uri(), None, {"climb.average": "40"})
    client.set_registered_model_alias("m", "champion", v1)
    v2 = register_version(client, "m", tmp_path.as_uri(), None, {"climb.average": "50"})

    def publish() -> PublishResult:
        raise RuntimeError("hub down")

    with pytest.raises(RuntimeError, match="hub down"):
        release(
            client,
            "m",
            v2,
            accept=lambda c: (True, "ok"),
            publish=publish,
            kind="pipeline",
            by="t",
            reason="r",
        )
    assert get_champion(client, "m").version == v1  # type: ignore[union-attr]
    assert "climb.published" not in client.get_model_version("m", v2).tags
    with registry_lock(client, "m", timeout_s=1):
        pass  # released despite the failure


def test_create_that_lost_a_race_with_a_release_is_retried(client) -> None:
    """MLflow's server answers a colliding create with RESOURCE_DOES_NOT_EXIST when the holder
    released the lock between the insert and its lookup: the lock is free, take it."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    real_create = client.create_registered_model
    calls: list[str] = []

    def create_losing_once(name: str, *args, **kwargs):
        calls.append(name)
        if len(calls) == 1:
            raise MlflowException(
                f"Registered Model with name={name} not found",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        return real_create(name, *args, **kwargs)

    client.create_registered_model = create_losing_once
    with registry_lock(client, "m", timeout_s=5, poll_s=0.05) as held:
        assert client.get_registered_model(f"m{LOCK_SUFFIX}").tags["holder"] == held.token
    assert calls == [f"m{LOCK_SUFFIX}"] * 2
