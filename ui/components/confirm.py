"""A yes/no question in a dialog at page level (what asked may be rebuilt meanwhile)."""

from __future__ import annotations

from nicegui import ui


async def confirm(question: str, action: str = "Delete", marker: str = "confirm-delete") -> bool:
    """True when the user chose `action`, False for Cancel or a click beside the dialog."""
    with ui.context.client.layout, ui.dialog() as dialog, ui.card():
        ui.label(question)
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat")
            ui.button(action, color="negative", on_click=lambda: dialog.submit(True)).mark(marker)
    try:
        return bool(await dialog)
    finally:
        dialog.delete()
