"""`serve` tunes glibc's allocator (appliance/memory.py): frame-sized buffers are reused,
not mmapped and faulted in anew each frame (issue #14, detect overhead), and every thread
shares two arenas, whose peaks do not add up (issue #14, the soak)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"), reason="glibc only"
)

# In a fresh process (mallopt is process-wide), after tuning or not: the page faults of 20
# frames allocated, written and freed in turn; then how many arenas 8 threads made.
PROBE = """
import ctypes, resource, sys, threading
import numpy as np
from appliance.memory import trim, tune_malloc

libc = ctypes.CDLL(None)
tuned = tune_malloc() if sys.argv[1] == "tune" else None
frame = (720, 1280, 3)
np.empty(frame, np.uint8).fill(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    np.empty(frame, np.uint8).fill(1)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
ready = threading.Barrier(9)
def work():
    libc.free(libc.malloc(4096))
    ready.wait()
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
ready.wait()
buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
libc.open_memstream.restype = ctypes.c_void_p
libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
libc.malloc_info(0, stream)
libc.fclose(stream)
arenas = ctypes.string_at(buffer, size.value).decode().count("<heap nr=")
ready.wait()
trim()
print(tuned, faults, arenas)
"""


def probe(mode: str, **env: str) -> tuple[str, int, int]:
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
    tuned, faults, arenas = result.stdout.split()
    return tuned, int(faults), int(arenas)


FRAME_PAGES = 720 * 1280 * 3 // 4096  # 675: what one frame faults in when mmapped anew


def test_tuned_frames_are_reused_and_threads_share_two_arenas() -> None:
    tuned, faults, arenas = probe("tune")
    assert tuned == "True"
    assert faults < FRAME_PAGES  # 20 frames: not one frame's worth of faults
    assert arenas <= 2


def test_the_probe_sees_frames_mmapped_anew_and_an_arena_per_thread() -> None:
    """What tuning changes, seen by the same probe: glibc with a small fixed mmap
    threshold faults every frame in (as `serve` once set it), and by default each
    thread gets its own arena."""
    _, faults, _ = probe("none", MALLOC_MMAP_THRESHOLD_="131072")
    assert faults >= 20 * FRAME_PAGES * 0.9
    _, _, arenas = probe("none")
    assert arenas > 2


def test_an_operators_own_malloc_settings_win() -> None:
    for env in ({"MALLOC_ARENA_MAX": "4"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}):
        tuned, _, arenas = probe("tune", **env)
        assert tuned == "False" and arenas > 2
