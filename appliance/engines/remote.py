"""Remote backend: a model served over the Open Inference Protocol (NVIDIA Triton, KServe, or
another appliance's /v2), spoken with the official `tritonclient[http]` and binary tensors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field

from appliance.engines.base import EngineConfigBase, TensorSpec
from appliance.errors import InferenceError, ModelLoadError

SCHEME = "triton"
_DTYPES = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64",
}  # fmt: skip
_DATATYPES = {v: k for k, v in _DTYPES.items()}
T = TypeVar("T")


class RemoteConfig(EngineConfigBase):
    """How to reach a model on an inference server; which model is the URI opened."""

    type: Literal["remote"] = "remote"
    timeout_s: float = Field(30.0, gt=0, description="Connect and network timeout, seconds.")


@dataclass(frozen=True)
class RemoteModel:
    """Where a model is served: `triton://host:port/model[/version]`."""

    host: str
    port: int
    model: str
    version: str = ""  # "": the server's choice (Triton: the latest)

    @classmethod
    def parse(cls, uri: str) -> RemoteModel:
        parts = urlsplit(uri)
        path = [p for p in parts.path.split("/") if p]
        try:
            port = parts.port or 8000  # Triton's HTTP port
        except ValueError:
            port = -1
        if parts.scheme != SCHEME or not parts.hostname or not 1 <= len(path) <= 2 or port < 1:
            raise ModelLoadError(f"{uri!r} is not a {SCHEME}://host:port/model[/version] URI")
        return cls(parts.hostname, port, path[0], path[1] if len(path) > 1 else "")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class RemoteEngine:
    """One model on an inference server. tritonclient's HTTP client runs on gevent, whose
    sockets belong to the thread that made them: one private thread makes every call."""

    backend = "triton"

    def __init__(
        self,
        target: RemoteModel,
        client: Any,
        calls: ThreadPoolExecutor,
        metadata: Mapping[str, Any],
        parameters: Mapping[str, str],
    ) -> None:
        self.target = target
        self.device = f"remote {target.address}"
        self.inputs = tuple(_spec(t) for t in metadata["inputs"])
        self.outputs = tuple(_spec(t) for t in metadata["outputs"])
        self.metadata: Mapping[str, str] = dict(parameters)
        self._client = client
        self._calls = calls

    @classmethod
    def open(
        cls, source: Path | str, config: RemoteConfig, metadata: Mapping[str, str] | None
    ) -> RemoteEngine:
        """The registry's way in: `source` is a `triton://` URI; labels come from the server."""
        if isinstance(source, Path):
            raise ModelLoadError(f"a remote engine opens a {SCHEME}:// URI, not the file {source}")
        return cls.connect(source, timeout_s=config.timeout_s)

    @classmethod
    def connect(cls, uri: str, *, timeout_s: float = 30.0) -> RemoteEngine:
        """Reach the server and read the model's metadata (and config parameters, if the
        server shares them: labels travel there as `names`)."""
        target = RemoteModel.parse(uri)
        calls = ThreadPoolExecutor(1, thread_name_prefix=f"triton-{target.model}")
        try:
            client, metadata, parameters = calls.submit(_open, target, timeout_s).result()
            engine = cls(target, client, calls, metadata, parameters)
        except Exception:
            calls.shutdown()
            raise
        if len(engine.inputs) != 1:
            engine.close()
            raise ModelLoadError(f"{target.model} has {len(engine.inputs)} inputs, expected one")
        return engine

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._call(self._infer, batch)

    def close(self) -> None:
        if self._client is not None:
            self._call(self._client.close)
            self._client = None
        self._calls.shutdown()

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return self._calls.submit(fn, *args).result()

    def _infer(self, batch: np.ndarray) -> list[np.ndarray]:
        http, exception = _import_tritonclient()
        spec = self.inputs[0]
        tensor = http.InferInput(spec.name, list(batch.shape), _DATATYPES.get(str(batch.dtype)))
        tensor.set_data_from_numpy(batch, binary_data=True)
        wanted = [http.InferRequestedOutput(o.name, binary_data=True) for o in self.outputs]
        try:
            result = self._client.infer(
                self.target.model, [tensor], model_version=self.target.version, outputs=wanted
            )
            return [result.as_numpy(o.name) for o in self.outputs]
        except (exception, OSError) as exc:
            raise InferenceError(
                f"remote inference on {self.target.address} failed: {_message(exc)}"
            ) from exc


def _open(target: RemoteModel, timeout_s: float) -> tuple[Any, Any, dict[str, str]]:
    http, exception = _import_tritonclient()
    client = http.InferenceServerClient(
        target.address, connection_timeout=timeout_s, network_timeout=timeout_s
    )
    try:
        metadata = client.get_model_metadata(target.model, target.version)
    except (exception, OSError) as exc:
        client.close()
        raise ModelLoadError(
            f"cannot use model {target.model!r} on {target.address}: {_message(exc)}"
        ) from exc
    try:
        config = client.get_model_config(target.model, target.version)
    except (exception, OSError):
        config = {}  # the model configuration extension is optional
    parameters = {
        key: str(value.get("string_value", ""))
        for key, value in (config.get("parameters") or {}).items()
        if isinstance(value, dict)
    }
    return client, metadata, parameters


def _import_tritonclient() -> tuple[Any, type[Exception]]:
    try:
        import tritonclient.http as http
        from tritonclient.utils import InferenceServerException
    except ImportError as exc:
        raise ModelLoadError(
            f"{SCHEME}:// models need tritonclient: pip install 'tritonclient[http]' ({exc})"
        ) from exc
    return http, InferenceServerException


def _spec(tensor: Mapping[str, Any]) -> TensorSpec:
    shape = tuple(d if d >= 0 else None for d in (int(d) for d in tensor["shape"]))
    datatype = str(tensor["datatype"])
    return TensorSpec(str(tensor["name"]), shape, _DTYPES.get(datatype, datatype.lower()))


def _message(exc: BaseException) -> str:
    message = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    return str(message or type(exc).__name__).splitlines()[0][:300]
