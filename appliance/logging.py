"""Loguru set-up: one sink, stdlib logging (uvicorn's included) routed into it."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from loguru import logger

from appliance.auth.redact import redact

FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | "
    "<cyan>{extra[request_id]}</cyan> | {name}:{line} - <level>{message}</level>"
)


class InterceptHandler(logging.Handler):
    """Hands stdlib log records to loguru, keeping their level and origin."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = logging.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame, depth = frame.f_back, depth + 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


# loguru level -> syslog priority, as journald stores it
PRIORITY = {
    "TRACE": 7,
    "DEBUG": 7,
    "INFO": 6,
    "SUCCESS": 5,
    "WARNING": 4,
    "ERROR": 3,
    "CRITICAL": 2,
}
JOURNAL_FIELDS = {
    "request_id": "REQUEST_ID",
    "camera": "CAMERA",
    "model": "MODEL",
    "event": "EVENT",
    # audit lines (auth/audit.py) and the access log
    "client": "CLIENT_ADDRESS",
    "token_id": "TOKEN_ID",
    "user": "USER_NAME",
    "outcome": "OUTCOME",
    "reason": "REASON",
    "target": "TARGET",
}


def journal_fields(record: dict[str, Any]) -> dict[str, str]:
    """Structured journald fields of a loguru record: priority, code location, our ids."""
    fields = {
        "PRIORITY": str(PRIORITY.get(record["level"].name, 6)),
        "CODE_FILE": str(record["file"].path),
        "CODE_LINE": str(record["line"]),
        "CODE_FUNC": str(record["function"]),
        "SYSLOG_IDENTIFIER": "appliance",
    }
    for key, field in JOURNAL_FIELDS.items():
        value = record["extra"].get(key)
        if value not in (None, "-"):
            fields[field] = str(value)
    return fields


def _prefixed(record: dict[str, Any]) -> str:
    """stderr under systemd without systemd-python: journald reads a "<N>" priority prefix."""
    priority = PRIORITY.get(record["level"].name, 6)
    return f"<{priority}>{{extra[request_id]}} {{name}}:{{line}} - {{message}}\n{{exception}}"


def _journal_sink() -> Callable[[Any], None] | None:
    """A sink writing to journald with structured fields, if systemd-python is installed."""
    try:
        from systemd import journal  # type: ignore[import-not-found]  # optional extra
    except ImportError:
        return None

    def sink(message: Any) -> None:
        record = message.record
        text = record["message"]
        if record["exception"] is not None:
            text += "\n" + "".join(traceback.format_exception(*record["exception"]))
        journal.send(text, **journal_fields(record))

    return sink


def _redacted(record: Any) -> None:
    record["message"] = redact(record["message"])


def setup_logging(level: str = "INFO") -> None:
    """Called once by the CLI; library code only ever uses `loguru.logger`. Under systemd
    (JOURNAL_STREAM set) records go to journald with their priority and fields."""
    logger.remove()
    logger.configure(extra={"request_id": "-"}, patcher=_redacted)
    under_systemd = bool(os.environ.get("JOURNAL_STREAM"))
    journal = _journal_sink() if under_systemd else None
    if journal is not None:
        logger.add(journal, level=level, format="{message}", backtrace=False, diagnose=False)
    elif under_systemd:
        logger.add(sys.stderr, level=level, format=_prefixed, colorize=False, diagnose=False)
    else:
        logger.add(sys.stderr, level=level, format=FORMAT, backtrace=False, diagnose=False)
    # The same threshold for stdlib records: at 0 every library builds records loguru then
    # drops, and uvicorn, seeing its logger at TRACE, wraps the app in MessageLoggerMiddleware,
    # which logs each ASGI message (a tenth of the event loop's time per detect request).
    logging.basicConfig(handlers=[InterceptHandler()], level=logger.level(level).no, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi"):
        std = logging.getLogger(name)
        std.handlers, std.propagate = [], True


def setup_cli_audit() -> None:
    """For the token and user commands: their audit lines also go to journald when
    systemd-python is installed, beside the service's (they change what the running service
    accepts); the stderr handler loguru starts with shows them on the terminal."""
    journal = _journal_sink()
    if journal is not None:
        logger.add(journal, level="INFO", format="{message}", filter=_only_audit)


def _only_audit(record: Any) -> bool:
    return record["extra"].get("audit") is True
