"""Input lines the target cannot read as a Singer message, and how each is described.

The one place deciding it for every lane: a fast lane that cannot read a line hands it back to the reader
(:class:`~target_pipeboard_postgres.target.FastSingerReader`), which parses it with :func:`parse_line`. A
line is *unreadable* when it is not valid UTF-8 (raw surrogates included), not JSON, nested more deeply than
the interpreter can follow, not a JSON object with a ``type``, or holds a lone surrogate escape (``\\ud800``:
no character, so neither UTF-8 nor PostgreSQL can hold it). Blank lines are not messages: they are skipped.
"""

from __future__ import annotations

import decimal
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from target_pipeboard_postgres.copy import unstorable

_STREAM = re.compile(rb'"stream"\s*:\s*"((?:[^"\\]|\\.)*)"')
TOO_DEEP = (
    f"is nested too deeply to read (arrays or objects more than about {sys.getrecursionlimit()} levels deep)"
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass
class UnreadableLine(Exception):  # noqa: N818 - a line, not an error of the target's
    """A line that is not a Singer message the target can read.

    Attributes:
        reason: What is wrong, e.g. ``is not valid UTF-8 (byte 0xff)``.
        position: Byte position of the problem in the line (0-based), when known.
        message: The parsed message, when the line is JSON (a record holding a lone surrogate).
        field: The record's field holding the problem, when known.
    """

    reason: str
    position: int | None = None
    message: dict | None = None
    field: str | None = None

    def __str__(self) -> str:
        return self.reason


_decode = msgspec.json.Decoder(float_hook=decimal.Decimal).decode


def parse_line(line: bytes | str, fallback: Callable[[str], Any] | None = None) -> dict:
    """The Singer message a line holds.

    msgspec reads it (UTF-8 checked, lone surrogate escapes refused); a line it refuses is read again by
    ``json.loads`` (its leniencies: ``NaN``, ``Infinity``) from strictly decoded UTF-8, and then must hold no
    lone surrogate.

    Args:
        line: One input line (not blank).
        fallback: The parser for lines msgspec refuses (default: ``json.loads`` with exact decimals).

    Returns:
        The message (a dict with a ``type``).

    Raises:
        UnreadableLine: The line is not a message the target can read; says what and where.
    """
    try:
        message = _decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        message = _lenient(line, fallback or _json_loads)
    if not isinstance(message, dict) or "type" not in message:
        raise UnreadableLine('is JSON but not a Singer message (an object with a "type")', message=None)
    return message


def _json_loads(text: str) -> Any:
    return json.loads(text, parse_float=decimal.Decimal)


def _lenient(line: bytes | str, fallback: Callable[[str], Any]) -> Any:
    if isinstance(line, bytes):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = line[exc.start : exc.end]
            raise UnreadableLine(
                f"is not valid UTF-8 ({exc.reason}: byte {bad[:4].hex(' ')} at position {exc.start} of "
                "the line)",
                position=exc.start,
            ) from None
    else:
        text = line
    try:
        message = fallback(text)
    except RecursionError:
        raise UnreadableLine(TOO_DEEP) from None
    except ValueError as exc:
        position = getattr(exc, "pos", None)
        at = None if position is None else len(text[:position].encode("utf-8", "surrogatepass"))
        where = "" if at is None else f" at position {at} of the line"
        detail = getattr(exc, "msg", None) or str(exc)
        raise UnreadableLine(f"is not JSON ({detail}{where})", position=at) from None
    record = message.get("record") if isinstance(message, dict) else None
    try:
        where = unstorable(record if isinstance(record, dict) else message)
    except RecursionError:
        where = None
    if where is not None:
        found = _lone_surrogate_escape(text)
        at = None if found is None else len(text[:found].encode("utf-8", "surrogatepass"))
        field = None
        if isinstance(record, dict):  # said of the field's value, as a value that does not fit is
            for name, value in record.items():
                if unstorable(name) is not None:
                    field = name
                    where = f"the property name {name!r}" + str(unstorable(name)).removeprefix("the text")
                    break
                if (inside := unstorable(value)) is not None:
                    field, where = name, inside
                    break
        raise UnreadableLine(
            f"{where}{'' if at is None else f' at position {at} of the line'}: no character, so neither "
            "UTF-8 nor PostgreSQL can hold it",
            position=at,
            message=message if isinstance(message, dict) else None,
            field=field,
        )
    return message


def _lone_surrogate_escape(text: str) -> int | None:
    """Where the first ``\\uD800``-``\\uDFFF`` escape that is not half of a pair starts in JSON text."""
    at = 0
    while (found := _SURROGATE_ESCAPE.search(text, at)) is not None:
        start, at = found.start(), found.end()
        backslashes = len(text[:start]) - len(text[:start].rstrip("\\"))
        if backslashes % 2:  # an escaped backslash, then the text "u…"
            continue
        if int(found.group()[2:], 16) < 0xDC00:
            low = _SURROGATE_ESCAPE.match(text, at)
            if low is not None and int(low.group()[2:], 16) >= 0xDC00:
                at = low.end()  # a pair: one character
                continue
        return start
    return None


def stream_named(line: bytes | str) -> str | None:
    """The stream a line names (``"stream": "…"``), read as well as an unreadable line allows.

    Args:
        line: The line.

    Returns:
        The stream's name, or None.
    """
    data = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    found = _STREAM.search(data)
    if found is None:
        return None
    raw = found.group(1)
    try:
        return json.loads(b'"' + raw + b'"')
    except ValueError:
        return raw.decode("utf-8", "backslashreplace")


def line_bytes(line: bytes | str) -> bytes:
    """The line's bytes as the input held them (a text line as UTF-8), without its line end."""
    data = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    return data.rstrip(b"\r\n")
