"""What the measurements were taken on, recorded beside them (pyperf-style metadata)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import torch

import a2bench


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    root = Path(a2bench.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "a2bench"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def collect(threads: int, device: str) -> dict[str, Any]:
    vm = psutil.virtual_memory()
    env: dict[str, Any] = {
        "a2bench_version": a2bench.__version__,
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "fvcore": _version("fvcore"),
        "numpy": _version("numpy"),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "physical_cores": physical_cores(),
        "logical_cores": psutil.cpu_count(logical=True),
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "mkldnn_enabled": torch.backends.mkldnn.enabled,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "parallel_info": torch.__config__.parallel_info(),
        "flush_denormal": False,
        "ram_bytes": vm.total,
        "ram_available_bytes": vm.available,
        "load_average": list(os.getloadavg()),
        "cpu_busy_percent": psutil.cpu_percent(interval=0.3),
        "cuda_available": torch.cuda.is_available(),
    }
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info()
        env.update({
            "gpu_name": props.name,
            "gpu_memory_bytes": total,
            "gpu_free_bytes": free,
            "gpu_l2_bytes": getattr(props, "L2_cache_size", None),
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version(),
            "driver_and_clocks": _nvidia_smi(),
        })
    return env


def _nvidia_smi() -> str | None:
    query = "driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw"
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def apply_cpu_settings(threads: int) -> None:
    """Fix what changes CPU timings, so every case and every run sees the same settings."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)
