"""Extra blocks: A2BENCH_PLUGINS, the `a2bench.blocks` entry points, and this process's own.

A2BENCH_PLUGINS (comma-separated) names import paths (`mypkg.myblock`) or Python files
(`/x/myblock.py`). An installed package may declare its blocks under the entry-point group
`a2bench.blocks` instead (`[project.entry-points."a2bench.blocks"] mine = "mypkg.blocks"`). A
plugin registers its blocks with a2bench.registry.register, as the built-in block files do.

The measuring worker is a spawned process: it loads the same plugins, and also the blocks this
process registered some other way (a script or a notebook calling a2bench.sweep): `for_worker`
says where each one is defined (a module to import, a file to load) or, for a class defined in
`__main__` (a notebook cell, a script), carries the class itself, pickled by value.

A plugin that fails to import is one line (InputError), naming the plugin, the error and the
line in the plugin where it happened.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
from collections.abc import Collection, Sequence
from pathlib import Path
from types import ModuleType

from a2bench.errors import InputError

ENV_VAR = "A2BENCH_PLUGINS"
ENTRY_POINTS = "a2bench.blocks"
FILE_PREFIX = "a2bench_plugin_"  # module names of plugins loaded from a file
BUILT_IN = "a2bench.blocks"


def load_plugins(extra: Sequence[str] = ()) -> list[str]:
    """Load A2BENCH_PLUGINS, the entry points and `extra` (same forms as A2BENCH_PLUGINS)."""
    names = [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    for name in names:
        load_one(name, ENV_VAR)
    for point in _entry_points():
        _load_entry_point(point)
    for name in extra:
        load_one(name, "a block registered in the calling process")
    return names


# What each plugin loaded in this process registered (plugin as named -> block names), for the
# unknown-block message: a plugin that registers nothing is legitimate (scripts/slowdown_plugin.py
# wraps the blocks others registered), but a block a suite names that no one registered then
# points at the plugin that forgot its @register, where the plain hint said to name a file in
# A2BENCH_PLUGINS that was named already.
REGISTERED: dict[str, tuple[str, ...]] = {}


def load_one(name: str, source: str = ENV_VAR) -> None:
    """Import one plugin: a module name or a .py file; one line (InputError) if it fails."""
    from a2bench.registry import REGISTRY

    before = dict(REGISTRY)
    module_name = file_module_name(Path(name).resolve()) if name.endswith(".py") else name
    _import(name, source)
    # new specs (register makes a new instance each time), and the module's own where it had
    # been imported before this call, which then registered nothing again; kept from an
    # earlier load of the same plugin (A2BENCH_PLUGINS is loaded by the CLI and by the catalog).
    # Not the built-ins, which a plugin's first import of a2bench.blocks registers.
    REGISTERED[name] = tuple(dict.fromkeys((*REGISTERED.get(name, ()), *(
        n for n, s in REGISTRY.items()
        if not (held := type(s).__module__).startswith(BUILT_IN + ".") and (
            before.get(n) is not s or held == module_name
            or held.startswith(module_name + "."))))))


def quiet_plugins() -> list[str]:
    """The plugins loaded in this process that registered no block."""
    return [name for name, blocks in REGISTERED.items() if not blocks]


def unknown_block_hint() -> str:
    """What a suite's unknown block is expected to be, after the registered blocks' list."""
    quiet = quiet_plugins()
    # a plugin may register nothing by design (scripts/slowdown_plugin.py): the block's own file
    # missing from the list stays the first thing to check
    return (f"one a plugin registers: name its file in {ENV_VAR}"
            + (f" (plugin {', '.join(quiet)} loaded but registered no block: missing "
               "@register?)" if quiet else ""))


def _import(name: str, source: str) -> None:
    if name.endswith(".py"):
        _load_file(Path(name), source)
        return
    try:
        importlib.import_module(name)
    except InputError as e:  # an incomplete spec (registry.SpecError) says what to add
        raise InputError(f"{source}: {name}: {e}") from None
    except SystemExit as e:
        raise InputError(_exited(source, name, e)) from None
    except ModuleNotFoundError as e:
        # the plugin itself, or a package above it, is missing; a module the plugin imports
        # whose name merely begins its own (`mixer` from `mixer_blocks`) is a failed import
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise InputError(f"{source}: {name}: no such module (expected an importable module "
                             "name on sys.path, or a path to a .py file)") from None
        raise InputError(_failed(source, name, e, _origin(name))) from None
    except Exception as e:
        raise InputError(_failed(source, name, e, _origin(name))) from None


def _origin(module_name: str) -> Path | None:
    """The file a module name imports from, where it can be found without importing it."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None)
    return Path(origin).resolve() if origin and origin.endswith(".py") else None


def _load_file(path: Path, source: str) -> None:
    # One module name per file, so loading twice in a process registers once.
    resolved = path.resolve()
    module_name = file_module_name(resolved)
    if module_name in sys.modules:
        return
    if not resolved.is_file():
        raise InputError(f"{source}: {path}: no such plugin file (expected a Python file or "
                         "an importable module name)")
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        del sys.modules[module_name]  # a fixed file loads on the next try
        if isinstance(e, SystemExit):
            raise InputError(_exited(source, path.name, e)) from None
        if not isinstance(e, Exception):
            raise
        if isinstance(e, InputError):
            raise InputError(f"{source}: {path.name}: {e}") from None
        raise InputError(_failed(source, path.name, e, resolved)) from None


def _exited(source: str, name: str, e: SystemExit) -> str:
    # sys.exit() at import had ended the command with its code (0 too: a run that wrote
    # nothing read as a success) and no word
    return (f"{source}: {name}: called sys.exit({e.code!r}) while being imported; expected a "
            "module that registers its blocks and returns")


def file_module_name(resolved: Path) -> str:
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    return f"{FILE_PREFIX}{resolved.stem}_{digest}"


def _failed(source: str, name: str, e: BaseException, path: Path | None) -> str:
    message = str(e).splitlines()[0] if str(e) else ""
    if isinstance(e, SyntaxError):
        message = e.msg
    return f"{source}: {name}: failed to import: {type(e).__name__}: {message}{_line(e, path)}"


def _line(e: BaseException, path: Path | None) -> str:
    """" (line N)": where in the plugin the error arose (its innermost frame in the file, or a
    syntax error's line); "" where the plugin's own code is not on the traceback."""
    if isinstance(e, SyntaxError) and e.lineno:
        return f" (line {e.lineno})"
    if path is None:
        return ""
    own = [f for f in traceback.extract_tb(e.__traceback__)
           if Path(f.filename).resolve() == path]
    return f" (line {own[-1].lineno})" if own else ""


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    try:
        return list(importlib.metadata.entry_points(group=ENTRY_POINTS))
    except Exception:  # a broken distribution's metadata must not stop the built-in blocks
        return []


def _load_entry_point(point: importlib.metadata.EntryPoint) -> None:
    """Import the entry point's module; a BlockSpec class it names is registered too."""
    from a2bench.registry import REGISTRY, BlockSpec, register

    source, name = f"entry point {ENTRY_POINTS}", f"{point.name} = {point.value}"
    try:
        loaded = point.load()
    except InputError as e:
        raise InputError(f"{source}: {name}: {e}") from None
    except SystemExit as e:
        raise InputError(_exited(source, name, e)) from None
    except Exception as e:
        raise InputError(_failed(source, name, e, _origin(point.module))) from None
    if isinstance(loaded, type) and issubclass(loaded, BlockSpec) \
            and type(REGISTRY.get(getattr(loaded, "name", ""))) is not loaded:
        register(loaded)


def for_worker(names: Collection[str] | None = None
               ) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """What a spawned worker must load to know this process's registered blocks: those named
    in `names` (a sweep's suite's), or every one (None).

    (plugins, pickled): a module name or a file for every block defined in an importable
    module or a plugin file outside the built-ins (the worker loads A2BENCH_PLUGINS and the
    entry points itself, and loading one twice is harmless); a module loaded from its file
    under a name a fresh process cannot import is sent as its file; and each class defined in
    `__main__` (a script, a notebook), pickled by value with cloudpickle, since a worker cannot
    import a notebook. A block outside `names` that cannot be pickled is left out, not an
    error: one the suite does not use had stopped every sweep. The rest go all the same, since
    a named block may build another by name (catalog.spec) in its module()."""
    from a2bench.registry import REGISTRY

    plugins: list[str] = []
    pickled: list[bytes] = []
    for name, spec in REGISTRY.items():
        cls = type(spec)
        module_name = cls.__module__
        if module_name == BUILT_IN or module_name.startswith(BUILT_IN + "."):
            continue
        module = sys.modules.get(module_name)
        if module_name in ("__main__", "__mp_main__") or module is None:
            try:
                pickled.append(_pickle(cls))
            except InputError:
                if names is None or name in names:
                    raise
        elif (module_name.startswith(FILE_PREFIX) and getattr(module, "__file__", None)) \
                or not _importable(module):
            plugins.append(str(module.__file__))
        else:
            plugins.append(module_name)
    return tuple(dict.fromkeys(plugins)), tuple(pickled)


def _importable(module: ModuleType) -> bool:
    """Whether a fresh process importing `module`'s name finds its file: not so for a .py file
    loaded by path under a name off sys.path (importlib.util.spec_from_file_location), which a
    worker had failed to import ("no such module"). Asked of the finders as `import` asks them,
    sys.modules aside (find_spec would hand back the module's own spec). A module with no .py
    file to send is taken as importable, as before."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not file.endswith(".py"):
        return True
    name = module.__name__
    parent = sys.modules.get(name.rpartition(".")[0]) if "." in name else None
    if "." in name and parent is None:  # no package imported it: a name given to a file
        return False  # (PathFinder would look for its last part alone on sys.path)
    path = getattr(parent, "__path__", None)
    for finder in sys.meta_path:
        try:
            spec = finder.find_spec(name, path)  # type: ignore[attr-defined]
        except Exception:  # a finder without find_spec, or one that fails on this name
            continue
        if spec is not None:
            origin = spec.origin
            return bool(origin) and Path(origin).resolve() == Path(file).resolve()
    return False


def _pickle(cls: type) -> bytes:
    import cloudpickle  # a dependency of submitit, installed with a2bench

    try:
        return cloudpickle.dumps(cls)
    except Exception as e:
        raise InputError(f"block spec {getattr(cls, 'name', cls.__name__)}: cannot be sent to "
                         f"the measuring worker ({type(e).__name__}: {e}); define it in a .py "
                         "file and import it, or name the file in A2BENCH_PLUGINS") from None


def load_pickled(blobs: Sequence[bytes]) -> None:
    """Register the classes for_worker pickled (in the worker)."""
    import pickle

    from a2bench.registry import register

    for blob in blobs:
        register(pickle.loads(blob))
