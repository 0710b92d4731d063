"""Extra blocks from the modules or files named in A2BENCH_PLUGINS (comma-separated).

Each entry is an import path (`mypkg.myblock`) or a path to a Python file (`/x/myblock.py`). A
plugin registers its blocks with a2bench.registry.register, as the built-in block files do.
Both the CLI process and the worker load them, so suites can name the block and the worker can
build it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from a2bench.errors import InputError

ENV_VAR = "A2BENCH_PLUGINS"


def load_plugins() -> list[str]:
    names = [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    for name in names:
        if name.endswith(".py"):
            _load_file(Path(name))
        else:
            importlib.import_module(name)
    return names


def _load_file(path: Path) -> None:
    # One module name per file, so loading twice in a process registers once.
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"a2bench_plugin_{resolved.stem}_{digest}"
    if module_name in sys.modules:
        return
    if not resolved.is_file():
        raise InputError(f"{ENV_VAR}: {path}: no such plugin file (expected a Python file or "
                         "an importable module name)")
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
