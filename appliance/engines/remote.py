"""Remote backend: a model served over the Open Inference Protocol (NVIDIA Triton, KServe, or
another appliance's /v2), spoken with the official `tritonclient[http]` and binary tensors."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field

from appliance.engines.base import EngineConfigBase, TensorSpec
from appliance.errors import (
    InferenceError,
    InvalidInputError,
    ModelLoadError,
    RemoteUnavailableError,
)

SCHEME = "triton"
_DTYPES = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64",
}  # fmt: skip
_DATATYPES = {v: k for k, v in _DTYPES.items()}
T = TypeVar("T")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")  # one header value: no spaces, no line breaks


class RemoteConfig(EngineConfigBase):
    """How to reach a model on an inference server; which model is the URI opened."""

    type: Literal["remote"] = "remote"
    # short: a live camera must learn soon that its server is gone, and a call waiting
    # on a dead server holds the model's engine thread (detect requests queue behind it)
    connect_timeout_s: float = Field(3.0, gt=0, description="Connect timeout, seconds.")
    timeout_s: float = Field(10.0, gt=0, description="Network timeout of a call, seconds.")
    retry_s: float = Field(
        1.0, ge=0, description="After an unreachable server, calls fail at once this long."
    )


@dataclass(frozen=True)
class RemoteModel:
    """Where a model is served (`triton://host:port/model[/version]`, or a registered
    http(s) URL), and the bearer token to send, if any (never in repr, logs or `uri`)."""

    host: str
    port: int
    model: str
    version: str = ""  # "": the server's choice (Triton: the latest)
    ssl: bool = False
    base_path: str = ""  # a prefix before /v2 (a KServe ingress), "" or "/…"
    token: str = field(default="", repr=False)

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

    @classmethod
    def from_url(cls, url: str, model: str, version: str = "", token: str = "") -> RemoteModel:
        """A server's `http(s)://host[:port][/base]` (its /v2 below that), a model on it."""
        parts = urlsplit(url.strip())
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port < 1:
            raise InvalidInputError(f"url {url!r} is not http(s)://host[:port]")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise InvalidInputError("url takes no query, fragment or credentials: use token")
        if token and not _TOKEN.match(token):
            raise InvalidInputError("token must be printable ASCII without spaces")
        base = parts.path.rstrip("/")
        ssl = parts.scheme == "https"
        return cls(parts.hostname, port, model, version, ssl, base, token)

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.address}{self.base_path}"

    @property
    def uri(self) -> str:
        """The model's address on its server, as the protocol names it (no token)."""
        version = f"/versions/{self.version}" if self.version else ""
        return f"{self.url}/v2/models/{self.model}{version}"

    @property
    def digest(self) -> str:
        """What identifies the model served (not the token): its version's source."""
        what = {"url": self.url, "model": self.model, "version": self.version}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()

    @property
    def headers(self) -> dict[str, str] | None:
        return {"Authorization": f"Bearer {self.token}"} if self.token else None


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
        retry_s: float = 1.0,
    ) -> None:
        self.target = target
        self.device = f"remote {target.address}"
        self.inputs = tuple(_spec(t) for t in metadata["inputs"])
        self.outputs = tuple(_spec(t) for t in metadata["outputs"])
        self.metadata: Mapping[str, str] = dict(parameters)
        self._client = client
        self._calls = calls
        self._retry_s = retry_s
        self._down: tuple[float, str] | None = None  # (retry after, why) while unreachable
        self._down_lock = threading.Lock()

    @classmethod
    def open(
        cls, source: Path | str, config: RemoteConfig, metadata: Mapping[str, str] | None
    ) -> RemoteEngine:
        """The registry's way in: `source` is a `triton://` URI; labels come from the server."""
        if isinstance(source, Path):
            raise ModelLoadError(f"a remote engine opens a {SCHEME}:// URI, not the file {source}")
        return cls.connect(source, config)

    @classmethod
    def connect(cls, target: RemoteModel | str, config: RemoteConfig | None = None) -> RemoteEngine:
        """Reach the server and read the model's metadata (and config parameters, if the
        server shares them: labels travel there as `names`)."""
        config = config or RemoteConfig()
        if isinstance(target, str):
            target = RemoteModel.parse(target)
        calls = ThreadPoolExecutor(1, thread_name_prefix=f"triton-{target.model}")
        client = None
        try:
            client, metadata, parameters = calls.submit(_open, target, config).result()
            engine = cls(target, client, calls, metadata, parameters, config.retry_s)
        except Exception as exc:  # a host name that does not encode, metadata without shapes
            if client is not None:
                calls.submit(client.close).result()
            calls.shutdown()
            if isinstance(exc, ModelLoadError):
                raise
            raise ModelLoadError(
                f"cannot use model {target.model!r} on {target.address}: {_message(exc)}"
            ) from exc
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
        """One request as tritonclient makes it: binary tensors in and out. A server that
        cannot be reached is not called again for `retry_s`: a camera's frames fail at once
        meanwhile instead of each waiting out a timeout, and the first call after that
        finds out whether it is back."""
        http, exception = _import_tritonclient()
        with self._down_lock:
            if self._down is not None and time.monotonic() < self._down[0]:
                raise RemoteUnavailableError(self._down[1], retry_after=self._retry_s)
        spec = self.inputs[0]
        tensor = http.InferInput(spec.name, list(batch.shape), _DATATYPES.get(str(batch.dtype)))
        tensor.set_data_from_numpy(batch, binary_data=True)
        wanted = [http.InferRequestedOutput(o.name, binary_data=True) for o in self.outputs]
        target = self.target
        try:
            result = self._client.infer(
                target.model,
                [tensor],
                model_version=target.version,
                outputs=wanted,
                headers=target.headers,
            )
        except exception as exc:  # the server answered with an error status
            why = f"remote inference on {target.address} failed: {_message(exc)}"
            if exc.status() == "400":  # the request itself: retrying will not help
                raise InferenceError(why) from exc
            # it cannot serve now (model unloaded there, token revoked, not ready)
            raise RemoteUnavailableError(why, retry_after=self._retry_s) from exc
        except Exception as exc:  # the transport's: refused, reset, closed, timed out
            why = f"remote model server {target.address} is unreachable: {_message(exc)}"
            with self._down_lock:
                self._down = (time.monotonic() + self._retry_s, why)
            raise RemoteUnavailableError(why, retry_after=self._retry_s) from exc
        with self._down_lock:
            self._down = None
        outputs = [result.as_numpy(o.name) for o in self.outputs]
        if any(output is None for output in outputs):
            raise InferenceError(f"{target.model} on {target.address} left out an output")
        return outputs


def _open(target: RemoteModel, config: RemoteConfig) -> tuple[Any, Any, dict[str, str]]:
    http, exception = _import_tritonclient()
    client = http.InferenceServerClient(
        target.address + target.base_path,
        connection_timeout=config.connect_timeout_s,
        network_timeout=config.timeout_s,
        ssl=target.ssl,
    )
    headers = target.headers
    try:
        metadata = client.get_model_metadata(target.model, target.version, headers=headers)
    except (exception, OSError) as exc:
        client.close()
        raise ModelLoadError(
            f"cannot use model {target.model!r} on {target.address}: {_message(exc)}"
        ) from exc
    try:
        model_config = client.get_model_config(target.model, target.version, headers=headers)
    except (exception, OSError):
        model_config = {}  # the model configuration extension is optional
    parameters = {
        key: str(value.get("string_value", ""))
        for key, value in (model_config.get("parameters") or {}).items()
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
    """The first line of what went wrong, with the HTTP status where there was one (an
    appliance's error body nests its message in `error`)."""
    message: Any = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    if isinstance(message, dict):
        message = message.get("message") or message
    status = exc.status() if callable(getattr(exc, "status", None)) else None
    text = str(message or type(exc).__name__).splitlines()[0][:300]
    return f"HTTP {status}: {text}" if status else text
