from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
A2BENCH = [sys.executable, "-m", "a2bench.cli"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow run first, in their own order, the rest after in theirs. Under
    pytest-xdist the suite's wall time is its last worker's: two end-to-end tests of 50-100 s
    that collected last (test_slurm.py, test_your_block.py) could run alone at the end while
    the other worker sat idle. Started first, they share the workers and the short tests fill
    in beside them (make test also lets an idle worker steal: --dist worksteal). A
    deterministic sort: every worker collects alike."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def child_pythonpath() -> str:
    """The tests' plugins first, then the checkout and whatever the caller had: the GPU machine
    runs the project from its checkout with the carried wheels on PYTHONPATH, uninstalled."""
    return os.pathsep.join(filter(None, (str(ROOT / "tests"), str(ROOT),
                                         os.environ.get("PYTHONPATH"))))


def refusals_in_a_child(argvs: list[list[str]], env: dict[str, str] | None = None
                        ) -> list[list]:
    """Each `a2bench argv` run by main() in one child, in turn: [its exit code, what it said on
    stderr, which of pandas, scipy and torch the child had loaded by then]. For refusals that
    must come before those imports: a child, so nothing this process loaded counts."""
    code = ("import contextlib, io, json, sys; from a2bench.cli import main\n"
            f"for argv in {argvs!r}:\n"
            "    err = io.StringIO()\n"
            "    with contextlib.redirect_stderr(err): code = main(argv)\n"
            "    loaded = [m for m in ('pandas', 'scipy', 'torch') if m in sys.modules]\n"
            "    print(json.dumps([code, err.getvalue().strip(), loaded]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": child_pythonpath(), **(env or {})},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as a user would."""
    full_env = {**os.environ, "PYTHONPATH": child_pythonpath(), **(env or {})}
    return subprocess.run([*A2BENCH, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=cwd)


@contextlib.contextmanager
def held_elsewhere(folder: Path, doing: str = "a2bench run") -> Iterator[str]:
    """`folder`'s lock held by another process, as a live sweep holds it (run.lock.holding);
    yields the holder's line, "a2bench run (pid N, since T)". A lock this process holds is its
    own, which readers never name, so a live writer is simulated in a child."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom a2bench.run.lock import holding\n"
         "with holding(sys.argv[1], sys.argv[2]):\n    print('held', flush=True)\n"
         "    sys.stdin.read()\n", str(folder), doing],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": child_pythonpath()})
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "held\n"
        yield (Path(folder) / ".a2bench.lock").read_text().strip()
    finally:
        child.stdin.close()  # its read ends, and it lets the lock go
        child.wait(timeout=60)


def softmax_calls(module, x) -> list[tuple]:
    """(input, dim, output) of every torch.softmax a no-grad forward makes, in order: how the
    tests check which axis each softmax normalises over."""
    import torch

    calls: list[tuple] = []
    real = torch.softmax

    def spy(t, dim, *a, **k):
        out = real(t, dim, *a, **k)
        calls.append((t, dim, out))
        return out

    torch.softmax = spy
    try:
        with torch.no_grad():
            module(x)
    finally:
        torch.softmax = real
    return calls


@pytest.fixture
def one_thread():
    """torch pinned to one thread for the test: the memory models count one thread's scratch
    (SDPA's flash kernel keeps a buffer per thread; more threads add kernels' scratch)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def scratch_registry():
    """Blocks a test registers in this process are gone after it."""
    from a2bench.catalog import blocks
    from a2bench.registry import REGISTRY

    blocks()  # the built-ins first, so that they are kept
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


@pytest.fixture
def write_suite(tmp_path: Path):
    def _write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


# ---------------------------------------------------------------------------------------------
# A real one-node Slurm (scripts/slurm-up.sh) for the tests marked slurm

SLURM_PACKAGES = "apt-get install --no-install-recommends slurmctld slurmd slurm-client munge"
SLURM_DAEMONS = ("/usr/sbin/slurmctld-wlm", "/usr/sbin/slurmd-wlm", "/usr/sbin/munged")


@pytest.fixture(scope="session")
def slurm_env():
    """The environment of a running one-node Slurm with partitions debug, h100 and a100; the
    tests that use it skip, saying why, where the packages are not installed."""
    yield from _test_slurm(nodes=1)


@pytest.fixture(scope="session")
def slurm_two_nodes():
    """As slurm_env, with two nodes, node1 and node2, each slurmd in a UTS namespace of its own
    (so a job reads its node's name as its hostname), sharing this machine."""
    yield from _test_slurm(nodes=2)


def _test_slurm(nodes: int):
    import shutil
    import tempfile

    missing = [p for p in SLURM_DAEMONS if not Path(p).exists()]
    if missing or shutil.which("sbatch") is None:
        pytest.skip(f"no Slurm here ({', '.join(missing) or 'sbatch'} missing); install it "
                    f"with {SLURM_PACKAGES}")
    if os.geteuid() != 0:
        pytest.skip("the test Slurm runs its daemons as root")
    if nodes > 1 and (shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--uts", "true"], capture_output=True, check=False).returncode != 0):
        pytest.skip("the two-node test Slurm runs each slurmd in a UTS namespace of its own, "
                    "and unshare --uts is not permitted here")
    # munged wants every folder above its socket world-executable; pytest's tmp_path is 0700.
    folder = Path(tempfile.mkdtemp(prefix="a2bench-slurm-"))
    folder.chmod(0o755)
    # Each pytest-xdist worker starts a cluster of its own, on its own ports.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    # ports: the controller's, then one a node, 5 apart for the two clusters of a worker
    port = 16817 + 10 * index + 5 * (nodes - 1)
    env = {**os.environ, "SLURM_CI_DIR": str(folder), "SLURM_CI_PORT": str(port),
           "SLURM_CI_NODES": str(nodes)}
    up = subprocess.run(["bash", str(ROOT / "scripts" / "slurm-up.sh")], env=env,
                        capture_output=True, text=True, timeout=120)
    if up.returncode != 0:
        subprocess.run(["bash", str(ROOT / "scripts" / "slurm-down.sh")], env=env, timeout=60)
        pytest.fail(f"the test Slurm did not start: {up.stderr.strip()[-2000:]}")
    yield {"SLURM_CONF": str(folder / "slurm.conf"),
           "PATH": f"{folder / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "A2BENCH_SLURM_POLL_S": "1"}
    subprocess.run(["bash", str(ROOT / "scripts" / "slurm-down.sh")], env=env, timeout=60)
    shutil.rmtree(folder, ignore_errors=True)
