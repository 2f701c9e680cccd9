"""Headless Chromium driven over the DevTools protocol (no Playwright, no browser download):
Debian's `chromium` is started with a remote-debugging port, and one page is driven with plain
CDP commands over a websocket (the `websockets` package Prefect already pins).

Used by scripts/screenshots.py: open a URL, wait until the rendered page's text holds what it
should (the DOM's innerText, not the file), click a control by its label, take a PNG.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

FIND_JS = """(label) => {
  const hits = label.startsWith('css:')
    ? [...document.querySelectorAll(label.slice(4))].filter(e => e.offsetParent !== null)
    : [...document.querySelectorAll('button, a, [role=tab], [role=button], li, span')]
        .filter(e => e.offsetParent !== null && e.textContent.trim() === label);
  if (!hits.length) return null;
  const el = hits[hits.length - 1];
  el.scrollIntoView({block: 'center'});
  const r = el.getBoundingClientRect();
  return [r.left + r.width / 2, r.top + r.height / 2];
}"""


class BrowserError(RuntimeError):
    """Chromium could not be started or driven, or a page did not show what it should."""


class Chromium:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, binary: str = "chromium", width: int = 1440, height: int = 900) -> None:
        self.binary, self.width, self.height = binary, width, height
        self._ids = 0

    def __enter__(self) -> Chromium:
        exe = shutil.which(self.binary)
        if exe is None:
            raise BrowserError(f"{self.binary} not found; install Debian's chromium package")
        self._profile = tempfile.mkdtemp(prefix="climb-chromium-")
        cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        cmd += ["--hide-scrollbars", "--no-first-run", "--remote-debugging-port=0"]
        cmd += [f"--user-data-dir={self._profile}", f"--window-size={self.width},{self.height}"]
        self.proc = subprocess.Popen(
            [*cmd, "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.ws = connect(self._page_socket(), max_size=64 * 2**20, open_timeout=30)
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        return self

    def _page_socket(self) -> str:
        """Read the DevTools port from Chromium's stderr; return the page's websocket URL."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self.proc.returncode} while starting")
            if "DevTools listening on ws://" in line:
                port = line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as resp:
                    pages = [t for t in json.load(resp) if t.get("type") == "page"]
                return str(pages[0]["webSocketDebuggerUrl"])
        raise BrowserError("chromium did not open its DevTools port within 60 s")

    def __exit__(self, *exc: object) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self._profile, ignore_errors=True)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and return its result (events in between are skipped)."""
        self._ids += 1
        self.ws.send(json.dumps({"id": self._ids, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == self._ids:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error'].get('message')}")
                return dict(msg.get("result") or {})

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value."""
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return (out.get("result") or {}).get("value")

    def open(self, url: str) -> None:
        """Navigate to `url`."""
        self.call("Page.navigate", url=url)

    def text(self) -> str:
        """Return the rendered text of the page (document.body.innerText)."""
        return str(self.evaluate("document.body ? document.body.innerText : ''") or "")

    def wait_for(self, expected: list[str], timeout_s: float = 60.0) -> str:
        """Wait until the page's text holds every string in `expected`; return that text.
        Raises BrowserError naming the missing strings and the start of what the page shows."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.text()
            missing = [s for s in expected if s not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                shown = " ".join(text.split())[:300]
                raise BrowserError(f"page does not show {missing}; it shows: {shown!r}")
            time.sleep(0.5)

    def click(self, label: str, timeout_s: float = 30.0) -> None:
        """Click, with the mouse, the visible control whose text is exactly `label`, or the last
        visible match of a CSS selector given as `css:SELECTOR` (waiting for it to appear; a
        leading `?` makes it optional: skipped when absent after 8 s at most): a
        real press and release, which UI toolkits that ignore synthetic `click()` calls (tabs
        that switch on pointer-down) also see."""
        optional = label.startswith("?")
        label = label.removeprefix("?")
        deadline = time.monotonic() + (min(8.0, timeout_s) if optional else timeout_s)
        while (point := self.evaluate(f"({FIND_JS})({json.dumps(label)})")) is None:
            if time.monotonic() > deadline:
                if optional:
                    return
                raise BrowserError(f"no visible control labelled {label!r} to click")
            time.sleep(0.5)
        x, y = point
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path, colors: int = 256) -> int:
        """Save the viewport as a palette PNG (`colors` colours: UI pages stay sharp and small);
        return its size in bytes."""
        import io

        from PIL import Image

        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        image = Image.open(io.BytesIO(data)).convert("RGB")
        image = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG", optimize=True)
        return path.stat().st_size
