"""Which Hub failures are retried, and token scrubbing (the push itself is tested against a
local Hub server in tests/integration/test_hub_push.py)."""

from __future__ import annotations

import httpx2
import pytest
from huggingface_hub.errors import HfHubHTTPError

from climb.publish.hub import is_transient, scrub


def http_error(status: int) -> HfHubHTTPError:
    request = httpx2.Request("POST", "http://hub/api/models/a/b/commit/main")
    return HfHubHTTPError(f"{status}", response=httpx2.Response(status, request=request))


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (http_error(500), True),
        (http_error(503), True),
        (http_error(429), True),
        (http_error(412), True),  # head moved: re-read and retry
        (http_error(401), False),
        (http_error(403), False),
        (http_error(400), False),
        (httpx2.ConnectError("refused"), True),
        (httpx2.RemoteProtocolError("Server disconnected without sending a response."), True),
        (ConnectionResetError(), True),
        (ValueError("bad yaml"), False),
    ],
)
def test_transient_errors(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_transient_cause_is_found_through_wrapping() -> None:
    try:
        try:
            raise httpx2.ReadTimeout("slow")
        except httpx2.ReadTimeout as inner:
            raise FileNotFoundError("cannot find the requested files") from inner
    except FileNotFoundError as outer:
        assert is_transient(outer)


def test_scrub() -> None:
    assert scrub("Bearer hf_abc failed for hf_abc", "hf_abc") == "Bearer *** failed for ***"
    assert scrub("nothing", None) == "nothing"
