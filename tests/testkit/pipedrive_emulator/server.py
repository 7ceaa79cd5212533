"""The emulator's HTTP server: auth, rate limits, faults, routing and the request log around the dataset."""

from __future__ import annotations

import copy
import json
import logging
import secrets
import socket
import struct
import threading
import time
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipedrive_emulator import movements, mutations
from pipedrive_emulator.data import Dataset, generate
from pipedrive_emulator.errors import ApiError, error_envelope
from pipedrive_emulator.faults import Fault, FaultInjector, FaultProfile, resolve_profile
from pipedrive_emulator.gating import Gates, refusal
from pipedrive_emulator.listindex import ListIndex
from pipedrive_emulator.ratelimit import RateLimiter
from pipedrive_emulator.requestlog import RequestLog, RequestRecord
from pipedrive_emulator.routes import Request, api_version_and_path, build_routes, match_route
from pipedrive_emulator.validation import AUTH_PARAM, validate_query

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator/"
UNAUTHORIZED = "unauthorized access"
RATE_LIMITED = "Request over limit"
DAILY_EXHAUSTED = "Daily API token budget exhausted"


class Emulator:
    """A Pipedrive API emulator served over HTTP on 127.0.0.1.

    Args:
        deals: Dataset size (every other entity scales from it).
        seed: Dataset and fault seed.
        plan: lite, growth, premium or ultimate (burst limit and daily multiplier).
        seats: Seats, scaling the daily token budget.
        rate_limits: Enforce the limits with 429s (headers are sent either way).
        faults: None, a profile name (``flaky``, ``slow``, ``down``) or a FaultProfile.
        token: The valid API token; a random 40-hex one when None.
        port: Port to bind; 0 picks a free one.
        retry_after: Add ``Retry-After`` to 429 answers (Pipedrive does not document it; off by default).
        list_deleted: List soft-deleted persons, organizations, activities, products, pipelines, stages and
            inactive notes (with their deletion mark) instead of leaving them out (REFERENCE.md §11 q1).
        purge_after_days: Age of a soft deletion at which deals, persons, organizations, activities and
            products are erased for good (Pipedrive: 30 days); ``mutate`` applies it as the clock moves.
        gates: Path template → 402/403 for endpoints this account may not use, on top of its plan's
            (``gating.PLAN_GATES``).
    """

    def __init__(
        self,
        deals: int = 200,
        seed: int = 7,
        plan: str = "ultimate",
        seats: int = 5,
        rate_limits: bool = False,
        faults: str | FaultProfile | None = None,
        token: str | None = None,
        port: int = 0,
        retry_after: bool = False,
        list_deleted: bool = False,
        purge_after_days: float = 30.0,
        gates: dict[str, int] | None = None,
    ) -> None:
        self.token = token or secrets.token_hex(20)
        self.retry_after = retry_after
        self.lock = threading.RLock()
        self.dataset: Dataset = generate(deals, seed=seed)
        # Paging views of the dataset: whatever changes the dataset must call ``self.index.invalidate()``.
        self.index = ListIndex()
        self.set_deleted_behaviour(list_deleted=list_deleted, purge_after_days=purge_after_days)
        self.limiter = RateLimiter(plan, seats, enforce=rate_limits)
        self.gates = Gates(self.limiter.plan, gates)
        self.faults = FaultInjector(resolve_profile(faults), seed)
        self.log = RequestLog()
        self.routes = build_routes()
        self.stopping = threading.Event()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        """Bind 127.0.0.1 and serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("Emulator already started")
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.emulator = self
        self._server = server
        self.stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="pipedrive-emulator", daemon=True
        )
        self._thread.start()
        logger.info("Pipedrive emulator serving at %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port (stalled ``slow`` answers are cut short)."""
        if self._server is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` — the tap's ``api_url``."""
        if self._server is None:
            raise RuntimeError("Emulator not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ----------------------------------------------------------------------------------------- ground truth

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Every record of ``entity`` (incl. deleted and archived), ordered by id, as copies."""
        with self.lock:
            rows = list(self.dataset.records[entity].values())
            return copy.deepcopy(sorted(rows, key=lambda r: (isinstance(r["id"], str), r["id"])))

    def fields(self, entity: str) -> list[dict[str, Any]]:
        """The field metadata of ``entity`` (``deal``, ``person``… v2 items; ``lead``, ``note`` v1 items)."""
        with self.lock:
            return copy.deepcopy(self.dataset.fields[entity])

    def changelog(self, deal_id: int) -> list[dict[str, Any]]:
        """Every change of a deal as ``/v1/deals/{id}/changelog`` lists it, oldest first (the API pages them
        newest first)."""
        with self.lock:
            return [change.as_api() for change in self.dataset.changelogs.of(self.dataset, deal_id)]

    def stage_visits(self, deal_id: int | None = None) -> list[dict[str, Any]]:
        """Ground-truth stage visits of one deal or of all (see ``pipedrive_emulator.movements``)."""
        with self.lock:
            return movements.stage_visits(self.dataset, deal_id)

    def movement_statistics(
        self, pipeline_id: int, start_date: date, end_date: date, user_id: int | None = None
    ) -> dict[str, Any]:
        """What ``/v1/pipelines/{id}/movement_statistics`` answers (its ``data``), without a request."""
        with self.lock:
            return movements.movement_statistics(self.dataset, pipeline_id, start_date, end_date, user_id)

    # ----------------------------------------------------------------------------------------- controls

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every API request so far (admin requests excluded), oldest first."""
        return self.log.snapshot()

    def clear_log(self) -> None:
        """Forget the logged requests."""
        self.log.clear()

    def mutate(self, **changes: Any) -> dict[str, Any]:
        """Change the dataset between runs (see ``mutations.mutate``); returns its summary."""
        with self.lock:
            try:
                return mutations.mutate(self.dataset, **changes)
            finally:
                self.index.invalidate()

    def set_faults(self, profile: str | FaultProfile | None) -> None:
        """Switch the fault profile (None turns faults off)."""
        self.faults.set_profile(resolve_profile(profile))

    def set_plan(self, plan: str, seats: int | None = None) -> None:
        """Switch the Pipedrive plan (and seats; unchanged when None); its gates follow."""
        self.limiter.set_plan(plan, self.limiter.seats if seats is None else seats)
        self.gates.set_plan(self.limiter.plan)

    def set_gates(self, gates: dict[str, int]) -> None:
        """Refuse these endpoints (path template → 402 or 403) on top of the plan's; ``{}`` lifts them."""
        self.gates.set_extra(gates)

    def set_deleted_behaviour(
        self, *, list_deleted: bool | None = None, purge_after_days: float | None = None
    ) -> None:
        """Whether lists show soft-deleted records, and after how many days deleted records are purged.

        Raises:
            ValueError: A negative purge age.
        """
        with self.lock:
            if purge_after_days is not None:
                if purge_after_days < 0:
                    raise ValueError(f"purge_after_days must be >= 0, got {purge_after_days}")
                self.dataset.purge_after_days = float(purge_after_days)
            if list_deleted is not None:
                self.dataset.list_deleted = bool(list_deleted)
            self.index.invalidate()

    def set_rate_limits(self, enabled: bool) -> None:
        """Enforce the limits with 429s, or only report them in headers."""
        self.limiter.enforce = enabled

    def spend_daily_tokens(self, tokens: int) -> None:
        """Count ``tokens`` as spent today (to reach the daily budget without thousands of requests)."""
        self.limiter.spend(tokens)

    def reset_daily_budget(self) -> None:
        """Start a new day: the whole daily token budget is available again."""
        self.limiter.reset_daily()

    # ----------------------------------------------------------------------------------------- serving

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> _Answer:
        """Decide the answer to one API GET: auth, rate limit, fault, validation, handler."""
        located = api_version_and_path(path)
        found = match_route(self.routes, *located) if located else None
        supplied = headers.get("x-api-token") or (query.get(AUTH_PARAM) or [None])[0]
        if supplied is None or not secrets.compare_digest(supplied.encode(), self.token.encode()):
            return _Answer(401, error_envelope(UNAUTHORIZED), self.limiter.peek())
        gated = self.gates.status(path)
        if gated is not None:
            return _Answer(gated, refusal(gated), self.limiter.peek())
        if found is None:
            return _Answer(
                404, error_envelope("Unknown method .", "Object was not found."), self.limiter.peek()
            )
        route, path_params = found
        decision = self.limiter.charge(route.operation.token_cost)
        headers_out = dict(decision.headers)
        if not decision.allowed:
            message = DAILY_EXHAUSTED if decision.reason == "daily" else RATE_LIMITED
            if self.retry_after:
                headers_out["retry-after"] = str(decision.retry_after_s)
            return _Answer(429, error_envelope(message), headers_out, decision.charged)
        query_key = "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k != AUTH_PARAM)
        fault = self.faults.draw(f"{path}?{query_key}")
        if fault is not None and fault.kind not in ("slow", "truncated"):
            return self._fault_answer(fault, headers_out, decision.charged)
        if fault is not None and self.stopping.wait(fault.delay_s):
            return _Answer(
                503, error_envelope("Service is shutting down"), headers_out, decision.charged, None, "slow"
            )
        params = {k: v for k, v in query.items() if k != AUTH_PARAM}
        try:
            parsed = validate_query(route.operation, params)
            with self.lock:
                body = route.handler(self.dataset, Request(route.operation, parsed, path_params, self.index))
                payload = _encode(body)
        except ApiError as exc:
            return _Answer(
                exc.status, exc.envelope(), headers_out, decision.charged, None, fault and fault.kind
            )
        delivery = fault.kind if fault is not None and fault.kind == "truncated" else None
        return _Answer(200, payload, headers_out, decision.charged, delivery, fault and fault.kind)

    def _fault_answer(self, fault: Fault, headers: dict[str, str], charged: int) -> _Answer:
        if fault.kind == "429":
            headers = {**headers, "x-ratelimit-remaining": "0"}
            if self.retry_after:
                headers["retry-after"] = "2"
            return _Answer(429, error_envelope(RATE_LIMITED), headers, charged, None, fault.kind)
        if fault.kind in ("500", "502", "503"):
            message = error_envelope(HTTPStatus(int(fault.kind)).phrase)
            return _Answer(int(fault.kind), message, headers, charged, None, fault.kind)
        return _Answer(200, None, headers, charged, fault=fault.kind)


def _encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


class _Answer:
    """What to send: status, body (a JSON-ready value or encoded bytes), headers, tokens charged, the delivery
    fault (``reset``, ``empty``, ``truncated``) and the injected fault kind for the log."""

    __slots__ = ("body", "charged", "fault", "headers", "injected", "status")

    def __init__(
        self,
        status: int,
        body: dict[str, Any] | bytes | None,
        headers: dict[str, str],
        charged: int = 0,
        fault: str | None = None,
        injected: str | None = None,
    ) -> None:
        self.status = status
        self.injected = injected or fault
        self.body = body
        self.headers = headers
        self.charged = charged
        self.fault = fault


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait for delayed ACKs
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the request log records requests without the token)."""

    def do_GET(self) -> None:
        """Serve an API or admin GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """Serve an admin POST (the API itself is read-only here)."""
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        from pipedrive_emulator.admin import handle_admin

        started, at = time.perf_counter(), time.time()
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        emulator = self.server.emulator
        if url.path.startswith(ADMIN_PREFIX):
            status, body = handle_admin(emulator, method, url.path[len(ADMIN_PREFIX) :], self._read_body())
            self._send_json(status, body, {})
            return
        self._read_body()
        if method != "GET":
            answer = _Answer(405, error_envelope("Method not allowed"), emulator.limiter.peek())
        else:
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                answer = emulator.answer(url.path, query, headers)
            except Exception:  # a bug in the emulator must still answer, and say so
                logger.exception("Emulator failed to answer GET %s", url.path)
                answer = _Answer(500, error_envelope("Internal emulator error"), emulator.limiter.peek())
        # Logged before the answer goes out, so a client that has its answer always finds it in the log.
        status = 0 if answer.fault == "reset" else answer.status
        params = {k: ",".join(v) for k, v in query.items() if k != AUTH_PARAM}
        duration = round(time.perf_counter() - started, 6)
        record = RequestRecord(
            method, url.path, params, status, answer.charged, duration, at, answer.injected
        )
        emulator.log.append(record)
        self._deliver(answer)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _deliver(self, answer: _Answer) -> None:
        if answer.fault == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif answer.fault == "empty":
            self._send_bytes(200, b"", answer.headers)
        elif answer.fault == "truncated":
            # The real page cut in half: Content-Length matches what is sent, the JSON does not parse.
            full = answer.body if isinstance(answer.body, bytes) else _encode(answer.body)
            self._send_bytes(200, full[: len(full) // 2], answer.headers)
        else:
            self._send_json(answer.status, answer.body, answer.headers)

    def _send_json(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self._send_bytes(status, body if isinstance(body, bytes) else _encode(body), headers)

    def _send_bytes(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
