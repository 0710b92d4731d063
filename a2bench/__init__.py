"""a2bench: measured cost scaling of double attention, its non-local order and the SE block.

`a2bench.sweep(suite, out=None, **options)` runs a suite from Python and returns its Results
(a2bench.api). It is loaded on first use, so `import a2bench.analysis` and the CLI's start stay
free of torch. Bad input raises `a2bench.InputError` (a ValueError; a2bench.errors), whose
message is one line, as the CLI's, naming options as keywords ("a2bench.sweep: threads=0: ...").
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["InputError", "Results", "__version__", "sweep"]

_API = ("sweep", "Results")
_ERRORS = ("InputError",)  # what sweep(), Results and their methods raise for bad input


def __getattr__(name: str) -> Any:
    # PEP 562's lazy attribute: importing the package never loads a2bench.api (which reaches
    # the runner and the report, and they import the package for __version__), so the package
    # root stays a leaf of the import graph.
    if name in _API:
        try:
            api = importlib.import_module(f"{__name__}.api")
        except KeyboardInterrupt:  # a Ctrl-C as `a2bench.sweep` is first read: before the
            # call, so nothing was stored (it had been a bare KeyboardInterrupt, a traceback
            # through the imports); the heavy ones, numpy and torch, load in the call itself
            raise KeyboardInterrupt(f"a2bench.{name}: interrupted as a2bench loaded, before "
                                    "the call began; nothing was stored: call it again") from None
        return getattr(api, name)
    if name in _ERRORS:
        return getattr(importlib.import_module(f"{__name__}.errors"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy names too: dir(a2bench) (and a notebook's completion) had not listed sweep
    return sorted({*globals(), *__all__})
