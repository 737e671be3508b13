"""Domain errors. Each has a stable ``code`` and a message a user can read as it is."""

from __future__ import annotations

from typing import Any


class StationError(Exception):
    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(StationError):
    code = "not_found"


class Forbidden(StationError):
    code = "forbidden"


class InvalidInput(StationError):
    code = "invalid_input"


class InvalidImage(InvalidInput):
    code = "invalid_image"


class InsufficientPoints(StationError):
    code = "insufficient_points"


class TooManyJobs(StationError):
    code = "too_many_jobs"


class Conflict(StationError):
    code = "conflict"


class Unsupported(Conflict):
    """The configured engine lacks an optional ability (see ``core.engine.Capability``)."""

    code = "not_supported"


class EngineFailed(StationError):
    code = "engine_failed"


class RunLost(EngineFailed):
    """The engine no longer knows a run (e.g. it restarted): the work is lost."""

    code = "run_lost"
