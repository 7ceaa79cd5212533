"""How a run that cannot go on ends: one line saying what is wrong and what to do, exit code 1, no traceback.

Every mistake a user can make — a wrong or revoked token, an account Pipedrive refuses, an unreachable host,
a missing or malformed setting, a config file that is not JSON — reaches the command line as a
``PipedriveError`` or a ``ConfigValidationError`` whose message is that line. Nothing here prints the token.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from singer_sdk.exceptions import ConfigValidationError

from tap_pipedrive.errors import PipedriveError, SettingsError

NAME = "tap-pipedrive"


def outcome_of_partial_run(records_read: int) -> str:
    """What a failed sync leaves behind, for the end of its last line.

    Args:
        records_read: Records this run read before it failed.

    Returns:
        That nothing was synced, or that the STATE written so far lets the next run resume.
    """
    if not records_read:
        return "nothing was synced in this run"
    return (
        f"{records_read} records were read before it stopped; the STATE written so far is consistent, so the "
        "next run resumes from it"
    )


def read_config_files(paths: Sequence[str]) -> None:
    """Check that each ``--config`` file exists and holds a JSON object.

    Args:
        paths: The ``--config`` values (``ENV`` means environment variables and is skipped).

    Raises:
        SettingsError: A file is missing, unreadable or not a JSON object (the message names the file).
    """
    for given in paths:
        if given == "ENV":
            continue
        try:
            text = Path(given).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(
                f"Cannot read the config file {given} ({exc.strerror or exc}) — pass an existing JSON file "
                "to --config"
            ) from None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise SettingsError(
                f"The config file {given} is not valid JSON ({exc.msg} at line {exc.lineno} column "
                f"{exc.colno}) — it must be one JSON object of settings"
            ) from None
        if not isinstance(value, dict):
            raise SettingsError(
                f"The config file {given} must hold one JSON object of settings, not a {type(value).__name__}"
            )


@contextlib.contextmanager
def one_line_errors(logger: logging.Logger) -> Iterator[None]:
    """Turn a failed run into one ERROR line and exit code 1 (no traceback).

    Args:
        logger: The tap's logger.

    Raises:
        SystemExit: With code 1, after logging the line.
    """
    try:
        yield
    except ConfigValidationError as exc:
        problems = list(exc.errors or []) or [str(exc)]
        logger.error("Invalid %s settings: %s", NAME, "; ".join(problems))
        raise SystemExit(1) from None
    except PipedriveError as exc:
        logger.error("%s", exc)  # the line is the whole report
        raise SystemExit(1) from None
