"""Every action shows that it runs and how it ended; errors carry the API's own message."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from nicegui import ui
from pydantic import ValidationError

from appliance.errors import ApplianceError

T = TypeVar("T")


def error_message(exc: Exception) -> str:
    """The text a user should read: the service's message, or each invalid field."""
    if isinstance(exc, ApplianceError):
        return exc.message
    if isinstance(exc, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        ]
        return "; ".join(problems)
    return f"unexpected error: {exc!r}"


async def run_action(
    work: Awaitable[T], *, busy: str, done: str | None = None
) -> tuple[bool, T | None]:
    """Await `work` behind a spinner notification; (True, result) or (False, None) after
    telling the user why it failed. Never raises for errors the user can act on."""
    with ui.context.client.layout:  # not inside a dialog the action may delete
        note = ui.notification(busy, spinner=True, timeout=None)
    try:
        result = await work
    except (ApplianceError, ValidationError) as exc:
        note.dismiss()
        ui.notify(error_message(exc), type="negative", multi_line=True, close_button=True)
        return False, None
    except Exception as exc:  # a bug: still say so on screen instead of a silent button
        note.dismiss()
        ui.notify(error_message(exc), type="negative", multi_line=True, close_button=True)
        raise
    note.dismiss()
    if done:
        ui.notify(done, type="positive")
    return True, result
