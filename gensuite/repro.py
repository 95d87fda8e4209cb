"""Seeding, deterministic flags, and the provenance every result carries."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import random
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = ("torch", "torchvision", "numpy", "mlflow", "optuna", "torch-fidelity", "scikit-image")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and turn off the non-deterministic cuDNN autotuner.

    Determinism is claimed (and tested) only for: same seed, same device, same thread count, CPU.
    On CUDA some kernels stay non-deterministic; records name the device so that shows.
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False  # the autotuner picks kernels by timing: not repeatable
    torch.backends.cudnn.deterministic = True


def config_hash(obj: Any) -> str:
    """A short, stable hash of a JSON-able object (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str, bool]:
    """(commit, dirty) of the checkout gensuite runs from; ("unknown", False) outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
            check=True, timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "gensuite",
             "benchmarks", "pyproject.toml"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        return commit, bool(status)
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(device: str) -> dict[str, Any]:
    """Commit, environment and hardware: what a reader needs to judge a number."""
    import torch

    from gensuite.allocator import allocator_description

    commit, dirty = git_state()
    dev = torch.device(device)
    if dev.type == "cuda":
        device_name = torch.cuda.get_device_name(dev)
    else:
        device_name = platform.processor() or platform.machine()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "gensuite_version": _version("gensuite"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "cudnn": str(torch.backends.cudnn.version() or "none"),
        "device": str(dev),
        "device_name": device_name,
        "threads": torch.get_num_threads(),
        "allocator": allocator_description(),
        "packages": {name: _version(name) for name in _PACKAGES},
    }
