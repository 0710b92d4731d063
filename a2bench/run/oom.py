"""The kernel's count of out-of-memory kills in this process's memory cgroup, where the runner's
workers run (a spawned child starts in its parent's cgroup, and a2bench moves none).

A worker that died by SIGKILL while the count rose was killed for memory; one that died while it
stood still was killed by someone else (kill -9, scancel --signal=KILL, a watchdog). The kernel
counts the kill before it sends the signal (mm/oom_kill.c: "Raise event before sending signal"),
so the count read once the worker is gone has it. Linux only; no torch here.
"""

from __future__ import annotations

from pathlib import Path

PROC_CGROUP = Path("/proc/self/cgroup")
CGROUPS = Path("/sys/fs/cgroup")
# cgroup v2: this cgroup's own kills (memory.events.local, kernel 5.2 on), else its subtree's
# (memory.events, 4.19 on); cgroup v1: its memory controller's memory.oom_control (4.13 on)
V2_FILES = ("memory.events.local", "memory.events")
V1_FILE = "memory.oom_control"


def oom_kills(proc: Path = PROC_CGROUP, root: Path = CGROUPS) -> int | None:
    """The oom_kill count of the memory cgroup that /proc/self/cgroup (`proc`) names, read under
    the cgroup mount `root`; None where none can be read (not Linux, no memory controller, a
    kernel older than the counter, a cgroup mounted elsewhere): then who killed cannot be told."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    for line in lines:  # "hierarchy-ID:controllers:path", v1's and v2's lines side by side
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.lstrip("/")  # (a leading "/" would make the join drop `root`)
        if controllers == "":  # the unified (v2) hierarchy: "0::/path"
            files = [root / rel / name for name in V2_FILES]
        elif "memory" in controllers.split(","):
            files = [root / "memory" / rel / V1_FILE]
        else:
            continue
        for file in files:
            if (count := _oom_kill(file)) is not None:
                return count
    return None


def _oom_kill(file: Path) -> int | None:
    try:
        text = file.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def killed_for_memory(before: int | None, after: int | None) -> bool | None:
    """Whether the count rose from `before` to `after` (oom_kills() read before the worker's
    request and after it died); None where either could not be read."""
    return None if before is None or after is None else after > before
