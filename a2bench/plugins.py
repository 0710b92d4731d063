"""Extra blocks from user modules named in A2BENCH_PLUGINS (comma-separated import paths).

A plugin module registers a factory in a2bench.blocks.REGISTRY and a cost model in
a2bench.cost.COST_MODELS. Both the CLI process and the worker import them, so suites can name the
block and the worker can build it.
"""

from __future__ import annotations

import importlib
import os

ENV_VAR = "A2BENCH_PLUGINS"


def load_plugins() -> list[str]:
    names = [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)
    return names
