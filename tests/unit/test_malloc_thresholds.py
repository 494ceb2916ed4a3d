"""`serve` holds glibc's mmap threshold fixed, so frame-sized buffers are mmapped (and
unmapped when freed) instead of settling in per-thread arenas (issue #14, the soak)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"), reason="glibc only"
)

# In a fresh process (mallopt is process-wide): free one frame-sized block, which raises
# glibc's dynamic threshold, then see whether the next one is still an mmap.
PROBE = """
import ctypes, sys
from appliance.server import fix_malloc_thresholds

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = Mallinfo2
fixed = fix_malloc_thresholds() if sys.argv[1] == "fix" else None
size = 1280 * 720 * 3  # one 720p BGR frame
libc.free(libc.malloc(size))
before = libc.mallinfo2().hblkhd
block = libc.malloc(size)
mmapped = libc.mallinfo2().hblkhd - before >= size
libc.free(block)
print(fixed, mmapped)
"""


def probe(mode: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environ.pop("GLIBC_TUNABLES", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_frames_stay_mmapped_once_the_thresholds_are_fixed() -> None:
    assert probe("fix") == "True True"


def test_without_it_glibc_moves_frames_into_its_arenas() -> None:
    assert probe("none") == "None False"  # what the soak's RSS growth came from


def test_an_operators_own_malloc_settings_win() -> None:
    assert probe("fix", MALLOC_MMAP_THRESHOLD_="4194304") == "False False"
