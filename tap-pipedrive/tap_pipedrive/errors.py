"""The tap's exceptions: what a failed Pipedrive call means for the run (retry, skip, stop, fail)."""

from __future__ import annotations


class PipedriveError(Exception):
    """Base of every error the tap raises about the Pipedrive API."""


def _describe(status: int, path: str, error: str | None, error_info: str | None) -> str:
    message = f"Pipedrive answered HTTP {status} on {path}"
    if error:
        message += f": {error}"
    if error_info:
        message += f" ({error_info})"
    return message


class PipedriveAnswerError(PipedriveError):
    """An HTTP answer that ends this request: carries the status, the path and Pipedrive's own words.

    Args:
        status: HTTP status code.
        path: URL path of the request (never the query string).
        error: Pipedrive's ``error`` text, if the body carried one.
        error_info: Pipedrive's ``error_info`` hint, if any.
    """

    def __init__(
        self, status: int, path: str, error: str | None = None, error_info: str | None = None
    ) -> None:
        super().__init__(_describe(status, path, error, error_info))
        self.status = status
        self.path = path
        self.error = error
        self.error_info = error_info


class PipedriveAPIError(PipedriveAnswerError):
    """A non-retriable answer (400, 401, 405, 410, 415, 422…): the request itself is wrong."""


TOKEN_SETTING = "PIPEDRIVE_API_TOKEN / `api_token`"  # noqa: S105 — the setting's name, not a token
"""How the user sets the token: the project's variable, and the tap's own setting."""


class TokenRejected(PipedriveAPIError):  # noqa: N818 — reads as what happened
    """A 401: Pipedrive does not accept the API token (wrong, revoked, or of a deactivated user)."""

    def __init__(self, path: str, error: str | None = None, error_info: str | None = None) -> None:
        super().__init__(401, path, error, error_info)
        self.args = (f"Pipedrive rejected the API token (HTTP 401) — check {TOKEN_SETTING}",)


class AccountRefused(PipedriveAnswerError):  # noqa: N818 — reads as what happened
    """A 402 or 403 on the whole account: every endpoint, or one every plan includes, was refused.

    Not an endpoint outside the plan (that is :class:`EndpointNotInPlan`, and the stream is skipped): the
    token is valid but the company account or the token's user may not use the API at all.
    """

    def __init__(
        self, status: int, path: str, error: str | None = None, error_info: str | None = None
    ) -> None:
        super().__init__(status, path, error, error_info)
        said = f": {error}" if error else ""
        if status == 402:
            message = (
                f"Pipedrive refused the company account (HTTP 402{said}) — the account is not open (trial "
                "expired or payment missing); check its subscription in Pipedrive, or use a token of an "
                f"active company in {TOKEN_SETTING}"
            )
        else:
            message = (
                f"Pipedrive refused access to the account (HTTP {status}{said}) — the token's user may not "
                "use the API, or the account is blocked; check the user's permissions in Pipedrive, or use "
                f"another token in {TOKEN_SETTING}"
            )
        self.args = (message,)


class EndpointNotInPlan(PipedriveAnswerError):  # noqa: N818 — name fixed by the tap's interface
    """A 402, 403 or 404: the company's plan or permissions do not include this endpoint.

    The caller logs it once and skips the stream.
    """


class BudgetExhausted(PipedriveError):  # noqa: N818 — name fixed by the tap's interface
    """This run's share of the daily token budget is spent, or the company's whole budget is (429, 0 left).

    The run stops cleanly; its last STATE lets the next run resume.
    """


class CircuitOpen(PipedriveError):  # noqa: N818 — name fixed by the tap's interface
    """The circuit breaker is open: the API failed too many times in a row, so the run stops fast."""


class PipedriveUnreachable(PipedriveError):  # noqa: N818 — reads as what happened
    """No answer from Pipedrive (DNS, refused connection, TLS, timeouts); the message names the host."""


class SettingsError(PipedriveError):
    """A setting or config file the tap cannot use; the message names it and what it may be."""


class RetriesExhausted(PipedriveError):  # noqa: N818 — name fixed by the tap's interface
    """A retriable failure persisted beyond ``max_retries``; the last failure is the ``__cause__``."""


class TransientError(PipedriveError):
    """One failed attempt worth retrying (429, 5xx, timeout, connection error, bad body).

    Raised inside the retry loop only; callers of ``ApiGuard.send`` see RetriesExhausted, CircuitOpen or
    BudgetExhausted instead.

    Args:
        reason: Short low-cardinality label for metrics: ``rate_limited``, ``server_error``, ``timeout``,
            ``connection_error``, ``empty_body``, ``invalid_json``, ``unsuccessful``.
        message: What happened, naming the path (never the token or a query string).
        wait_hint: Seconds the server asked us to wait (``Retry-After``, ``x-ratelimit-reset``), 0 if none.
        unreached: For a failure before any answer (``timeout``, ``connection_error``): ``host:port`` and what
            stopped it, e.g. ``("api.pipedrive.com:443", "DNS lookup failed")``.
    """

    def __init__(
        self, reason: str, message: str, wait_hint: float = 0.0, unreached: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.wait_hint = wait_hint
        self.unreached = unreached
