"""Stand-ins for servers a test needs to misbehave in one precise way (real HTTP on loopback, not mocks)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Refusing(BaseHTTPRequestHandler):
    """Answers every request with the server's status and Pipedrive's error envelope."""

    server: RefusingApi

    def do_GET(self) -> None:
        self.server.paths.append(self.path.split("?", 1)[0])
        body = json.dumps(
            {"success": False, "error": self.server.error, "error_info": None, "data": None}
        ).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class RefusingApi(ThreadingHTTPServer):
    """A Pipedrive stand-in refusing every request with one status (a whole account refused, say 402).

    Attributes:
        status: The HTTP status of every answer.
        error: Pipedrive's ``error`` text in the envelope.
        paths: The path of every request received.
    """

    def __init__(self, status: int, error: str) -> None:
        super().__init__(("127.0.0.1", 0), _Refusing)
        self.status = status
        self.error = error
        self.paths: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()
