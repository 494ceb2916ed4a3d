"""The engine types this appliance knows, and the one way to open an engine: `open_engine`.

An engine type is one module of appliance.engines holding its config model (frozen, with a
`type` literal) and its engine class (with `open`, see base.EngineFactory). Registering one
is one line in ENGINE_TYPES. The modules are imported here to build `EngineConfig`; they are
light, and import their backend (onnxruntime, openvino, tensorrt + pycuda, tritonclient)
only when an engine is opened, so importing this registry loads none of them.
"""

from __future__ import annotations

import functools
import importlib
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from appliance.engines.base import Engine, EngineConfigBase, EngineFactory
from appliance.errors import ModelLoadError, UnsupportedModelError


@dataclass(frozen=True)
class EngineType:
    """One kind of engine: its module under appliance.engines, the names of its config model
    and engine class there, and the model-file suffixes it opens when a file says which."""

    name: str
    module: str
    config: str
    engine: str
    suffixes: tuple[str, ...] = ()

    @property
    def config_model(self) -> type[EngineConfigBase]:
        model: type[EngineConfigBase] = getattr(self._module(), self.config)
        return model

    @property
    def engine_class(self) -> EngineFactory:
        factory: EngineFactory = getattr(self._module(), self.engine)
        return factory

    def _module(self) -> ModuleType:
        return importlib.import_module(f"{__package__}.{self.module}")


ENGINE_TYPES: tuple[EngineType, ...] = (
    EngineType("onnxruntime", "onnxruntime", "OnnxRuntimeConfig", "OnnxRuntimeEngine", (".onnx",)),
    EngineType("openvino", "openvino", "OpenVinoConfig", "OpenVinoEngine", (".xml",)),
    EngineType("tensorrt", "tensorrt", "TensorRTConfig", "TensorRTEngine", (".engine", ".plan")),
    EngineType("remote", "remote", "RemoteConfig", "RemoteEngine"),
)
_BY_NAME: dict[str, EngineType] = {entry.name: entry for entry in ENGINE_TYPES}

# Built from the table so that a new type is one line above; pydantic picks the model by `type`.
EngineConfig = Annotated[
    functools.reduce(operator.or_, (entry.config_model for entry in ENGINE_TYPES)),
    Field(discriminator="type"),
]
_ENGINE_CONFIG: TypeAdapter[EngineConfigBase] = TypeAdapter(EngineConfig)


def engine_type(name: str) -> EngineType:
    """The registered engine type called `name`, or UnsupportedModelError naming the known."""
    entry = _BY_NAME.get(name)
    if entry is None:
        known = ", ".join(_BY_NAME)
        raise UnsupportedModelError(f"no engine type {name!r} is registered; known: {known}")
    return entry


def parse_engine_config(data: Mapping[str, Any]) -> EngineConfigBase:
    """The config model `data["type"]` names, validated (pydantic's ValidationError if not:
    an unknown type is reported with the known ones)."""
    return _ENGINE_CONFIG.validate_python(data)


def file_engine_config(path: Path, *given: EngineConfigBase) -> EngineConfigBase:
    """The config to open a model file with: the engine type its suffix calls for, configured
    as in `given` where one of them is of that type, else with its defaults."""
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    entry = next((e for e in ENGINE_TYPES if suffix in e.suffixes), None)
    if entry is None:
        accepted = ", ".join(s for e in ENGINE_TYPES for s in e.suffixes)
        raise UnsupportedModelError(f"{path.name}: no engine type opens it; accepted: {accepted}")
    model = entry.config_model
    return next((c for c in given if isinstance(c, model)), None) or model()


def open_engine(
    config: EngineConfigBase,
    source: Path | str,
    *,
    metadata: Mapping[str, str] | None = None,
) -> Engine:
    """Open `source` (a model file, or a URI for remote engines) with the engine type that
    `config` belongs to: the single way every caller plugs a backend."""
    entry = engine_type(str(getattr(config, "type", type(config).__name__)))
    if not isinstance(config, entry.config_model):
        raise UnsupportedModelError(f"{type(config).__name__} is not the {entry.name} config")
    return entry.engine_class.open(source, config, metadata)
