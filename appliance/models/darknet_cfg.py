"""Reading Darknet's two file formats: the INI-like `.cfg` and the flat float32 `.weights`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.errors import DarknetImportError


@dataclass(frozen=True)
class Section:
    """One `[type]` block of a cfg file, with its `key=value` options as written."""

    type: str
    options: dict[str, str]
    line: int

    def get_int(self, key: str, default: int | None = None) -> int:
        return int(self._get(key, default))

    def get_float(self, key: str, default: float | None = None) -> float:
        return float(self._get(key, default))

    def get_str(self, key: str, default: str | None = None) -> str:
        return str(self._get(key, default))

    def get_ints(self, key: str, default: list[int] | None = None) -> list[int]:
        raw = self.options.get(key)
        if raw is None:
            if default is None:
                raise DarknetImportError(f"[{self.type}] at line {self.line} needs '{key}'")
            return default
        return [int(v) for v in raw.split(",") if v.strip()]

    def _get(self, key: str, default: object) -> object:
        if key in self.options:
            return self.options[key]
        if default is None:
            raise DarknetImportError(f"[{self.type}] at line {self.line} needs '{key}'")
        return default


def parse_cfg(text: str) -> list[Section]:
    """Parse a Darknet cfg; comments (`#`, `;`) and blank lines are ignored."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise DarknetImportError(f"line {number}: malformed section header {raw!r}")
            sections.append(Section(line[1:-1].strip().lower(), {}, number))
            continue
        if "=" not in line or not sections:
            raise DarknetImportError(f"line {number}: expected key=value inside a section")
        key, value = (part.strip() for part in line.split("=", 1))
        sections[-1].options[key] = value
    if not sections or sections[0].type not in ("net", "network"):
        raise DarknetImportError("a Darknet cfg starts with a [net] section")
    return sections


class WeightsReader:
    """Hands out the weights file's float32 values in order, checking none are missing."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 16:
            raise DarknetImportError("weights file is too short for a Darknet header")
        major, minor, _revision = np.frombuffer(data[:12], dtype="<i4")
        # Darknet widened the 'images seen' counter to 64 bits in version 0.2.
        seen_bytes = 8 if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000 else 4
        body = data[12 + seen_bytes :]
        if len(body) % 4:
            raise DarknetImportError("weights file size is not a whole number of float32 values")
        self._values = np.frombuffer(body, dtype="<f4")
        self._offset = 0

    def take(self, count: int) -> np.ndarray:
        end = self._offset + count
        if end > self._values.size:
            raise DarknetImportError(
                f"weights file ends early: needed {end} values, it holds {self._values.size}"
            )
        chunk = self._values[self._offset : end].astype(np.float32)
        self._offset = end
        return chunk

    @property
    def remaining(self) -> int:
        return self._values.size - self._offset


def read_names(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [name for name in names if name]
    if not names:
        raise DarknetImportError(f"{path} holds no class names")
    return names
