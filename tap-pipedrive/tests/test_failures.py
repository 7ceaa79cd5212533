"""Every mistake a user can make ends in one line: the tap run by hand, against real servers.

Each case runs ``tap-pipedrive --config …`` (sync or ``--discover``) and asserts the last line's text, exit
code 1, that it is the only ERROR line, no traceback, and that neither the configured token nor the
emulator's appears anywhere in the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pipeboard_testkit.clusters import free_port
from pipeboard_testkit.stand_ins import RefusingApi
from tap_pipedrive.client import PipedriveClient
from tap_pipedrive.errors import AccountRefused, CircuitOpen
from tap_pipedrive.tap import TapPipedrive

TAP = Path(sys.executable).parent / "tap-pipedrive"
FAST = {"retry_backoff_seconds": 0.01, "retry_backoff_max_seconds": 0.02}
TOKEN_LINE = "Pipedrive rejected the API token (HTTP 401) — check PIPEDRIVE_API_TOKEN / `api_token`"
WRONG_TOKEN = "0123456789abcdef0123456789abcdef01234567"


def run_tap(tmp_path: Path, config: dict[str, Any] | str, *args: str) -> subprocess.CompletedProcess[str]:
    """The tap's command line with this config (a dict, or the file's raw text)."""
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return subprocess.run(
        [str(TAP), "--config", str(path), *args], capture_output=True, text=True, timeout=180, check=False
    )


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str, secrets: list[str]) -> str:
    """Exit 1, the last line is the only ERROR line and ends with ``expected``; no traceback, no secret."""
    output = result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert [line for line in lines if "| ERROR" in line] == [lines[-1]], output
    assert lines[-1].endswith(expected), lines[-1]
    assert '"type":"RECORD"' not in result.stdout.replace(" ", "")
    for secret in secrets:
        assert secret not in output
    return lines[-1]


@pytest.mark.parametrize("mode", [[], ["--discover"]], ids=["sync", "discover"])
def test_a_wrong_token_says_pipedrive_rejected_it(
    tmp_path: Path, make_emulator: Callable[..., Any], mode: list[str]
) -> None:
    emulator = make_emulator(deals=10)

    result = run_tap(tmp_path, {"api_token": WRONG_TOKEN, "api_url": emulator.base_url}, *mode)

    assert_one_line(result, TOKEN_LINE, [WRONG_TOKEN, emulator.token])
    assert [r.status for r in emulator.request_log] == [401], "a rejected token is not retried"


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            402,
            "Company account is not open",
            "Pipedrive refused the company account (HTTP 402: Company account is not open) — the account "
            "is not open (trial expired or payment missing); check its subscription in Pipedrive, or use a "
            "token of an active company in PIPEDRIVE_API_TOKEN / `api_token`",
        ),
        (
            403,
            "Forbidden",
            "Pipedrive refused access to the account (HTTP 403: Forbidden) — the token's user may not use "
            "the API, or the account is blocked; check the user's permissions in Pipedrive, or use another "
            "token in PIPEDRIVE_API_TOKEN / `api_token`",
        ),
    ],
    ids=["402", "403"],
)
@pytest.mark.parametrize("mode", [[], ["--discover"]], ids=["sync", "discover"])
def test_a_refused_account_says_so_in_one_line(
    tmp_path: Path,
    refusing_api: Callable[[int, str], RefusingApi],
    status: int,
    error: str,
    expected: str,
    mode: list[str],
) -> None:
    server = refusing_api(status, error)

    result = run_tap(tmp_path, {"api_token": WRONG_TOKEN, "api_url": server.base_url, **FAST}, *mode)

    assert_one_line(result, expected, [WRONG_TOKEN])
    # The first refusal is checked against /users/me, which every plan and user may read: refused too, the
    # account is refused and the run ends there.
    assert len(server.paths) == 2, server.paths
    assert server.paths[-1].startswith("/api/v1/users/me"), server.paths


def test_every_endpoint_refused_after_cached_metadata_is_the_account_not_the_plan() -> None:
    client = PipedriveClient({"api_token": WRONG_TOKEN, "api_url": "http://127.0.0.1:9"}, TapPipedrive.logger)
    client.refused = {"/api/v1/users": 402, "/api/v2/deals": 402}

    with pytest.raises(AccountRefused, match=r"^Pipedrive refused the company account \(HTTP 402\)"):
        client.check_account()
    client.guard.answered = 1
    client.check_account()  # something was answered: those endpoints are outside the plan, the run goes on


def test_no_server_on_the_port_names_the_host_and_gives_up_when_the_breaker_opens(tmp_path: Path) -> None:
    port = free_port()
    config = {"api_token": WRONG_TOKEN, "api_url": f"http://127.0.0.1:{port}", **FAST}

    result = run_tap(tmp_path, config)

    assert_one_line(
        result,
        f"Could not reach Pipedrive at 127.0.0.1:{port} (connection refused; 5 failed attempts in a row, "
        "then the circuit breaker stopped) — check `api_url` / `company_domain` and this machine's network "
        "or proxy settings",
        [WRONG_TOKEN],
    )
    counted = [
        line.split("(attempt ", 1)[1].split(")")[0]
        for line in result.stderr.splitlines()
        if "Retrying" in line
    ]
    assert counted == ["2 of 5", "3 of 5", "4 of 5", "5 of 5"], "the counter agrees with when the run stops"
    assert "resumes" not in result.stderr


def test_a_host_that_does_not_resolve_gives_up_when_the_retries_run_out(tmp_path: Path) -> None:
    config = {"api_token": WRONG_TOKEN, "api_url": "https://pipeboard-test.invalid", "max_retries": 1, **FAST}

    result = run_tap(tmp_path, config, "--discover")

    assert_one_line(
        result,
        "Could not reach Pipedrive at pipeboard-test.invalid:443 (DNS lookup failed; 2 attempts on "
        "/api/v2/organizationFields) — check `api_url` / `company_domain` and this machine's network or "
        "proxy settings",
        [WRONG_TOKEN],
    )
    assert "(attempt 2 of 2)" in result.stderr


def test_tls_to_a_server_that_does_not_speak_it_names_the_host(
    tmp_path: Path, make_emulator: Callable[..., Any]
) -> None:
    emulator = make_emulator(deals=10)
    tls_url = emulator.base_url.replace("http://", "https://")
    host = tls_url.removeprefix("https://")

    result = run_tap(tmp_path, {"api_token": emulator.token, "api_url": tls_url, "max_retries": 1, **FAST})

    assert_one_line(
        result,
        f"Could not reach Pipedrive at {host} (TLS handshake failed; 2 attempts on "
        "/api/v2/organizationFields) — check `api_url` / `company_domain` and this machine's network or "
        "proxy settings",
        [],
    )
    assert emulator.token not in result.stderr + result.stdout


def test_a_run_that_fails_after_reading_says_the_next_one_resumes_from_its_state(
    make_emulator: Callable[..., Any],
    tap_config: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture,
) -> None:
    emulator = make_emulator(deals=40, seed=4)
    answer = emulator.answer

    def down_from_the_deals(path: str, query: dict, headers: dict) -> Any:
        if path == "/api/v2/deals":
            emulator.set_faults("down")
        return answer(path, query, headers)

    emulator.answer = down_from_the_deals
    tap = TapPipedrive(config=tap_config(emulator, breaker_failures=2, **FAST))

    with pytest.raises(CircuitOpen) as raised:
        tap.sync_all()

    read = tap.client.records_read
    assert read > 0
    assert str(raised.value).endswith(
        f"; {read} records were read before it stopped; the STATE written so far is consistent, so the next "
        "run resumes from it"
    )
    assert '"type":"STATE"' in capsys.readouterr().out.replace(" ", "")


def test_a_run_that_fails_before_reading_anything_promises_no_resume(
    make_emulator: Callable[..., Any], tap_config: Callable[..., dict[str, Any]]
) -> None:
    emulator = make_emulator(deals=10)
    tap = TapPipedrive(config=tap_config(emulator, breaker_failures=2, **FAST))  # discovery reads the fields
    emulator.set_faults("down")

    with pytest.raises(CircuitOpen) as raised:
        tap.sync_all()

    assert str(raised.value).endswith("; nothing was synced in this run")


@pytest.mark.parametrize("mode", [[], ["--discover"]], ids=["sync", "discover"])
def test_without_a_token_discovery_and_sync_say_the_same(tmp_path: Path, mode: list[str]) -> None:
    result = run_tap(tmp_path, {"api_url": "http://127.0.0.1:9"}, *mode)

    assert_one_line(result, "Invalid tap-pipedrive settings: 'api_token' is a required property", [])


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {"page_size": "abc"}, "page_size must be a whole number from 1 to 500 (got 'abc')", id="type"
        ),
        pytest.param(
            {"page_size": 900}, "page_size must be a whole number from 1 to 500 (got 900)", id="range"
        ),
        pytest.param(
            {"token_budget_share": 0},
            "token_budget_share must be a number above 0 and at most 1 (got 0)",
            id="share",
        ),
        pytest.param(
            {"max_retries": -1}, "max_retries must be a whole number of at least 0 (got -1)", id="retries"
        ),
        pytest.param(
            {"api_url": "ftp://x"}, "api_url must start with http:// or https:// (got 'ftp://x')", id="url"
        ),
        pytest.param({"api_token": 12345}, "api_token must be text", id="token-not-echoed"),
    ],
)
@pytest.mark.parametrize("mode", [[], ["--discover"]], ids=["sync", "discover"])
def test_a_setting_of_the_wrong_type_or_out_of_range_names_what_it_may_be(
    tmp_path: Path, settings: dict[str, Any], expected: str, mode: list[str]
) -> None:
    config = {"api_token": WRONG_TOKEN, "api_url": "http://127.0.0.1:9", **settings}

    result = run_tap(tmp_path, config, *mode)

    assert_one_line(result, f"Invalid tap-pipedrive settings: {expected}", [WRONG_TOKEN, "12345"])


def test_a_config_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    text = '{"api_token": "%s",}' % WRONG_TOKEN  # noqa: UP031 — a trailing comma, as people write it

    result = run_tap(tmp_path, text)

    assert_one_line(
        result,
        f"The config file {tmp_path / 'config.json'} is not valid JSON (Expecting property name enclosed in "
        "double quotes at line 1 column 58) — it must be one JSON object of settings",
        [WRONG_TOKEN],
    )
