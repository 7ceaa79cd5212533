"""Stop signals: SIGTERM or SIGINT ends the run where it is, with STATE no further than committed rows.

The singer-sdk's own handler drains the sinks and writes the latest STATE from inside the signal handler —
while a batch may still be in flight — and then exits 0. This one instead cancels what the database is
doing for the target and raises :class:`StopRequested` in the main thread, which unwinds reading and
draining; the target then exits ``128 + signal`` (143 for SIGTERM, 130 for SIGINT). A second signal exits
at once.

A signal that arrives just before the main thread enters a blocking read would wait for that read to
return: Python runs handlers between bytecodes. So reads of a pipe go through :class:`StopAwareInput`, which
waits for the input *or* the signal's wake-up byte, and threads of the target's own never take the signals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import stat
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

LOGGER = logging.getLogger(__name__)

STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name)
)


def block_stop_signals() -> None:
    """Keep the stop signals off the calling thread (they go to the main thread, which handles them)."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopRequested(BaseException):
    """Raised in the main thread by a stop signal (a BaseException: no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        """Remember the signal.

        Args:
            signum: The signal received.
        """
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


class Stopped(Exception):  # noqa: N818 - says what happened, like StopRequested
    """Work on the loader's thread abandoned (its transaction rolled back) because the run is stopping."""


class StopSignals:
    """Handlers for SIGTERM and SIGINT in the main thread, and the previous ones to put back.

    Args:
        on_stop: Called (in the main thread) with the signal number when the first signal arrives, before
            :class:`StopRequested` is raised: it cancels what the database is doing for the target.
    """

    def __init__(self, on_stop: Callable[[int], None]) -> None:
        self.on_stop = on_stop
        self.received: int | None = None
        # Raise StopRequested at the signal (while reading and loading); False once the run is finishing
        # or failing anyway: the signal then only cuts short what the database is doing.
        self.raising = True
        self._previous: dict[int, Any] = {}
        self._previous_wakeup: int | None = None
        self._wakeup: tuple[int, int] | None = None  # the pipe the C-level handler writes a byte to

    @property
    def installed(self) -> bool:
        """Whether the handlers are in place and wake waiting reads."""
        return bool(self._previous) and self._wakeup is not None

    def install(self, *, wake_reads: bool = False) -> None:
        """Install the handlers (only the main thread can; elsewhere this does nothing).

        Args:
            wake_reads: Also have a signal write a wake-up byte for :meth:`wait_readable` (while a run reads).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        if not self._previous:
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        if wake_reads and self._wakeup is None:
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            os.set_blocking(write_end, False)
            self._wakeup = (read_end, write_end)
            self._previous_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def restore(self) -> None:
        """Put back the handlers found at :meth:`install`."""
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_wakeup if self._previous_wakeup is not None else -1)
            for fd in self._wakeup:
                os.close(fd)
            self._wakeup = None

    def wait_readable(self, fd: int) -> None:
        """Block until ``fd`` has input; a stop signal ends the wait (its handler runs, and raises).

        Args:
            fd: A pipe, socket or terminal.
        """
        while True:
            wakeup = self._wakeup
            watched = [fd] if wakeup is None else [fd, wakeup[0]]
            ready, _, _ = select.select(watched, [], [])
            if fd in ready:
                return
            if wakeup is not None:  # a signal came: its handler runs before the loop goes round again
                with contextlib.suppress(BlockingIOError, OSError):
                    while os.read(wakeup[0], 512):
                        pass

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            LOGGER.warning("Second stop signal (%s): exiting now", signal_name(signum))
            os._exit(128 + signum)
        self.received = signum
        LOGGER.warning(
            "Received %s: stopping; nothing more is committed and STATE stays at the last committed batch",
            signal_name(signum),
        )
        self.on_stop(signum)
        if self.raising:
            raise StopRequested(signum)


class StopAwareInput:
    """A pipe read so that a stop signal always ends a read that waits (see the module's note).

    Reads go to the file descriptor itself (no buffer of its own: whether data waits is what ``select``
    says). Offers what the block lane reads with: ``read1``, ``read`` and ``fileno``.

    Args:
        fd: The input's file descriptor.
        signals: The installed stop signals.
    """

    def __init__(self, fd: int, signals: StopSignals) -> None:
        self._fd = fd
        self._signals = signals

    @staticmethod
    def wanted(source: Any, signals: StopSignals) -> bool:
        """Whether reading ``source`` may wait (a pipe, socket or terminal) and stop signals are installed."""
        if not signals.installed:
            return False
        try:
            mode = os.fstat(source.fileno()).st_mode
        except (AttributeError, OSError, ValueError):
            return False
        return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)

    def fileno(self) -> int:
        """The input's file descriptor."""
        return self._fd

    def read1(self, size: int = -1) -> bytes:
        """What the input has now (at most ``size`` bytes), waiting for some if it has none."""
        self._signals.wait_readable(self._fd)
        return os.read(self._fd, size if size > 0 else 1 << 16)

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes (fewer at the end of input); everything left when ``size`` is negative."""
        pieces: list[bytes] = []
        held = 0
        while size < 0 or held < size:
            piece = self.read1(size - held if size > 0 else 1 << 16)
            if not piece:
                break
            pieces.append(piece)
            held += len(piece)
        return b"".join(pieces)
