"""Loguru set-up: one sink, stdlib logging (uvicorn's included) routed into it."""

from __future__ import annotations

import logging
import sys

from loguru import logger

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


def setup_logging(level: str = "INFO") -> None:
    """Called once by the CLI; library code only ever uses `loguru.logger`."""
    logger.remove()
    logger.configure(extra={"request_id": "-"})
    logger.add(
        sys.stderr, level=level, format=FORMAT, colorize=None, backtrace=False, diagnose=False
    )
    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi"):
        std = logging.getLogger(name)
        std.handlers, std.propagate = [], True
