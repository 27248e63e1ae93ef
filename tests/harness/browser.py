"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read commands from fd 3 and write answers and events
to fd 4, NUL-delimited JSON, so no websocket library and no browser download are needed. One
`Browser` per test: its own profile directory (a fresh cookie jar), killed with its process
group on `close()`, at interpreter exit, and when the harness dies. Only loopback is reachable
from it: every other host name fails at once (the UI's web fonts), so nothing leaves the machine.
"""

import atexit
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .procs import _die_with_parent, kill_group

_OPEN: "set[Browser]" = set()


class BrowserMissing(RuntimeError):
    """No `chromium` on PATH: install Debian's package (`apt-get install chromium`)."""


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise BrowserMissing("the Web UI tests need headless Chromium: apt-get install chromium (make test does, as root)")
    return path


class Browser:
    def __init__(self, log_path: Path):
        self.log_path = Path(log_path)
        self.profile = Path(tempfile.mkdtemp(prefix="trino-router-chromium-"))
        self._popen: Optional[subprocess.Popen] = None
        self._to_browser = self._from_browser = -1
        self._buffer = b""
        self._next_id = 0
        self.events: List[dict] = []

    def start(self, timeout: float = 30.0) -> "Browser":
        commands_read, self._to_browser = os.pipe()
        self._from_browser, answers_write = os.pipe()

        def in_child() -> None:
            _die_with_parent()
            # Chromium's pipe is fds 3 (commands) and 4 (answers); dup first, in case one already is.
            commands, answers = os.dup(commands_read), os.dup(answers_write)
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        argv = [chromium_path(), "--headless", "--no-sandbox", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "about:blank"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True, pass_fds=(3, 4), preexec_fn=in_child)
        os.close(commands_read)
        os.close(answers_write)
        _OPEN.add(self)
        self.call("Browser.getVersion", timeout=timeout)
        return self

    def call(self, method: str, params: Optional[dict] = None, session: Optional[str] = None,
             timeout: float = 20.0) -> dict:
        """Sends one command and returns its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: Dict = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for answer in self._drain():
                if answer.get("id") == message["id"]:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
                self.events.append(answer)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Chromium did not answer {method} within {timeout}s; see {self.log_path}")
            self._read(min(left, 0.5))

    def open(self, url: str) -> "Tab":
        """A new tab on `url` (returns once the navigation is committed; wait for what you need)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        tab = Tab(self, session, target)
        self.call("Network.enable", session=session)
        tab.go(url)
        return tab

    def close(self) -> None:
        if self._popen is not None:
            try:
                self.call("Browser.close", timeout=5)
                self._popen.wait(timeout=5)
            except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
                pass
            kill_group(self._popen)
            self._popen = None
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                os.close(fd)
        self._to_browser = self._from_browser = -1
        shutil.rmtree(self.profile, ignore_errors=True)
        _OPEN.discard(self)

    def _read(self, wait: float) -> None:
        ready, _, _ = select.select([self._from_browser], [], [], wait)
        if ready:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited; see {self.log_path}")
            self._buffer += chunk

    def _drain(self) -> List[dict]:
        messages = []
        while b"\0" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\0", 1)
            messages.append(json.loads(raw))
        return messages

    def __enter__(self) -> "Browser":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class Tab:
    def __init__(self, browser: Browser, session: str, target: str):
        self.browser = browser
        self.session = session
        self.target = target

    def close(self) -> None:
        """Closes the tab, which stops whatever its page still polls."""
        self.browser.call("Target.closeTarget", {"targetId": self.target})

    def go(self, url: str) -> None:
        answer = self.browser.call("Page.navigate", {"url": url}, session=self.session)
        if answer.get("errorText"):
            raise RuntimeError(f"navigating to {url}: {answer['errorText']}")

    def evaluate(self, expression: str):
        answer = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=self.session)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, what: str):
        """Evaluates `expression` until it is truthy (a page may be mid-navigation: errors retry)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
                if last:
                    return last
            except RuntimeError as e:
                last = str(e)
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r}, at {self.location()})")

    def location(self) -> str:
        try:
            return self.evaluate("document.location.href")
        except RuntimeError as e:
            return f"? ({e})"

    def requested(self, predicate: Callable[[str], bool] = lambda url: True) -> List[str]:
        """URLs this tab requested so far (Network.requestWillBeSent)."""
        return [e["params"]["request"]["url"] for e in self.browser.events
                if e.get("sessionId") == self.session and e.get("method") == "Network.requestWillBeSent"
                and predicate(e["params"]["request"]["url"])]


@atexit.register
def _close_leftovers() -> None:
    for browser in list(_OPEN):
        browser.close()
