"""Keep glibc malloc from handing large tensor buffers back to the OS after every training step.

Why: PyTorch's CPU allocator is plain malloc. A training step frees and re-allocates the same
multi-megabyte activations every step; glibc serves blocks above its mmap threshold with
mmap/munmap and trims the heap top above its trim threshold, so each step page-faults the
buffers back in (measured: a 60-way 5-shot ProtoNet episode on one thread spent ~40% of its time
there, 900 ms → 530 ms with the settings below; bench/allocator_speed.py prints every suite's
step before and after). Raising both thresholds keeps freed buffers in the heap for reuse; the
cost is a higher resident size (freed memory is kept, not returned), bounded by the peak working
set of a step plus ``TOP_PAD``.

Applied at start-up of the commands that train (``bench``, ``sweep``, ``verify``) through
``mallopt``; numbers are unchanged (allocation placement does not change arithmetic).
Not applied when the user set any ``MALLOC_*`` variable (their choice wins), when
``GENSUITE_MALLOC=default``, or when the C library is not glibc (macOS, musl: nothing to do).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 1_000_000_000  # bytes: blocks below this come from the heap, not from mmap
TRIM_THRESHOLD = 1_000_000_000  # bytes of free heap top kept before it is returned to the OS
TOP_PAD = 512 * 1024 * 1024  # bytes added to every heap extension, so growth is rare

_state: dict[str, str] = {"allocator": "not configured"}


def tune_allocator() -> str:
    """Apply the thresholds once per process; return a description of what is in force."""
    if _state["allocator"] != "not configured":
        return _state["allocator"]
    _state["allocator"] = _apply()
    return _state["allocator"]


def allocator_description() -> str:
    """What :func:`tune_allocator` did in this process (recorded in every result's environment)."""
    return _state["allocator"]


def _apply() -> str:
    user_set = sorted(k for k in os.environ if k.startswith("MALLOC_") and k.endswith("_"))
    if "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        user_set.append("GLIBC_TUNABLES")
    if user_set:
        return "glibc malloc, user settings: " + ", ".join(
            f"{k}={os.environ[k]}" for k in user_set)
    if os.environ.get("GENSUITE_MALLOC", "").lower() == "default":
        return "system default (GENSUITE_MALLOC=default)"
    libc_name, _ = platform.libc_ver()
    if libc_name != "glibc":
        return "system default (not glibc)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = all(libc.mallopt(param, value) == 1 for param, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD)))
    except (OSError, AttributeError):
        return "system default (mallopt unavailable)"
    if not ok:
        return "system default (mallopt refused)"
    return (f"glibc mallopt: mmap_threshold={MMAP_THRESHOLD}, trim_threshold={TRIM_THRESHOLD}, "
            f"top_pad={TOP_PAD}")
