"""`a2bench ARGS` with A2BENCH_PLUGINS set, by a2bench.cli.main in the test's process, as in a
fresh one: the catalog loads the plugins again, and the blocks they register are gone after it.

For the tests of what a plugin's blocks give (their lines, their results), not of how a
process ends: a child had paid torch's, pandas' and scipy's imports, 3-6 s of CPU each, that
the test's process holds already. Each file keeps a child (conftest.cli) for its end-to-end
exit status. A sweep's workers are spawned all the same, and inherit A2BENCH_PLUGINS.
"""

from __future__ import annotations

import sys
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from cli_here import cli_here


def with_plugins(plugins: str | Path, *args: str) -> CompletedProcess[str]:
    from a2bench import catalog
    from a2bench.plugins import FILE_PREFIX
    from a2bench.registry import REGISTRY

    registry = dict(catalog.blocks())
    modules = set(sys.modules)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("A2BENCH_PLUGINS", str(plugins))
        patch.setattr(catalog, "_loaded", False)
        try:
            return cli_here(*args)
        finally:
            REGISTRY.clear()
            REGISTRY.update(registry)
            # a plugin file's module too: loaded once a process, it registered nothing when a
            # later call of the same file loaded it again
            for name in set(sys.modules) - modules:
                if name.startswith(FILE_PREFIX):
                    del sys.modules[name]
