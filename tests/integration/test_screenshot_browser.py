"""scripts/browser.py, the headless Chromium that `make screenshots` drives: it reads what the
rendered page shows (text set by JavaScript after load, not the HTML file), clicks controls
that only react to a real mouse press, fails naming the text a page lacks, and writes a PNG.
Skipped where Debian's chromium is not installed (`make screenshots` installs it)."""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = """<!doctype html><html><body><h1 id="title">loading</h1>
<div role="tablist"><span role="tab" id="tab">Details</span></div><p id="panel"></p>
<script>
setTimeout(() => { document.getElementById('title').textContent = 'flow run merry-guppy'; }, 300);
document.getElementById('tab').addEventListener('pointerdown',
  () => { document.getElementById('panel').textContent = 'promotion-decision'; });
</script></body></html>"""

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="needs Debian's chromium (make screenshots installs it)",
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """A page on 127.0.0.1 whose title is set by a script and whose tab reacts to pointer-down."""
    (tmp_path / "index.html").write_text(PAGE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/index.html"
    server.shutdown()


def test_reads_the_rendered_page_clicks_and_fails_on_what_is_missing(
    site: str, tmp_path: Path
) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from browser import BrowserError, Chromium
    from PIL import Image

    with Chromium(width=800, height=600) as browser:
        browser.open(site)
        assert "flow run merry-guppy" in browser.wait_for(["flow run merry-guppy"], timeout_s=30)
        with pytest.raises(BrowserError, match=r"does not show \['promotion-decision'\]"):
            browser.wait_for(["promotion-decision"], timeout_s=1)
        browser.click("?No such button", timeout_s=1)  # optional: absent, skipped
        with pytest.raises(BrowserError, match="no visible control labelled 'Logs'"):
            browser.click("Logs", timeout_s=1)
        browser.click("Details")  # reacts to the mouse press only
        browser.wait_for(["promotion-decision"], timeout_s=10)
        size = browser.screenshot(tmp_path / "page.png")
    with Image.open(tmp_path / "page.png") as image:
        assert image.size == (800, 600) and image.mode == "P"  # palette PNG, the viewport
    assert size == (tmp_path / "page.png").stat().st_size
