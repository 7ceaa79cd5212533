"""Pipedrive's error envelope and the exception that carries one out of a request handler."""

from __future__ import annotations

from typing import Any

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


class ApiError(Exception):
    """An API answer other than 200, raised by handlers and turned into Pipedrive's error envelope.

    Args:
        status: The HTTP status code.
        message: The envelope's ``error`` text.
        error_info: The envelope's ``error_info`` hint.
    """

    def __init__(self, status: int, message: str, error_info: str = ERROR_INFO) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_info = error_info

    def envelope(self) -> dict[str, Any]:
        """Return the JSON body Pipedrive sends with this error."""
        return error_envelope(self.message, self.error_info)


def error_envelope(message: str, error_info: str = ERROR_INFO) -> dict[str, Any]:
    """Build ``{"success": false, "error", "error_info", "data": null, "additional_data": null}``."""
    return {
        "success": False,
        "error": message,
        "error_info": error_info,
        "data": None,
        "additional_data": None,
    }


def bad_request(message: str) -> ApiError:
    """A 400 with Pipedrive's standard hint."""
    return ApiError(400, message)
