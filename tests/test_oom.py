"""The kernel's out-of-memory kill count (a2bench.run.oom), read from fake cgroup files."""

from __future__ import annotations

from pathlib import Path

from a2bench.run.oom import killed_for_memory, oom_kills

EVENTS = "low 0\nhigh 0\nmax 4\noom 3\noom_kill {}\noom_group_kill 0\n"


def _proc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cgroup"
    path.write_text(text)
    return path


def test_cgroup_v2_reads_its_own_kills_where_the_kernel_has_them(tmp_path):
    root = tmp_path / "fs"
    where = root / "user.slice" / "run.scope"
    where.mkdir(parents=True)
    (where / "memory.events").write_text(EVENTS.format(7))  # its subtree's too
    proc = _proc(tmp_path, "0::/user.slice/run.scope\n")
    assert oom_kills(proc, root) == 7  # (a kernel before 5.2 has no .local)
    (where / "memory.events.local").write_text(EVENTS.format(2))
    assert oom_kills(proc, root) == 2


def test_cgroup_v1_reads_the_memory_controllers_count(tmp_path):
    # a hybrid machine's lines: v2's hierarchy without the memory controller (no memory.events
    # under it), v1's memory controller mounted beside the others
    root = tmp_path / "fs"
    where = root / "memory" / "jobs" / "42"
    where.mkdir(parents=True)
    (where / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")
    proc = _proc(tmp_path, "9:name=systemd:/\n5:cpu,cpuacct:/jobs/42\n4:memory:/jobs/42\n0::/\n")
    assert oom_kills(proc, root) == 5


def test_no_count_to_read_is_none(tmp_path):
    root = tmp_path / "fs"
    root.mkdir()
    assert oom_kills(tmp_path / "missing", root) is None  # not Linux
    proc = _proc(tmp_path, "0::/\n4:memory:/gone\n")  # the root's, and a cgroup not mounted
    assert oom_kills(proc, root) is None
    (root / "memory.events").write_text("low 0\noom 0\n")  # a kernel without the counter
    assert oom_kills(proc, root) is None
    assert oom_kills(_proc(tmp_path, "not a cgroup line\n"), root) is None


def test_a_count_that_rose_is_a_kill_for_memory():
    assert killed_for_memory(3, 4) is True
    assert killed_for_memory(3, 3) is False
    assert killed_for_memory(None, 3) is None and killed_for_memory(3, None) is None
