"""The Engine protocol every inference backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

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
