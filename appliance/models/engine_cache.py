"""The engine cache: what builds made from ONNX models (TensorRT engines, ONNX Runtime's
optimised graphs), under `data_dir/cache/engines/<key>/`, each beside a small meta.json.

The key holds everything an artifact's validity depends on: the ONNX file's sha256, the
backend and its version, the device it was built for (GPU name and compute capability, or
the CPU), the precision and the input shapes. After a TensorRT or JetPack upgrade, or on
another GPU, the key differs: the model is rebuilt, a stale engine is never loaded.
Entries appear whole or not at all (staged, fsynced, renamed into place).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError

from appliance.models.files import fsync_dir, fsync_file, sha256_of, write_atomic

META_FILE = "meta.json"
STAGING = ".staging-"


@dataclass(frozen=True)
class CacheKey:
    onnx_sha256: str
    backend: str  # "tensorrt" or "onnxruntime"
    backend_version: str
    device: str  # "Orin sm87", "NVIDIA H100 80GB HBM3 sm90", "cpu x86_64"
    precision: str  # "fp16", "fp32"
    shapes: str  # the input with its batch range, e.g. "images 1..8x3x416x416"
    options: str = ""  # anything else the artifact depends on (optimisation level…)

    def digest(self) -> str:
        """The folder name: a hash of every field, so any change makes a new entry."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class CacheMeta(BaseModel):
    """meta.json of one cache entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: dict[str, str]
    digest: str
    model: str
    artifact: str  # the file's name inside the entry's folder
    size_bytes: int
    sha256: str
    created: float
    build_seconds: float
    model_metadata: dict[str, str]  # the ONNX model's own metadata: labels travel here
    details: dict[str, Any]


@dataclass(frozen=True)
class CachedArtifact:
    meta: CacheMeta
    folder: Path

    @property
    def path(self) -> Path:
        return self.folder / self.meta.artifact

    @property
    def key(self) -> CacheKey:
        return CacheKey(**self.meta.key)


@dataclass(frozen=True)
class BuildOutput:
    """What a build left in its staging folder, for the cache to record."""

    artifact: str
    model_metadata: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)


class EngineCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: CacheKey) -> CachedArtifact | None:
        """The entry for exactly this key, if it is there and whole."""
        found = self._read(self.root / key.digest())
        return found if found is not None and found.key == key else None

    def find(
        self, onnx_sha256: str, backend: str, backend_version: str, device: str
    ) -> CachedArtifact | None:
        """The newest entry built from this ONNX file for this backend version and device,
        whatever its precision and batch range (what a load can use)."""
        wanted = (onnx_sha256, backend, backend_version, device)
        matches = [entry for entry in self.entries() if _identity(entry.key) == wanted]
        return max(matches, key=lambda e: e.meta.created, default=None)

    def entries(self) -> list[CachedArtifact]:
        if not self.root.is_dir():
            return []
        found = (self._read(folder) for folder in sorted(self.root.iterdir()))
        return [entry for entry in found if entry is not None]

    def store(
        self, key: CacheKey, model: str, build: Callable[[Path], BuildOutput]
    ) -> CachedArtifact:
        """Run `build` in a staging folder, then move the result into place in one rename.
        A failed or cancelled build leaves nothing behind."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=self.root))
        started = time.perf_counter()
        try:
            output = build(staging)
            artifact = staging / output.artifact
            fsync_file(artifact)
            meta = CacheMeta(
                key=asdict(key),
                digest=key.digest(),
                model=model,
                artifact=output.artifact,
                size_bytes=artifact.stat().st_size,
                sha256=sha256_of(artifact),
                created=time.time(),
                build_seconds=round(time.perf_counter() - started, 3),
                model_metadata=dict(output.model_metadata),
                details=dict(output.details),
            )
            write_atomic(staging / META_FILE, meta.model_dump_json(indent=2).encode())
            fsync_dir(staging)
            final = self.root / key.digest()
            self._replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return CachedArtifact(meta, final)

    def remove(self, key: CacheKey) -> None:
        self._discard(self.root / key.digest())

    def sweep(self) -> None:
        """Remove what a crash mid-build left (staging folders are never read)."""
        if self.root.is_dir():
            for folder in self.root.glob(f"{STAGING}*"):
                shutil.rmtree(folder, ignore_errors=True)

    def _replace(self, staging: Path, final: Path) -> None:
        if final.exists():  # an unreadable entry under this key: set it aside first
            self._discard(final)
        os.replace(staging, final)
        fsync_dir(self.root)

    def _discard(self, folder: Path) -> None:
        if folder.exists():
            trash = self.root / f".trash-{folder.name}-{time.monotonic_ns()}"
            os.replace(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def _read(self, folder: Path) -> CachedArtifact | None:
        if folder.name.startswith(".") or not (folder / META_FILE).is_file():
            return None
        try:
            meta = CacheMeta.model_validate_json((folder / META_FILE).read_text())
            entry = CachedArtifact(meta, folder)
            entry.key  # noqa: B018 - a key with unknown fields is an unreadable entry
        except (OSError, ValidationError, TypeError, ValueError) as exc:
            logger.warning("engine cache entry {} is unreadable: {}", folder.name, exc)
            return None
        try:
            size = entry.path.stat().st_size
        except OSError:
            size = -1
        if size != meta.size_bytes:
            logger.warning("engine cache entry {} lost its artifact; ignored", folder.name)
            return None
        return entry


def _identity(key: CacheKey) -> tuple[str, str, str, str]:
    return key.onnx_sha256, key.backend, key.backend_version, key.device
