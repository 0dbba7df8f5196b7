"""The one error the API answers with: `{"error": {"status", "message", ...}}`.

    ApiError          an HTTP status, a message for the caller, maybe the parameter or
                      config field it is about, and response headers (Retry-After)

Database refusals, bad parameters and bad tokens all become one; nothing else
reaches a client (server.py turns any other exception into a bare 500).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from sidecar.errors import SidecarError


@dataclass
class ApiError(SidecarError):
    status: int
    message: str
    parameter: str | None = None
    field: str | None = None
    headers: dict[str, str] = dataclass_field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.parameter:
            error["parameter"] = self.parameter
        if self.field:
            error["field"] = self.field
        return {"error": error}

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


def bad_parameter(name: str, message: str) -> ApiError:
    return ApiError(400, f"{name}: {message}", parameter=name)
