"""Moving the `champion` alias: publish first, then move, all under the promotion lock.

`release` is the one way the alias moves (pipeline promotion, `climb promote`, `climb rollback`):

1. take the registry lock of the model (climb.registry.lock);
2. re-read the champion and ask `accept(current)` again: the decision was made against the
   champion of some minutes ago, and another pipeline may have promoted a better model since;
3. publish (Hub push or outbox) when publishing is required; a failure raises and the alias
   stays where it was, so the champion never names a model that is not on the Hub;
4. check the lock is still ours, move the alias, clear `challenger` if it named this version,
   and append an event to the champion history (a registered-model tag per event).

Every move is an event tagged on the registered model (`climb.champion.<ms>-<version>`): who,
when, why, the previous champion, and for rollbacks which earlier event it restores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from climb.records import PublishResult, Record
from climb.registry import tags as T
from climb.registry.lock import registry_lock
from climb.registry.versions import (
    CHALLENGER,
    CHAMPION,
    RegisteredVersion,
    aliases,
    get_champion,
    get_version,
)


class ChampionError(RuntimeError):
    """A manual champion change cannot be done; the message says why."""


class Event(Record):
    """One move of the champion alias."""

    key: str
    version: str
    previous: str | None
    kind: str  # pipeline | manual | rollback
    by: str
    reason: str
    when: float
    average: float | None = None
    restores: str | None = None
    run_id: str | None = None


class ChampionChange(Record):
    """What `release` did: whether `version` became champion, the one it replaced, why, where
    it was published, and the history event that records the move."""

    promoted: bool
    version: str
    previous: str | None
    reason: str
    publish: PublishResult | None = None
    event: str | None = None


def history(client: Any, model_name: str) -> list[Event]:
    """Return the champion history of `model_name`, oldest first ([] when none)."""
    from mlflow.exceptions import MlflowException

    try:
        tags = dict(client.get_registered_model(model_name).tags or {})
    except MlflowException:
        return []
    events = []
    for key, raw in tags.items():
        if key.startswith(T.CHAMPION_EVENT_PREFIX):
            try:
                events.append(Event.model_validate_json(raw))
            except ValidationError:
                continue
    return sorted(events, key=lambda e: e.key)


def record_event(client: Any, model_name: str, event: Event) -> None:
    """Append `event` to the champion history (one registered-model tag)."""
    client.set_registered_model_tag(
        model_name, T.CHAMPION_EVENT_PREFIX + event.key, event.model_dump_json()
    )


def new_event(
    version: str,
    previous: str | None,
    kind: str,
    by: str,
    reason: str,
    average: float | None = None,
    restores: str | None = None,
    run_id: str | None = None,
) -> Event:
    """Build an event stamped now (its key sorts by time)."""
    now = time.time()
    key = f"{int(now * 1000):015d}-v{version}"
    return Event(
        key=key,
        version=version,
        previous=previous,
        kind=kind,
        by=by,
        reason=reason[:2000],
        when=now,
        average=average,
        restores=restores,
        run_id=run_id,
    )


def release(
    client: Any,
    model_name: str,
    version: str,
    *,
    accept: Callable[[RegisteredVersion | None], tuple[bool, str]],
    publish: Callable[[], PublishResult] | None,
    kind: str,
    by: str,
    reason: str,
    run_id: str | None = None,
    restores: Callable[[RegisteredVersion | None], str | None] | None = None,
    timeout_s: float = 900.0,
    stale_s: float = 600.0,
) -> ChampionChange:
    """Make `version` the champion if `accept(current champion)` still holds, publishing first.

    accept: re-checked under the lock; returns (ok, reason). publish: called under the lock
    only when accepted, before the alias moves; returns where it went and raises on failure
    (the alias is then untouched). Returns the ChampionChange (promoted or not, and why).
    """
    with registry_lock(client, model_name, timeout_s=timeout_s, stale_s=stale_s) as lock:
        current = get_champion(client, model_name)
        previous = current.version if current else None
        if current is not None and current.version == version:
            return ChampionChange(
                promoted=True,
                version=version,
                previous=previous,
                reason=f"version {version} is already the champion",
            )
        ok, why = accept(current)
        if not ok:
            return ChampionChange(promoted=False, version=version, previous=previous, reason=why)
        published = publish() if publish is not None else None
        if published is not None:
            client.set_model_version_tag(
                model_name, version, T.PUBLISHED, published.model_dump_json()[:4000]
            )
        event = new_event(
            version,
            previous,
            kind,
            by,
            reason or why,
            get_version(client, model_name, version).average,
            restores(current) if restores else None,
            run_id,
        )
        lock.assert_held()
        client.set_registered_model_alias(model_name, CHAMPION, version)
        if aliases(client, model_name).get(CHALLENGER) == version:
            client.delete_registered_model_alias(model_name, CHALLENGER)
        record_event(client, model_name, event)
        return ChampionChange(
            promoted=True,
            version=version,
            previous=previous,
            reason=why,
            publish=published,
            event=event.key,
        )


def origin(events: list[Event], event: Event) -> Event:
    """Follow rollback events back to the event that first made that version champion."""
    by_key = {e.key: e for e in events}
    seen = set()
    while event.kind == "rollback" and event.restores in by_key and event.key not in seen:
        seen.add(event.key)
        event = by_key[str(event.restores)]
    return event


def rollback_target(events: list[Event], current: str) -> tuple[str, str]:
    """Return (version to roll back to, key of the event that first made it champion).

    Raises ChampionError when the history does not say what came before `current`.
    """
    mine = [e for e in events if e.version == current]
    if not mine:
        raise ChampionError(
            f"no champion history for version {current}; use `climb promote VERSION` instead"
        )
    undone = origin(events, mine[-1])
    target = undone.previous
    if target is None:
        raise ChampionError(
            f"version {current} was the first champion: there is nothing to roll back to"
        )
    before = [e for e in events if e.version == target and e.key < undone.key]
    if not before:
        raise ChampionError(f"no history for the previous champion {target}")
    return target, origin(events, before[-1]).key
