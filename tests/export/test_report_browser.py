"""The results site in a real browser: headless Chromium opens it from ``file://`` with no console
error, every link lands on a page that exists, and the pages show the figures of known runs.

The runs are made by the CLI, as a user would: ``scaleenv eval --agent oracle --tasks 2 --domain
retail`` (pass@1 1.0) and ``--agent noop`` (pass@1 0.0), then ``scaleenv report``. Chromium
(Debian package ``chromium``; CI installs it) is driven over the Chrome DevTools Protocol with the
``websockets`` client, so console messages, uncaught exceptions and refused loads (a
Content-Security-Policy violation, a missing file) are all seen.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--remote-debugging-port=0", "--window-size=1200,900",
]  # fmt: skip


class Browser:
    """One page in headless Chromium, over the DevTools Protocol, recording every console error."""

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        self.process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.socket = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=10)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=True)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> dict[str, Any]:
        number = next(self.ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=30))
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            self.events.append(json.loads(self.socket.recv(timeout=30)))

    def evaluate(self, expression: str) -> Any:
        return self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and the browser's own error log (refused loads)."""
        self.evaluate("0")  # drain what arrived before this point
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif event.get("method") == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails')}")
            elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    def screenshot(self, out: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)["data"]
        out.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if CHROMIUM is None:
        if os.environ.get("CI"):  # .ci/run installs it: a CI run without it must not pass quietly
            pytest.fail("Chromium is missing although .ci/run installs it")
        pytest.skip("needs Chromium (Debian: apt-get install -y chromium; .ci/run installs it)")
    pytest.importorskip("websockets.sync.client")
    opened = Browser(tmp_path / "profile")
    try:
        yield opened
    finally:
        opened.close()


def scaleenv(*args: str, cwd: Path) -> str:
    env = {**os.environ, "SCALEENV_ROOT": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "scaleenv_mcp", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_report_opens_in_chromium_without_console_errors_and_shows_the_known_runs_figures(browser: Browser, tmp_path: Path) -> None:
    scaleenv("eval", "--agent", "oracle", "--tasks", "2", "--domain", "retail", "--out", "runs/oracle", cwd=tmp_path)
    scaleenv("eval", "--agent", "noop", "--tasks", "2", "--domain", "retail", "--out", "runs/noop", cwd=tmp_path)
    said = scaleenv("report", "runs/oracle", "runs/noop", "--html", "site", cwd=tmp_path)
    assert "2 run(s), 4 episode page(s), 1 domain page(s)" in said
    site = tmp_path / "site"

    browser.open((site / "index.html").as_uri())
    assert browser.errors() == []
    figures = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('td[data-metric]')]"
        ".map(td => [td.dataset.run + '/' + td.dataset.domain + '/' + td.dataset.metric, td.innerText]))"
    )
    assert figures["0/overall/pass@1"] == "1.0" and figures["0/retail/pass@1"] == "1.0"
    assert figures["1/overall/pass@1"] == "0.0" and figures["1/retail/pass@1"] == "0.0"
    assert figures["0/overall/episodes"] == "2" and figures["1/overall/episodes"] == "2"
    assert figures["0/overall/mean_reward"] == "1.0" and figures["1/overall/mean_reward"] == "0.0"
    text = browser.evaluate("document.body.innerText")
    assert "2 run(s), 4 episode(s)" in text
    assert browser.evaluate("document.querySelectorAll('svg').length") == 3  # pass@1 and mean reward by run, reward distribution
    browser.screenshot(tmp_path / "index.png")
    assert (tmp_path / "index.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    seen: set[str] = set()
    queue = [(site / "index.html").as_uri()]
    while queue:  # every page the index links to, and theirs: all load, none logs an error
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        browser.open(url)
        assert browser.errors() == [], url
        for link in browser.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
            parsed = urlparse(link)
            assert parsed.scheme == "file", link  # nothing leaves the folder
            assert Path(unquote(parsed.path)).is_file(), f"{url} links to a missing {link}"
            queue.append(link.split("#")[0])
    assert len(seen) == 1 + 1 + 4  # the index, the domain, every episode

    browser.open((site / "episodes" / "run0" / "retail" / "retail-001__t1.html").as_uri())
    page = browser.evaluate("document.body.innerText")
    assert "✓ passed" in page and "✗ failed" not in page and "calls find_customer_by_email" in page
    browser.open((site / "episodes" / "run1" / "retail" / "retail-001__t1.html").as_uri())
    page = browser.evaluate("document.body.innerText")
    assert "✗ failed" in page and "reward\t0.0" in page
    browser.open((site / "domains" / "retail.html").as_uri())
    assert browser.evaluate("document.querySelectorAll('#graph svg g').length") == 13  # one node per retail tool
