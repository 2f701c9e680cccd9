"""The champion history and where `climb rollback` goes, as pure functions of the events."""

from __future__ import annotations

import pytest

from climb.registry.champion import ChampionError, Event, origin, rollback_target


def ev(
    n: int, version: str, previous: str | None, kind: str = "pipeline", restores: str | None = None
) -> Event:
    return Event(
        key=f"{n:015d}-v{version}",
        version=version,
        previous=previous,
        kind=kind,
        by="t",
        reason="r",
        when=float(n),
        average=40.0 + n,
        restores=restores,
    )


def test_rollback_goes_to_the_version_that_was_replaced() -> None:
    events = [ev(1, "1", None), ev(2, "2", "1")]
    assert rollback_target(events, "2") == ("1", events[0].key)


def test_second_rollback_goes_further_back_not_forward() -> None:
    v1, v2, v3 = ev(1, "1", None), ev(2, "2", "1"), ev(3, "3", "2")
    r1 = ev(4, "2", "3", kind="rollback", restores=v2.key)
    events = [v1, v2, v3, r1]
    assert origin(events, r1) == v2
    assert rollback_target(events, "2") == ("1", v1.key)


def test_rollback_undoes_a_manual_promotion() -> None:
    events = [ev(1, "1", None), ev(2, "2", "1"), ev(3, "1", "2", kind="manual")]
    target, restores = rollback_target(events, "1")
    assert target == "2" and restores == events[1].key


def test_version_promoted_twice_uses_its_latest_move() -> None:
    events = [ev(1, "1", None), ev(2, "2", "1"), ev(3, "3", "2"), ev(4, "2", "3", kind="manual")]
    assert rollback_target(events, "2")[0] == "3"


@pytest.mark.parametrize(
    ("events", "current", "message"),
    [
        ([ev(1, "1", None)], "1", "first champion"),
        ([], "5", "no champion history for version 5"),
        ([ev(1, "1", None), ev(2, "2", "7")], "2", "no history for the previous champion 7"),
    ],
)
def test_rollback_refuses_when_history_cannot_say(
    events: list[Event], current: str, message: str
) -> None:
    with pytest.raises(ChampionError, match=message):
        rollback_target(events, current)


def test_origin_stops_on_a_cycle() -> None:
    a = ev(1, "1", None, kind="rollback", restores="000000000000002-v2")
    b = ev(2, "2", None, kind="rollback", restores=a.key)
    assert origin([a, b], b).kind == "rollback"  # returns instead of looping forever
