"""The shape of the package: module sizes and its import graph, function-level imports counted.

A circle of imports makes every module in it load, test and change together; a module that
imports the CLI makes the command line a library. Both are checked on the source, not by
importing it, so a lazy import inside a function counts like one at the top.
"""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_pythonpath

PACKAGE = Path(__file__).resolve().parent.parent / "a2bench"
MAX_LINES = 600
MAX_CLI_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:`, which never run."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports(name: str) -> set[str]:
    """The a2bench modules `name` imports anywhere in its source (a package's own submodules
    count as what `from package import submodule` names)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package up
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    found.add(sub)
                elif base in MODULES:
                    found.add(base)
    found.discard(name)
    return found


GRAPH = {name: imports(name) for name in MODULES}


def test_the_graph_sees_lazy_imports():
    # The worker imports the blocks inside a function only: the graph must still see it.
    assert "a2bench.blocks" in GRAPH["a2bench.run.worker"]
    assert "a2bench.catalog" in GRAPH["a2bench.suite"]


def test_no_import_cycle():
    try:
        tuple(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"import cycle: {' -> '.join(e.args[1])}")


def test_nothing_imports_the_cli():
    importers = sorted(name for name, deps in GRAPH.items() if "a2bench.cli" in deps)
    assert importers == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    lines = len(MODULES[name].read_text().splitlines())
    limit = MAX_CLI_LINES if name == "a2bench.cli" else MAX_LINES
    assert lines <= limit, f"{MODULES[name]}: {lines} lines, over the house's {limit}"


def _imports_torch(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "torch"
                                                for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            return True
    return False


def test_analysis_compare_and_report_never_import_torch_or_the_blocks():
    # They read results folders; what they know of a block comes from environment.json.
    heavy = {"a2bench.blocks", "a2bench.catalog", "a2bench.run.worker", "a2bench.run.runner",
             "a2bench.measure.timing", "a2bench.measure.counters"}
    readers = [n for n in GRAPH if n.split(".")[1:2] in (["analysis"], ["compare"], ["report"])]
    assert "a2bench.analysis.load" in readers
    for name in readers:
        assert not GRAPH[name] & heavy, f"{name} imports {sorted(GRAPH[name] & heavy)}"
        assert not _imports_torch(MODULES[name]), f"{name} imports torch"


def test_a_measuring_worker_imports_neither_scipy_nor_pandas():
    """Every run spawns a worker process per pass, and the spawn re-imports the parent's main
    module (a2bench.cli): scipy.stats (0.65 s to import on this repository's VM) and pandas
    (0.3 s) had been paid by each of them, for a helper of a2bench.stats and one `a2bench audit`
    table, then scipy.stats again for the median's confidence interval, which a worker computes
    to know when to stop sampling. The worker measures a case, its interval included, without
    either."""
    code = (
        "import sys\n"
        "import a2bench.cli\n"
        "from a2bench.case import Case\n"
        "from a2bench.run.worker import Settings, measure_case\n"
        "case = Case(block='double_attention', device='cpu', dtype='float32', batch=1,\n"
        "            channels=16, t=1, h=4, w=4, params={'m': 8, 'n': 8})\n"
        "m = measure_case(case, Settings(threads=1, time_budget_s=0.2))\n"
        # a 95 % interval of the median needs 6 samples; a loaded machine fits 5 in 0.2 s
        "assert m.status == 'ok', m\n"
        "assert len(m.samples_s) < 6 or (m.latency_ci_low_s and m.latency_ci_high_s), m\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pandas')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": child_pythonpath()}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
