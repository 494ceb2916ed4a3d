"""The Engine protocol every inference backend implements, and the base of their config models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

Dim = int | str | None  # a fixed size, or a symbolic/unknown (dynamic) one


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    shape: tuple[Dim, ...]
    dtype: str

    @property
    def dynamic_batch(self) -> bool:
        return bool(self.shape) and not isinstance(self.shape[0], int)


@runtime_checkable
class Engine(Protocol):
    """A loaded model ready to run. Implementations own their buffers and threads.

    `infer` may be called from any thread, one call at a time per engine; it takes a
    batch shaped like `inputs[0]` and returns one array per output.
    """

    backend: str
    device: str
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    metadata: Mapping[str, str]

    def infer(self, batch: np.ndarray) -> list[np.ndarray]: ...

    def close(self) -> None: ...


class EngineConfigBase(BaseModel):
    """Base of every engine type's config model (each adds a `type` literal): frozen, and
    unknown keys refused, so a typo in a saved config fails when read, not at model load."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EngineFactory(Protocol):
    """What the registry asks of an engine class: open `source` as its config says.

    `source` is a model file for local engines, a URI for remote ones; `metadata` is what
    the artifact itself lacks (a TensorRT engine's labels, copied from its ONNX model)."""

    def open(
        self, source: Path | str, config: Any, metadata: Mapping[str, str] | None
    ) -> Engine: ...
