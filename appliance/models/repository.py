"""The on-disk model repository: `models/<name>/<version>/` holding the model file and its
metadata (a remote model: no file; its server in the metadata, its token in a 0600 file).
Versions are content hashes; writes are atomic, so a half-written upload never appears in
the list."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.durable import write_atomic as write_secret
from appliance.engines.remote import RemoteModel
from appliance.errors import ConflictError, InvalidInputError, ModelNotFoundError
from appliance.models.files import fsync_dir, sha256_of, write_atomic

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FORMATS = {".onnx": "onnx"}
META_FILE = "meta.json"
TOKEN_FILE = "token"  # a remote model's bearer token: 0600, never in meta.json or the API
REMOTE_FORMAT = "remote"
META_SCHEMA_VERSION = 1  # files written before the field existed have the same layout: 1
_LEFTOVERS = (".staging-*", ".deleting-*")  # what a killed writer leaves; never a version


class RemoteMeta(BaseModel):
    """Where a remote model is served (Open Inference Protocol); its token is kept apart."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="The server, http(s)://host:port; its /v2 below that.")
    model: str
    version: str = ""
    token: bool = Field(False, description="Whether a bearer token is sent (never shown).")


class ModelMeta(BaseModel):
    """What the repository knows about one model version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str = Field(description="First 12 hex digits of the file's sha256.")
    file: str
    format: str
    sha256: str
    size_bytes: int
    source: str = Field(description="demo, upload, or where it was registered from.")
    created: float
    labels: list[str] = Field(default_factory=list)
    task: str = "detect"
    input_size: tuple[int, int] | None = None
    output_family: str | None = None
    validation: dict[str, Any] = Field(default_factory=dict)
    remote: RemoteMeta | None = Field(None, description="Served elsewhere: by this server.")
    schema_version: int = Field(META_SCHEMA_VERSION, le=META_SCHEMA_VERSION)


class ModelRepository:
    def __init__(self, root: Path) -> None:
        self.root = root

    def recover(self) -> list[Path]:
        """Remove what a process killed mid-write left: staged versions that were never
        renamed into place, half-deleted models, partial metadata and uploads. Run at start,
        before anything writes; returns what it removed."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        folders = [self.root, *(p for p in self.root.iterdir() if p.is_dir())]
        for folder in folders:
            for pattern in _LEFTOVERS:
                removed += folder.glob(pattern)
        removed += self.root.glob(f"*/*/{META_FILE}.part")
        removed += self.root.glob(".uploads/.upload-*")
        for path in removed:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return removed

    def list(self) -> list[ModelMeta]:
        metas = []
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if folder.is_dir() and MODEL_NAME.match(folder.name):
                    found = self._latest(folder)
                    if found is not None:
                        metas.append(found)
        return metas

    def get(self, name: str) -> ModelMeta:
        check_name(name)
        found = self._latest(self.root / name)
        if found is None:
            raise ModelNotFoundError(f"no model named {name!r} in the repository")
        return found

    def has(self, name: str, source_file: Path) -> bool:
        """Whether this exact file is already a version of `name`."""
        return (self.root / name / sha256_of(source_file)[:12] / META_FILE).is_file()

    def path(self, meta: ModelMeta) -> Path:
        return self.root / meta.name / meta.version / meta.file

    def add(self, name: str, source_file: Path, *, source: str, **details: Any) -> ModelMeta:
        """Copy `source_file` in as a new version of `name` (atomically: staged, then renamed)."""
        check_name(name)
        check_format(source_file)
        suffix = source_file.suffix.lower()
        digest = sha256_of(source_file)
        version = digest[:12]
        final = self.root / name / version
        if final.exists():
            return self._read(final)
        meta = ModelMeta(
            name=name,
            version=version,
            file=f"model{suffix}",
            format=FORMATS[suffix],
            sha256=digest,
            size_bytes=source_file.stat().st_size,
            source=source,
            created=time.time(),
            **details,
        )
        return self._publish(
            final, meta, lambda staging: shutil.copyfile(source_file, staging / meta.file)
        )

    def add_remote(self, name: str, target: RemoteModel, **details: Any) -> ModelMeta:
        """Register a model served elsewhere as a new version of `name` (atomically, like a
        file). The same server, model and version again is the same version: a new token
        replaces the old one."""
        check_name(name)
        digest = target.digest
        final = self.root / name / digest[:12]
        if final.exists():
            self._keep_token(final, target.token)
            meta = self._read(final)
            if meta.remote is not None and meta.remote.token != bool(target.token):
                remote = meta.remote.model_copy(update={"token": bool(target.token)})
                meta = meta.model_copy(update={"remote": remote})
                write_atomic(final / META_FILE, meta.model_dump_json(indent=2).encode())
            return meta
        remote = RemoteMeta(
            url=target.url, model=target.model, version=target.version, token=bool(target.token)
        )
        meta = ModelMeta(
            name=name,
            version=digest[:12],
            file="",
            format=REMOTE_FORMAT,
            sha256=digest,
            size_bytes=0,
            source=target.uri,
            created=time.time(),
            remote=remote,
            **details,
        )
        return self._publish(final, meta, lambda staging: self._keep_token(staging, target.token))

    def _publish(self, final: Path, meta: ModelMeta, fill: Callable[[Path], object]) -> ModelMeta:
        """A new version folder appears whole or not at all: `fill` and meta.json go into a
        staging folder beside it, which is then renamed into place."""
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))
        try:
            fill(staging)
            write_atomic(staging / META_FILE, meta.model_dump_json(indent=2).encode())
            fsync_dir(staging)
            os.replace(staging, final)
            fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return meta

    def remote(self, meta: ModelMeta) -> RemoteModel:
        """Where a remote model is served, with its token (blocking: reads the token)."""
        if meta.remote is None:
            raise InvalidInputError(f"model {meta.name} is a file, not a remote model")
        token_file = self.root / meta.name / meta.version / TOKEN_FILE
        token = token_file.read_text().strip() if meta.remote.token else ""
        return RemoteModel.from_url(meta.remote.url, meta.remote.model, meta.remote.version, token)

    @staticmethod
    def _keep_token(folder: Path, token: str) -> None:
        if token:
            write_secret(folder / TOKEN_FILE, token.encode(), mode=0o600)
        else:
            (folder / TOKEN_FILE).unlink(missing_ok=True)

    def delete(self, name: str, *, active: set[str]) -> None:
        meta = self.get(name)
        if meta.name in active:
            raise ConflictError(f"model {name!r} is in use; activate another one first")
        trash = self.root / f".deleting-{name}-{time.monotonic_ns()}"
        os.replace(self.root / name, trash)  # vanishes from the list in one step
        shutil.rmtree(trash, ignore_errors=True)

    def _latest(self, folder: Path) -> ModelMeta | None:
        if not folder.is_dir():
            return None
        valid = []
        for version in folder.iterdir():
            # .staging-* holds a whole meta.json before its rename: not a version yet
            if version.name.startswith(".") or not (version / META_FILE).is_file():
                continue
            try:
                valid.append(self._read(version))
            except InvalidInputError as exc:  # one bad version must not hide the others
                logger.warning("skipping model version: {}", exc.message)
        return max(valid, key=lambda m: m.created) if valid else None

    def _read(self, folder: Path) -> ModelMeta:
        try:
            return ModelMeta.model_validate_json((folder / META_FILE).read_text())
        except (OSError, ValidationError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"unreadable model metadata in {folder}: {exc}") from None


def check_name(name: str) -> None:
    if not MODEL_NAME.match(name):
        raise InvalidInputError(
            f"model name {name!r}: 1-64 letters, digits, '.', '_' or '-', not starting with one"
        )


def check_format(path: Path) -> None:
    """Only model formats we run: no pickles, no Python."""
    if path.suffix.lower() not in FORMATS:
        raise InvalidInputError(f"only {', '.join(FORMATS)} model files are accepted")
