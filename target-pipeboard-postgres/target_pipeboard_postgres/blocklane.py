"""The block lane: input read whole lines at a time, RECORD lines encoded here or in encoder processes.

:func:`encode_block` turns each run of RECORD lines that its stream's line reader takes into one segment
``("F", stream, keys, rows)`` (rows are COPY lines or row tuples, as the sink's own reader makes them), and
hands every other line back unchanged as ``("O", lines)`` — STATE, records the reader defers, lines that are
not JSON — for the target's usual per-line handling. A message other than RECORD or STATE (SCHEMA above all)
may change the readers, so the rest of its block is handed back unchanged too.

:class:`BlockLane` reads the input, encodes blocks in encoder processes (:func:`serve`, a plain child process
compiling its readers from the same :class:`ReaderSpec` the sinks compile theirs from) and, when they are all
busy, here; it applies results strictly in input order. Every result carries the *epoch* of the readers it was
made with; a block whose epoch is no longer current when its turn comes is handled line by line instead.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import logging
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import msgspec

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

from target_pipeboard_postgres.fastread import LineReader, compile_line_reader, decode_envelope

LOGGER = logging.getLogger(__name__)

BLOCK_BYTES = 512 << 10
# Pipes to and from an encoder process hold a whole block (or its rows) where the OS allows: a writer is not
# kept waiting for a reader that needs the GIL once per 64 KiB (Linux's default pipe size).
PIPE_BYTES = 2 << 20
# Blocks each encoder process holds at once (one being encoded, the rest queued), and results held in all.
WORKER_DEPTH = 4
MAX_PENDING = 12
# The smallest block the lane reads (a small ``max_bytes`` makes smaller blocks, down to this).
MIN_BLOCK_BYTES = 4 << 10
GC_THRESHOLD = 50_000

ReaderSpec = dict[str, Any]
"""Keyword arguments of :func:`~target_pipeboard_postgres.fastread.compile_line_reader` (plain, picklable)."""

# Frames between the target and an encoder process: kind, epoch, payload length, then the payload.
_HEADER = struct.Struct("!cQQ")
_READERS, _BLOCK, _DONE, _FAILED = b"R", b"B", b"D", b"E"
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from target_pipeboard_postgres.blocklane import main; main()"
)


def encode_block(block: bytes, readers: Mapping[str, LineReader]) -> list[tuple]:
    """A block's lines as segments of taken records and runs of lines handed back, in input order.

    Args:
        block: Whole lines of input (the last one may lack its newline at the end of input).
        readers: The line reader of each stream on the fast lane.

    Returns:
        ``("F", stream, keys, rows)`` and ``("O", lines)`` items; handed-back lines keep their newline.
    """
    items: list[tuple] = []
    lines = block.split(b"\n")
    ends_with_newline = not lines[-1]
    count = len(lines) - 1 if ends_with_newline else len(lines)
    segment_stream: str | None = None
    keys: list = []
    rows: list = []
    others: list[bytes] | None = None
    decode = decode_envelope
    # The open segment's stream reads its next lines in one pass (envelope and record); None: no segment.
    read_message = None
    for index in range(count):
        line = lines[index]
        if read_message is not None and (taken := read_message(line)) is not None:
            keys.append(taken[0])
            rows.append(taken[1])
            continue
        try:
            envelope = decode(line)
        except (msgspec.DecodeError, RecursionError):  # the reader says what is wrong with the line
            envelope = None
        if envelope is not None:
            kind = envelope.type
            if kind == "RECORD":
                stream = envelope.stream
                reader = readers.get(stream)
                if reader is not None and (taken := reader(envelope, line)) is not None:
                    if stream != segment_stream:
                        segment_stream, keys, rows = stream, [], []
                        items.append(("F", stream, keys, rows))
                        others = None
                        read_message = getattr(reader, "read_message", None)
                    keys.append(taken[0])
                    rows.append(taken[1])
                    continue
            elif kind != "STATE":  # it may change the readers: the rest of the block goes back as is
                rest = [piece + b"\n" for piece in lines[index:count]]
                if not ends_with_newline:
                    rest[-1] = rest[-1][:-1]
                if others is None:
                    items.append(("O", rest))
                else:
                    others.extend(rest)
                return items
        if others is None:
            others = []
            items.append(("O", others))
            segment_stream = read_message = None
        others.append(line + b"\n" if index < len(lines) - 1 else line)
    return items


def read_blocks(
    source: BinaryIO,
    size: int = BLOCK_BYTES,
    long_bytes: int | None = None,
    on_long_line: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """Whole lines of ``source``, about ``size`` bytes at a time; a line longer than that is a block alone.

    What is already available is read without waiting for more (a pipe gives 64 KiB a read): a slow
    producer's lines are not held back until a block fills up. A long line's pieces are joined once, when
    its end comes.

    Args:
        source: Binary input.
        size: Bytes to aim for per block.
        long_bytes: A line whose bytes read so far pass this calls ``on_long_line`` (once per line).
        on_long_line: Called while such a line is being read (e.g. to free memory before it is whole).

    Yields:
        Blocks ending with a newline, except the last when the input does not end with one.
    """
    read = getattr(source, "read1", source.read)
    pending: list[bytes] = []  # pieces of a line not ended yet
    held = 0
    while True:
        chunk = read(size)
        if not chunk:
            if pending:
                yield b"".join(pending)
            return
        pieces = [chunk]
        got = len(chunk)
        while got < size and _readable_now(source):
            more = read(size - got)
            if not more:
                break
            pieces.append(more)
            got += len(more)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        del pieces
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no line ends here: all of it belongs to the line being read
            if on_long_line is not None and long_bytes is not None and held <= long_bytes < held + len(data):
                on_long_line()
            pending.append(data)
            held += len(data)
            continue
        if pending:
            if held + cut > size:  # the line begun before ends here: a long line is a block of its own
                first = data.find(b"\n") + 1
                pending.append(data[:first])
                line = b"".join(pending)
                pending = []
                yield line
                del line
                data, cut = data[first:], cut - first
            else:
                data = b"".join([*pending, data])
                cut += held
                pending = []
        rest = data[cut:]
        if cut:
            yield data if cut == len(data) else data[:cut]
        del data
        pending, held = ([rest], len(rest)) if rest else ([], 0)


def _readable_now(source: BinaryIO) -> bool:
    """Whether reading ``source`` now would not wait (always, for inputs that are not pipes or sockets)."""
    try:
        fileno = source.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    try:
        ready, _, _ = select.select([fileno], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


# --- encoder processes ---


def _write_frame(stream: BinaryIO, kind: bytes, epoch: int, payload: bytes) -> None:
    stream.write(_HEADER.pack(kind, epoch, len(payload)))
    stream.write(payload)
    stream.flush()


def _read_frame(stream: BinaryIO) -> tuple[bytes, int, bytes] | None:
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    kind, epoch, length = _HEADER.unpack(header)
    payload = _read_exactly(stream, length)
    if payload is None:
        raise EOFError("input ended inside a frame")
    return kind, epoch, payload


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    if not data:
        return None
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            raise EOFError("input ended inside a frame")
        data += more
    return data


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """An encoder process's loop: readers to install and blocks to encode in, encoded blocks out, in order.

    Args:
        requests: Frames from the target (readers, blocks); its end stops the loop.
        replies: One frame per block: the items of :func:`encode_block`, or the error that stopped it.
    """
    readers: dict[str, LineReader] = {}
    current = 0
    # Millions of short-lived objects, almost no cycles: the youngest generation is collected far less often.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        while (frame := _read_frame(requests)) is not None:
            kind, epoch, payload = frame
            if kind == _READERS:
                specs: dict[str, ReaderSpec] = pickle.loads(payload)  # noqa: S301 - from our own parent
                compiled = {stream: compile_line_reader(**spec) for stream, spec in specs.items()}
                readers = {stream: reader for stream, reader in compiled.items() if reader is not None}
                current = epoch
            elif kind == _BLOCK:
                items = encode_block(payload, readers)
                _write_frame(replies, _DONE, current, pickle.dumps(items, pickle.HIGHEST_PROTOCOL))
            else:
                raise ValueError(f"unknown frame kind {kind!r}")
    except BaseException as exc:
        _write_frame(replies, _FAILED, current, f"{type(exc).__name__}: {exc}".encode())
        raise


@dataclass
class Ticket:
    """A block sent to an encoder process, and (once done) its items."""

    block: bytes
    epoch: int
    done: threading.Event = field(default_factory=threading.Event)
    items: list[tuple] | None = None
    error: str | None = None

    def result(self) -> list[tuple]:
        """The block's items, once the process has sent them.

        Raises:
            EncoderProcessError: The process failed or ended before encoding the block.
        """
        self.done.wait()
        if self.error is not None:
            raise EncoderProcessError(self.error)
        assert self.items is not None
        return self.items


class EncoderProcessError(RuntimeError):
    """An encoder process failed: the run fails (no record of the block is kept, no STATE goes past it)."""


class EncoderProcess:
    """One child process running :func:`serve`, a thread feeding it and a thread collecting its replies.

    Frames are written by a thread of their own: the target never waits on a full pipe while the process
    is busy with the block before.
    """

    def __init__(self) -> None:
        """Start the process (it imports only msgspec and the reader modules)."""
        # This very package, whatever the child's working directory or path: its readers must be ours.
        package_parent = str(Path(__file__).resolve().parent.parent)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, package_parent],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        for pipe in (self._process.stdin, self._process.stdout):
            _enlarge(pipe.fileno())
        self._requests = self._process.stdin
        self._replies = self._process.stdout
        self._outbox: queue.SimpleQueue[tuple[bytes, int, bytes] | None] = queue.SimpleQueue()
        self._waiting: collections.deque[Ticket] = collections.deque()
        self._ended: str | None = None  # why the process can encode no more blocks
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._feed, name="pipeboard-encoder-requests", daemon=True),
            threading.Thread(target=self._collect, name="pipeboard-encoder-replies", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def in_flight(self) -> int:
        """Blocks sent and not yet answered."""
        return len(self._waiting)

    def install(self, epoch: int, specs: Mapping[str, ReaderSpec]) -> None:
        """Replace the process's readers; blocks sent from now on are encoded with them.

        Args:
            epoch: The readers' epoch (reported back with each block).
            specs: Each fast-lane stream's reader spec.
        """
        self._outbox.put((_READERS, epoch, pickle.dumps(dict(specs), pickle.HIGHEST_PROTOCOL)))

    def submit(self, block: bytes, epoch: int) -> Ticket:
        """Send a block to encode.

        Args:
            block: Whole lines of input.
            epoch: The epoch of the readers last installed.

        Returns:
            The ticket its items arrive on.
        """
        ticket = Ticket(block, epoch)
        with self._lock:
            if self._ended is None:
                self._waiting.append(ticket)
                self._outbox.put((_BLOCK, epoch, block))
                return ticket
        ticket.error = self._ended
        ticket.done.set()
        return ticket

    def _feed(self) -> None:
        try:
            while (frame := self._outbox.get()) is not None:
                _write_frame(self._requests, *frame)
        except OSError:  # the process is gone: its exit code tells more than the broken pipe
            self._fail_waiting(f"encoder process ended (exit code {self._process.wait()})")
        finally:
            with contextlib.suppress(OSError):
                self._requests.close()

    def _collect(self) -> None:
        error = None
        try:
            while (frame := _read_frame(self._replies)) is not None:
                kind, epoch, payload = frame
                with self._lock:
                    ticket = self._waiting.popleft()
                if kind == _DONE and epoch == ticket.epoch:
                    ticket.items = pickle.loads(payload)  # noqa: S301 - from our own child
                    ticket.done.set()
                    continue
                ticket.error = (
                    f"encoder process failed: {payload.decode(errors='replace')}"
                    if kind == _FAILED
                    else f"encoder process answered with readers of epoch {epoch}, not {ticket.epoch}"
                )
                ticket.done.set()
                self._fail_waiting(ticket.error)
        except Exception as exc:
            error = f"reading the encoder process's replies failed: {exc}"
        code = self._process.wait()
        self._fail_waiting(error or f"encoder process ended (exit code {code})")

    def _fail_waiting(self, error: str) -> None:
        """Fail every block waiting, and every block sent from now on."""
        with self._lock:
            self._ended = self._ended or error
            waiting, self._waiting = list(self._waiting), collections.deque()
        for ticket in waiting:
            ticket.error = error
            ticket.done.set()

    def close(self) -> None:
        """Let the process finish (its input ends) and wait for it."""
        self._outbox.put(None)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for thread in self._threads:
            thread.join(timeout=30)
        self._replies.close()

    def kill(self) -> None:
        """Stop the process now (the run is failing)."""
        self._process.kill()
        self.close()


def _enlarge(fileno: int) -> None:
    """Make a pipe hold up to ``PIPE_BYTES`` (less when the OS caps it; nothing where it cannot)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is None:
        return
    for size in (PIPE_BYTES, 1 << 20):
        try:
            fcntl.fcntl(fileno, set_size, size)
        except OSError:
            continue
        return


# --- the target's side ---


class LaneHost(Protocol):
    """What the block lane needs from the target."""

    def line_readers(self) -> dict[str, tuple[LineReader, ReaderSpec]]:
        """Each fast-lane stream's reader and the spec it was compiled from."""

    def readers_may_have_changed(self) -> bool:
        """Whether a message handled since the last call may have changed :meth:`line_readers`."""

    def take_segment(self, stream: str, keys: list, rows: list) -> None:
        """Put a segment's rows into the stream's batch(es), as the per-record fast lane would one by one."""

    def make_room(self) -> None:
        """Write every batch and wait for its commit (before a line longer than the lane's bound)."""


@dataclass
class _Local:
    """A block encoded here."""

    block: bytes
    epoch: int
    items: list[tuple]

    def result(self) -> list[tuple]:
        return self.items

    @property
    def done(self) -> threading.Event:
        return _SET


_SET = threading.Event()
_SET.set()


class BlockLane:
    """Reads input a block at a time; blocks are encoded in encoder processes or here, applied in order.

    Encoder processes start once ``start_after_bytes`` of input have been read (a small input never pays
    for one); with none, every block is encoded here.

    Memory is bounded by ``max_bytes``: the input blocks read and not yet handed over (queued, in an encoder
    process or encoded and waiting for their turn) never add up to more (``peak_held`` is the most they did).
    Blocks are an eighth of it (at most ``BLOCK_BYTES``); a block longer than two blocks (a long line at its
    end) is encoded here, not framed to a process; a line longer than ``max_bytes`` is handled alone, after
    every block before it and every batch is written (:meth:`LaneHost.make_room`), as the per-line lane does.
    """

    def __init__(
        self,
        host: LaneHost,
        process_line: Callable[[bytes], None],
        processes: int,
        start_after_bytes: int,
        max_bytes: int = MAX_PENDING * BLOCK_BYTES,
    ) -> None:
        """Prepare (no process starts yet).

        Args:
            host: The target (readers, segments).
            process_line: Handles one line the usual way (per-line fast lane or the SDK's path).
            processes: Encoder processes to use (0: every block is encoded here).
            start_after_bytes: Input read before the processes start.
            max_bytes: Input the lane may hold at once (blocks read and not yet handed over).
        """
        self.host = host
        self.process_line = process_line
        self.processes = processes
        self.start_after_bytes = start_after_bytes
        self.max_bytes = max_bytes
        self.block_bytes = min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, max_bytes // 8))
        self.workers: list[EncoderProcess] = []
        self.epoch = 0
        self.readers: dict[str, LineReader] = {}
        self.specs: dict[str, ReaderSpec] = {}
        self.encoded_elsewhere = 0
        self.encoded_here = 0
        self.long_lines = 0  # lines longer than max_bytes, handled alone
        self.records_taken = 0  # records handed over in segments
        # Where the line being handled is: lines and bytes of input before its block, its index in it.
        self._lines_before = 0
        self._bytes_before = 0
        self._block = b""
        self._line_in_block = 0
        self.held = 0  # bytes of the blocks in ``_pending``
        self.peak_held = 0
        self._pending: collections.deque[Ticket | _Local] = collections.deque()

    def position(self) -> tuple[int, int]:
        """The number (from 1) of the input line being handled, and the byte offset of its start.

        Returns:
            (line number, byte offset in the input).
        """
        block, at = self._block, 0
        for _ in range(self._line_in_block):
            at = block.find(b"\n", at) + 1
        return self._lines_before + self._line_in_block + 1, self._bytes_before + at

    def run(self, source: BinaryIO) -> None:
        """Read ``source`` to its end, handing every line and segment to the host in input order.

        Args:
            source: Binary Singer input.
        """
        pending = self._pending
        block_bytes = self.block_bytes
        blocks: Iterator[bytes] | None = read_blocks(source, block_bytes, self.max_bytes, self._make_room)
        small = block_bytes // 8  # blocks below this are encoded here (see below)
        largest_frame = 2 * block_bytes  # larger blocks are encoded here too
        read_so_far = 0
        self._refresh()
        try:
            while True:
                while pending and pending[0].done.is_set():
                    self._apply_next()
                waiting_on_input = pending and not _readable_now(source)
                full = len(pending) >= MAX_PENDING or self.held + block_bytes > self.max_bytes
                if blocks is None or waiting_on_input or (pending and full):
                    if not pending:
                        break
                    self._apply_next()
                    continue
                block = next(blocks, None)
                if block is None:
                    blocks = None
                    continue
                read_so_far += len(block)
                if len(block) > self.max_bytes:  # one line, longer than the lane may hold
                    self._long_line(block)
                    del block
                    continue
                while pending and self.held + len(block) > self.max_bytes:
                    self._apply_next()
                if not self.workers and self.processes and read_so_far > self.start_after_bytes:
                    self._start_workers()
                worker = min(self.workers, key=lambda w: w.in_flight, default=None)
                # A small block (a slow producer's few lines) costs less to encode here than to send.
                if (
                    worker is not None
                    and worker.in_flight < WORKER_DEPTH
                    and small <= len(block) <= largest_frame
                ):
                    pending.append(worker.submit(block, self.epoch))
                    self.encoded_elsewhere += 1
                else:
                    pending.append(_Local(block, self.epoch, encode_block(block, self.readers)))
                    self.encoded_here += 1
                self.held += len(block)
                self.peak_held = max(self.peak_held, self.held)
                del block
        except BaseException:
            for worker in self.workers:
                worker.kill()
            self.workers = []
            raise
        for worker in self.workers:
            worker.close()
        self.workers = []

    def _apply_next(self) -> None:
        entry = self._pending.popleft()
        self.held -= len(entry.block)
        self._apply(entry)

    def _make_room(self) -> None:
        """Hand over every block read, then have every batch written and committed."""
        while self._pending:
            self._apply_next()
        self.host.make_room()

    def _long_line(self, line: bytes) -> None:
        """A line longer than ``max_bytes``: alone, once everything before it is committed, line by line."""
        self._make_room()
        self.long_lines += 1
        self._block, self._line_in_block = line, 0  # where position() says the line is
        self.process_line(line)
        self._lines_before += 1
        self._bytes_before += len(line)
        self._block = b""
        self._refresh()

    def _start_workers(self) -> None:
        try:
            for _ in range(self.processes):
                self.workers.append(EncoderProcess())
        except OSError as exc:
            LOGGER.warning("Could not start an encoder process (%s): encoding records in this one", exc)
            for worker in self.workers:
                worker.kill()
            self.workers = []
            self.processes = 0
            return
        for worker in self.workers:
            worker.install(self.epoch, self.specs)

    def _apply(self, entry: Ticket | _Local) -> None:
        process_line = self.process_line
        self._block, self._line_in_block = entry.block, 0
        if entry.epoch != self.epoch:  # readers changed since: encode the block again, line by line
            for line in _lines(entry.block):
                process_line(line)
                self._line_in_block += 1
                self._refresh()
        else:
            for item in entry.result():
                if item[0] == "F":
                    self.host.take_segment(item[1], item[2], item[3])
                    self.records_taken += len(item[3])
                    self._line_in_block += len(item[3])
                else:
                    for line in item[1]:
                        process_line(line)
                        self._line_in_block += 1
                        self._refresh()
        self._lines_before += self._line_in_block
        self._bytes_before += len(entry.block)

    def _refresh(self) -> None:
        """Start a new epoch when the host's readers changed (encoder processes get the new readers)."""
        if not self.host.readers_may_have_changed():
            return
        current = self.host.line_readers()
        specs = {stream: spec for stream, (_, spec) in current.items()}
        if specs == self.specs:
            return
        self.epoch += 1
        self.specs = specs
        self.readers = {stream: reader for stream, (reader, _) in current.items()}
        for worker in self.workers:
            worker.install(self.epoch, specs)


def _lines(block: bytes) -> list[bytes]:
    """A block's lines as iterating a binary file gives them (split at newlines only, newlines kept)."""
    pieces = block.split(b"\n")
    lines = [piece + b"\n" for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def main() -> None:
    """An encoder process: :func:`serve` over standard input and output (print() goes to standard error).

    Stop signals are the target's to handle (a Ctrl-C reaches the whole process group): this process ends
    when its input does, or when the target kills it.
    """
    for signum in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)):
        if signum is not None:
            signal.signal(signum, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever writes to standard output from now on (even C code) goes to standard error
    try:
        serve(sys.stdin.buffer, replies)
    except BaseException:
        sys.exit(1)
    finally:  # closed on the way out (no ResourceWarning at exit); a parent gone already is no news
        with contextlib.suppress(OSError):
            replies.close()


if __name__ == "__main__":
    main()
