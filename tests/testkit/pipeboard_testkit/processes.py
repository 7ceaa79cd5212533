"""Plugins run as users run them (their own process, fed through standard input), and waits with deadlines."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


class TargetProcess:
    """``target-pipeboard-postgres`` run as a user runs it: its own process, fed through standard input.

    Standard output (STATE lines) and standard error (the log) are read by threads as they come, so a test
    can wait for a line, for a STATE, or for the exit — each with a deadline, never a sleep.
    """

    def __init__(self, config: dict[str, Any], tmp_path: Path, input_path: Path | None = None) -> None:
        config_path = tmp_path / f"config-{uuid.uuid4().hex[:8]}.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        executable = Path(sys.executable).parent / "target-pipeboard-postgres"
        stdin = input_path.open("rb") if input_path is not None else subprocess.PIPE
        self.process = subprocess.Popen(
            [str(executable), "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if input_path is not None:
            stdin.close()
        self.states: list[dict] = []
        self.log: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.states, True), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.log, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, into: list, is_state: bool) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._changed:
                into.append(json.loads(line) if is_state else line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def send(self, messages: list[dict]) -> None:
        """Write messages to the target's standard input."""
        assert self.process.stdin is not None
        self.process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        self.process.stdin.flush()

    def close_input(self) -> None:
        """End the input (the target then finishes the run)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds (checked whenever a line comes) or the process has exited."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.process.poll() is not None and not any(r.is_alive() for r in self._readers)
                ):
                    return condition()
                self._changed.wait(min(remaining, 0.5))
        return True

    def wait_for_log(self, pattern: str, timeout: float = 60) -> str | None:
        """The first log line matching ``pattern`` (a regex), once it comes; None if it does not in time."""
        regex = re.compile(pattern)

        def found() -> bool:
            return any(regex.search(line) for line in self.log)

        if not self.wait_for(found, timeout):
            return None
        return next(line for line in self.log if regex.search(line))

    def wait(self, timeout: float = 120) -> int | None:
        """The exit code, once the process ends within ``timeout`` seconds (None if it does not)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for reader in self._readers:
            reader.join(timeout=30)
        return code

    def signal(self, signum: int) -> None:
        """Send a signal to the target."""
        self.process.send_signal(signum)

    def kill(self) -> None:
        """Kill the target if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    @property
    def stderr(self) -> str:
        """The log so far."""
        return "\n".join(self.log)


def wait_until(condition: Callable[[], Any], timeout: float = 60, every: float = 0.05) -> Any:
    """Poll ``condition`` (e.g. a catalog query) until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not met within {timeout} s: {getattr(condition, '__name__', condition)}"
            )
        time.sleep(every)
