"""What Telegram and Discord share: texts (``texts``), the one button table and its encoding
(``actions``, ``codes``), the ``ChatTurn`` each platform implements (``turn``) and the flows
that run through it (``flows``, ``account``). The platform packages keep only transport,
markup and their turn (docs/decisions/0021-chat-kernel.md)."""

from __future__ import annotations

from stationthis.platforms.chat.texts import (
    alternative_lines,
    cancelled_text,
    dataset_lines,
    error_text,
    eta_seconds,
    failed_text,
    fmt_delta,
    fmt_number,
    fmt_seconds,
    history_line,
    history_text,
    model_ready_text,
    models_text,
    progress_text,
    queued_text,
    result_text,
    short_of_points,
    status_line,
    status_text,
)

__all__ = [
    "alternative_lines", "cancelled_text", "dataset_lines", "error_text", "eta_seconds",
    "failed_text", "fmt_delta", "fmt_number", "fmt_seconds", "history_line", "history_text",
    "model_ready_text", "models_text", "progress_text", "queued_text", "result_text",
    "short_of_points", "status_line", "status_text",
]
