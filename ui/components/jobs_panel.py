"""Engine builds on the Models page: each job's state and progress, live, with cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import ui

from appliance.auth.audit import Actor, audited_call
from appliance.services.jobs import JobService
from ui.feedback import run_action

STATE_COLORS = {
    "queued": "grey",
    "running": "info",
    "succeeded": "positive",
    "failed": "negative",
    "cancelled": "warning",
}
BUILDS = {  # kind -> (menu text, precision)
    "onnxruntime": ("Optimise for this machine (ONNX Runtime)", "fp32"),
    "openvino": ("Build INT8 from this model's cameras (OpenVINO)", "int8"),
    "tensorrt": ("Build a TensorRT engine (FP16)", "fp16"),
}


async def submit_build(jobs: JobService, model: str, kind: str, actor: Actor) -> None:
    """Queue a build; the panel shows it from then on."""
    text, precision = BUILDS[kind]
    submit = asyncio.to_thread(jobs.submit, model, kind, precision)
    work = audited_call("job.submit", actor, submit, target=model, kind=kind)
    await run_action(work, busy=f"Queuing: {text}", done=f"Build of {model} queued")


class JobsPanel:
    def __init__(
        self, jobs: JobService, may_cancel: Callable[[], bool], actor: Callable[[], Actor]
    ) -> None:
        self._jobs = jobs
        self._may_cancel = may_cancel  # asked (and may say why not) at each click
        self._actor = actor  # who clicked, for the audit line
        self._shown: list[tuple] = []
        with ui.card().classes("w-full").mark("jobs"):
            ui.label("Engine builds").classes("font-medium")
            self.body = ui.column().classes("w-full gap-2")
        self.update()
        ui.timer(1.0, self.update)

    def update(self) -> None:
        jobs = sorted(self._jobs.list(), key=lambda job: job.created, reverse=True)[:10]
        signature = [(j.id, j.state, j.progress, j.message) for j in jobs]
        if signature == self._shown:
            return
        self._shown = signature
        self.body.clear()
        with self.body:
            if not jobs:
                ui.label(
                    "No builds yet. A model's Build menu makes an engine tuned for this device; "
                    "serving goes on while it builds."
                ).classes("text-sm text-gray-500")
            for job in jobs:
                self._row(job)

    def _row(self, job) -> None:
        state = job.state.value
        with ui.row().classes("w-full items-center gap-3").mark(f"job-{job.id}"):
            ui.label(f"{job.model} · {job.kind} {job.precision}").classes("w-72 truncate")
            ui.badge(state, color=STATE_COLORS.get(state, "grey")).mark(f"job-state-{job.id}")
            ui.linear_progress(value=job.progress, show_value=False).classes("flex-1 min-w-24")
            detail = job.error or job.message
            agreement = job.result.get("agreement") if job.result else None
            if agreement and not job.error:  # an INT8 build: how well it matches the original
                detail = f"{detail}, agrees with the original at F1 {agreement['f1']}"
            if job.seconds is not None:
                detail = f"{detail} ({job.seconds:.1f} s)"
            ui.label(detail).classes("text-sm text-gray-500 flex-1 truncate")
            if not job.state.finished:
                ui.button(icon="close", on_click=lambda j=job.id: self._cancel(j)).props(
                    "flat round dense"
                ).tooltip("Cancel").mark(f"job-cancel-{job.id}")

    async def _cancel(self, job_id: str) -> None:
        if not self._may_cancel():
            return
        cancel = asyncio.to_thread(self._jobs.cancel, job_id)
        work = audited_call("job.cancel", self._actor(), cancel, target=job_id)
        await run_action(work, busy="Cancelling", done="Cancel requested")
        self.update()
