"""A plugin's mistakes in its spec are one line naming the plugin's file and line, found when it
registers or when the suite is read, before anything is measured or written:

1. a Param check (or a shape_checks rule) that returns a bool rather than None or a phrase;
2. a cost() a2bench cannot call as cost(case), or as cost(case, backend=...) where the block's
   backend() reports the kernel that ran; a module() it cannot call as module(case), or that
   returns no module; an expected_backend() that raises;
3. choices that are not words, a constant default outside its parameter's values;
4. two specs of one name in one file;
5. a plugin that registers no block, named where a suite asks for a block no one registered;
6. a module plugin whose own import of a missing module begins with the plugin's name.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import cli
from plugins_here import with_plugins

from a2bench import plugins
from a2bench.case import Case
from a2bench.cost import Cost, elementwise
from a2bench.errors import InputError
from a2bench.plugins import load_one
from a2bench.registry import REGISTRY, BlockSpec, Param, SpecError, register
from a2bench.suite import SuiteError, parse_suite

HERE = Path(__file__).resolve()

# docs/your-block.md's token mixer, small: a test writes its spec's own lines at {spec}
PLUGIN = '''\
from torch import nn

from a2bench.cost import Cost, elementwise
from a2bench.registry import BlockSpec, Param, register


class Mixer(nn.Module):
    def __init__(self, positions):
        super().__init__()
        self.mix = nn.Linear(positions, positions)

    def forward(self, x):
        return x + self.mix(x.flatten(2)).view_as(x)


{register}
class MixerSpec(BlockSpec):
    name = "s27_mixer"
{spec}
    def module(self, case):
        return Mixer(case.positions)
'''
SUITE = "name: s\nblocks: [s27_mixer]\nthreads: 1\nparams: {channels: [4], h: [4], w: [4]}\n"


def _plugin(tmp_path: Path, spec: str, register_line: str = "@register") -> Path:
    path = tmp_path / "mixer.py"
    path.write_text(PLUGIN.format(register=register_line, spec=textwrap.indent(
        textwrap.dedent(spec), "    ")))
    return path


def _line(path: Path, text: str) -> int:
    """The first line of `path` holding `text` (a decorated class or function is placed at
    its first decorator, as inspect and a2bench's messages place it)."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _run(tmp_path: Path, plugin: Path, child: bool = False):
    """`a2bench run` of SUITE with the plugin: in this process (plugins_here), or a child's
    where the test is the file's end-to-end exit status and one line."""
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE)
    args = ("run", str(suite), "--out", str(tmp_path / "out"), "--time-budget", "0.02",
            "--calibration-time", "0.01", "--no-progress")
    if child:
        return cli(*args, env={"A2BENCH_PLUGINS": str(plugin)})
    return with_plugins(plugin, *args)


def _one_line(done) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


# --- 1. a check that returns a bool --------------------------------------------------------


def _spec(**attrs):
    return type("Spec", (BlockSpec,), {"name": "s27_spec", "module": lambda self, c: None,
                                       **attrs})


def test_a_check_that_returns_a_bool_is_the_blocks_mistake_either_way(scratch_registry):
    # `p["k"] <= 4` had refused every valid case as the suite's ("params.k: True") and let
    # k = 8 through (False reads as valid)
    spec = REGISTRY[register(_spec(params=(Param("k", 2, "k", check=lambda p: p["k"] <= 4),)
                                   )).name]
    line = inspect.currentframe().f_lineno - 2  # type: ignore[union-attr]
    for k, said in ((2, "True"), (8, "False")):
        with pytest.raises(SpecError) as e:
            spec.problems({"k": k})
        assert str(e.value) == (
            f"block s27_spec: parameter k's check returned {said}; expected None for a valid "
            "case, else why not as one phrase \"expected ..., got ...\" (e.g. lambda p: None "
            f"if p[\"k\"] <= 4 else f\"expected at most 4, got {{p['k']}}\") (at {HERE}:{line})")
    shape = REGISTRY[register(_spec(shape_checks=(("t", lambda v: v["t"] == 1),))).name]
    with pytest.raises(SpecError, match=r"shape_checks' rule on t returned True; .* p\[\"t\"\]"):
        shape.problems({"t": 1})
    # None, a phrase and "" (nothing to say) are a check's answers, as before
    fine = REGISTRY[register(_spec(params=(Param("k", 2, "k", check=lambda p: None if p["k"] < 4
                                                 else "" if p["k"] == 4 else "expected less"),)
                                   )).name]
    assert fine.problems({"k": 2}) == fine.problems({"k": 4}) == []
    assert fine.problems({"k": 5}) == [("k", "expected less")]


def test_a_suite_with_a_bool_check_stops_naming_the_plugins_line(tmp_path: Path):
    plugin = _plugin(tmp_path, 'params = (Param("e", 1, "e", check=lambda p: p["e"] <= 4),)\n')
    line = _one_line(_run(tmp_path, plugin, child=True))
    assert line.startswith("a2bench: error: block s27_mixer: parameter e's check returned True; "
                           "expected None for a valid case")
    assert line.endswith(f"(at {plugin}:{_line(plugin, 'check=')})")
    assert not (tmp_path / "out").exists()


# --- 2. cost()'s signature ------------------------------------------------------------------


@pytest.mark.parametrize(("cost", "said"), [
    ("def cost(self):\n    return None\n", "cost(self) cannot be called as cost(case); "
     "expected def cost(self, case) returning a Cost"),
    ("def cost(self, case, extra):\n    return None\n", "cost(self, case, extra) cannot be "
     "called as cost(case); expected def cost(self, case)"),
    ("@property\ndef cost(self):\n    return None\n", "cost is a property; expected a method "
     "def cost(self, case) returning a Cost"),
    ("@staticmethod\ndef cost(case):\n    return None\n", "cost is a staticmethod; expected a "
     "method def cost(self, case)"),
    ("cost = 42\n", "cost is 42, not a method; expected a method def cost(self, case)"),
    # backend() reports the kernel that ran, which is passed back as backend=: without it
    # the case had been measured and then stopped the run, leaving a folder a rerun refused
    ("def backend(self, module, x):\n    return 'onednn'\n\n"
     "def cost(self, case):\n    return None\n", "cost(self, case) cannot be called as "
     "cost(case, backend=...); expected def cost(self, case, backend=\"\") returning a Cost "
     "(its backend() names the kernel that ran, which a2bench passes back to cost() as "
     "backend=)"),
    ("def backend(self, module, x):\n    return 'onednn'\n\n"
     "def cost(self, case, backend):\n    return None\n", "cost(self, case, backend) cannot be "
     "called as cost(case, backend=...)"),
])
def test_a_cost_a2bench_cannot_call_is_refused_where_it_is_defined(tmp_path: Path, cost, said,
                                                                   scratch_registry):
    plugin = _plugin(tmp_path, cost)
    with pytest.raises(InputError) as e:
        load_one(str(plugin))
    where = (_line(plugin, "@register") if cost.startswith("cost =") else
             _line(plugin, "def cost") - cost.startswith("@"))
    assert str(e.value).startswith(f"A2BENCH_PLUGINS: mixer.py: block spec s27_mixer "
                                   f"({plugin}:{where}): {said}")
    assert "s27_mixer" not in REGISTRY


@pytest.mark.parametrize(("module", "said"), [
    ("def module(self):\n    return Mixer(16)\n", "module(self) cannot be called as "
     "module(case); expected def module(self, case) returning the nn.Module for a case"),
    ("def module(self, case, extra):\n    return Mixer(16)\n", "module(self, case, extra) "
     "cannot be called as module(case)"),
    ("@property\ndef module(self):\n    return Mixer(16)\n", "module is a property; expected "
     "def module(self, case)"),
])
def test_a_module_a2bench_cannot_call_is_refused_where_it_is_defined(tmp_path: Path, module,
                                                                     said, scratch_registry):
    # every case had run to status error with a TypeError naming a2bench's registry.py
    plugin = _plugin(tmp_path, "")
    text = plugin.read_text().replace("    def module(self, case):\n        return "
                                      "Mixer(case.positions)\n",
                                      textwrap.indent(module, "    "))
    plugin.write_text(text)
    with pytest.raises(InputError) as e:
        load_one(str(plugin))
    where = _line(plugin, "def module") - module.startswith("@")
    assert str(e.value).startswith(f"A2BENCH_PLUGINS: mixer.py: block spec s27_mixer "
                                   f"({plugin}:{where}): {said}")
    assert "s27_mixer" not in REGISTRY


@pytest.mark.parametrize("module", [
    "@staticmethod\ndef module(case):\n    return nn.Identity()\n",
    "@classmethod\ndef module(cls, case):\n    return nn.Identity()\n",
    "def module(self, *args, **kwargs):\n    return nn.Identity()\n",
    "module = lambda self, case: nn.Identity()\n"])
def test_a_module_a2bench_can_call_registers(scratch_registry, module):
    from torch import nn

    namespace: dict = {}
    exec(module, {"nn": nn}, namespace)
    spec = REGISTRY[register(_spec(module=namespace["module"])).name]
    assert isinstance(spec.module(Case("s27_spec", "cpu", "float32", 1, 4, 1, 4, 4)), nn.Module)


def test_a_backend_without_backend_in_cost_stops_before_anything_is_measured(tmp_path: Path):
    plugin = _plugin(tmp_path, "def backend(self, module, x):\n    return 'onednn'\n\n"
                     "def cost(self, case):\n    n = case.batch * case.channels * "
                     "case.positions\n    return Cost((elementwise('r', n, n),), "
                     "case.dtype_bytes)\n")
    line = _one_line(_run(tmp_path, plugin))
    assert f"block spec s27_mixer ({plugin}:{_line(plugin, 'def cost')}): cost(self, case) " \
        "cannot be called as cost(case, backend=...)" in line
    assert not (tmp_path / "out").exists()  # nothing measured, nothing written


def test_an_expected_backend_that_raises_stops_naming_the_plugins_line(tmp_path: Path):
    # the check before the calibration reads it (Sweep._check_costs, through expected_cost):
    # it had been a traceback, where a cost() that raises is one line at its own line
    plugin = _plugin(tmp_path, "def expected_backend(self, case, threads=1):\n"
                     "    raise RuntimeError('no kernel')\n\n"
                     "def cost(self, case, backend=''):\n    n = case.batch * case.channels * "
                     "case.positions\n    return Cost((elementwise('r', n, n),), "
                     "case.dtype_bytes)\n")
    line = _one_line(_run(tmp_path, plugin))
    assert line == ("a2bench: error: block s27_mixer: its expected_backend() failed at s27_mixer "
                    "b1 c4 4x4: RuntimeError: no kernel "
                    f"(at {plugin}:{_line(plugin, 'no kernel')})")
    assert not (tmp_path / "out").exists()  # nothing measured, nothing written


@pytest.mark.parametrize("cost", [
    "def cost(self, case, backend=''):", "def cost(self, case, **kernel):",
    "def cost(self, *args, **kwargs):"])
def test_a_cost_that_takes_backend_registers_with_a_backend(scratch_registry, cost):
    namespace: dict = {}
    exec(textwrap.dedent(f"""
        def backend(self, module, x):
            return "onednn"

        {cost}
            return Cost((elementwise("r", 1, 1),), 4)
    """), {"Cost": Cost, "elementwise": elementwise}, namespace)
    register(_spec(**namespace))
    assert REGISTRY["s27_spec"].has_cost


def test_an_expected_backend_alone_may_keep_a_cost_without_backend(scratch_registry):
    # the kernel expected_backend() names is known before anything runs: a spec that names
    # none ("") is called cost(case), as tests/test_plugin_block.py's toy is; one that names
    # one fails in the check before the calibration, at its own cost's line, not a2bench's
    from a2bench.catalog import expected_cost

    def cost(self, case):
        return Cost((elementwise("r", 1, 1),), case.dtype_bytes)

    line = inspect.getsourcelines(cost)[1]
    case = Case("s27_spec", "cpu", "float32", 1, 4, 1, 4, 4)
    register(_spec(expected_backend=lambda self, case, threads=1: "", cost=cost))
    assert expected_cost(case).macs == 0
    register(_spec(expected_backend=lambda self, case, threads=1: "onednn", cost=cost))
    with pytest.raises(InputError, match=rf"unexpected keyword argument 'backend' \(at "
                       rf"{HERE}:{line}\)"):
        expected_cost(case)


def test_a_block_that_reports_its_kernel_is_given_backend_before_the_calibration(
        scratch_registry):
    # Sweep._check_costs reads expected_cost: a block with backend() is called there with
    # backend= as its records will be, so a cost() set on the spec after it registered (past
    # register's check) fails before anything is measured
    from a2bench.catalog import expected_cost

    seen = []

    class Kernel(BlockSpec):
        name = "s27_spec"

        def module(self, case):
            return None

        def backend(self, module, x):
            return "onednn"

        def cost(self, case, backend="unset"):
            seen.append(backend)
            return Cost((elementwise("r", 1, 1),), case.dtype_bytes)

    spec = REGISTRY[register(Kernel).name]
    case = Case("s27_spec", "cpu", "float32", 1, 4, 1, 4, 4)
    expected_cost(case)
    assert seen == [""]
    spec.cost = lambda case: Cost((), 4)  # type: ignore[method-assign]
    with pytest.raises(InputError, match="unexpected keyword argument 'backend'"):
        expected_cost(case)


@pytest.mark.parametrize("cost", ["", "def cost(self, case):\n    return Cost((), 4)\n"])
def test_a_module_that_returns_none_stops_before_anything_is_written(tmp_path: Path, cost):
    # it had stopped the sweep only at the overhead's timing, after the calibration, leaving
    # an environment.json that refused the fixed block's rerun into the same --out ("already
    # holds a sweep; pass --resume")
    plugin = _plugin(tmp_path, cost).read_text().replace("return Mixer(case.positions)",
                                                         "Mixer(case.positions)")
    path = tmp_path / "mixer.py"
    path.write_text(plugin)
    line = _one_line(_run(tmp_path, path))
    assert line == ("a2bench: error: block s27_mixer: its module() returned NoneType at "
                    "s27_mixer b1 c4 4x4; expected an nn.Module instance, e.g. return "
                    f"MyBlock(case.channels) ({path}:{_line(path, '@register')})")
    assert not (tmp_path / "out").exists()


# --- 3. choices and defaults ----------------------------------------------------------------


@pytest.mark.parametrize(("param", "said"), [
    (Param("e", 1, "e", choices=(1, 2, 4)),  # had crashed `list` and the suite with a traceback
     "choices: expected a tuple of words, e.g. choices=(\"relu\", \"gelu\"), got (1, 2, 4); an "
     "integer parameter takes no choices: its allowed values go in check="),
    (Param("act", "relu", "act", choices="relu"), "choices: expected a tuple of words"),
    (Param("act", "relu", "act", choices=("relu", "")), "choices: expected a tuple of words"),
    # a default outside its values had been blamed on every suite that left it out
    (Param("act", "relu", "act", choices=("gelu", "silu")),
     "default 'relu': expected one of its choices (gelu, silu)"),
    (Param("e", "1", "e"), "default '1': expected a positive integer, a word with "
     "choices=(...), or a rule such as lambda p: p[\"channels\"] // 4"),
    (Param("e", None, "e"), "default None: expected a positive integer"),
    (Param("e", 0, "e"), "default 0: expected a positive integer"),
    (Param("e", True, "e"), "default True: expected a positive integer"),
])
def test_choices_are_words_and_a_default_is_one_of_its_values(scratch_registry, param, said):
    cls = _spec(params=(param,))
    with pytest.raises(SpecError) as e:
        register(cls)
    assert str(e.value).startswith("block spec s27_spec (") and \
        f"): Param {param.name!r}: {said}" in str(e.value)


def test_good_choices_and_defaults_register(scratch_registry):
    register(_spec(params=(Param("act", "gelu", "act", choices=("gelu", "silu")),
                           Param("k", lambda p: p["channels"] // 4, "k"),
                           Param("e", 2, "e"))))
    assert [p.name for p in REGISTRY["s27_spec"].params] == ["act", "k", "e"]


def test_a_good_spec_registers_without_reading_its_source(scratch_registry, monkeypatch):
    # The line a mistake names is looked up for the mistake alone: each Param had looked it up
    # (inspect parses the module's source), 0.2 s of CPU in every process the built-ins load in.
    from a2bench import registry

    looked_up: list[object] = []
    monkeypatch.setattr(registry, "_where", lambda cls: looked_up.append(cls) or "here")
    register(_spec(params=(Param("act", "gelu", "act", choices=("gelu", "silu")),
                           Param("e", 2, "e"))))
    assert looked_up == []
    with pytest.raises(SpecError, match=r"block spec s27_spec \(here\): Param 'e': default 0"):
        register(_spec(params=(Param("e", 0, "e"),)))


def test_int_choices_are_one_line_in_list(tmp_path: Path):
    plugin = _plugin(tmp_path, 'params = (Param("e", 1, "e", choices=(1, 2, 4)),)\n')
    done = with_plugins(plugin, "list")
    assert _one_line(done).startswith(f"a2bench: error: A2BENCH_PLUGINS: mixer.py: block spec "
                                      f"s27_mixer ({plugin}:{_line(plugin, '@register')}"
                                      "): Param 'e': choices: expected a tuple of words")


# --- 4. one name twice in one file ----------------------------------------------------------


def test_two_specs_of_one_name_in_one_file_are_refused(tmp_path: Path, scratch_registry):
    # the second had replaced the first, unsaid
    plugin = _plugin(tmp_path, "")
    plugin.write_text(plugin.read_text() + textwrap.dedent("""

        @register
        class Other(BlockSpec):
            name = "s27_mixer"

            def module(self, case):
                return Mixer(case.positions)
    """))
    with pytest.raises(InputError) as e:
        load_one(str(plugin))
    assert str(e.value) == (
        f"A2BENCH_PLUGINS: mixer.py: block spec Other ({plugin}:{_line(plugin, 'class Other') - 1}"
        f"): name 's27_mixer' is taken by block spec MixerSpec ({plugin}:"
        f"{_line(plugin, '@register')}); expected each block in a file to have a name of its "
        "own")


def test_a_notebook_cell_run_again_replaces_its_block(scratch_registry):
    # a cell's class lives in __main__: run again, perhaps renamed, it replaces its block
    first = _spec()
    first.__module__ = "__main__"
    register(first)
    again = type("Renamed", (BlockSpec,), {"name": "s27_spec", "__module__": "__main__",
                                            "module": lambda self, c: None})
    register(again)
    assert type(REGISTRY["s27_spec"]) is again


# --- 5. a plugin that registers no block ------------------------------------------------------


def test_a_plugin_that_registers_nothing_is_named_where_its_block_is_missing(
        tmp_path: Path, monkeypatch, scratch_registry):
    # the hint had said to name the file in A2BENCH_PLUGINS, where it was named already. A
    # plugin may register nothing by design (scripts/slowdown_plugin.py wraps others' blocks),
    # so it loads without a word, and is named only where a suite lacks a block
    monkeypatch.setattr(plugins, "REGISTERED", {})
    suite = {"name": "x", "blocks": ["s27_mixer"], "params": {"channels": [4], "h": [4],
                                                               "w": [4]}}
    plugin = _plugin(tmp_path, "", register_line="")
    load_one(str(plugin))
    with pytest.raises(SuiteError) as e:
        parse_suite(suite)
    assert str(e.value).endswith(
        f"or one a plugin registers: name its file in A2BENCH_PLUGINS (plugin {plugin} loaded "
        "but registered no block: missing @register?), got 's27_mixer'")
    load_one("json")  # a module imported long before: registered nothing either
    load_one(str(plugin))  # loaded again: still nothing
    assert plugins.quiet_plugins() == [str(plugin), "json"]


def test_a_plugin_that_registers_keeps_the_plain_hint(tmp_path: Path, monkeypatch,
                                                       scratch_registry):
    monkeypatch.setattr(plugins, "REGISTERED", {})
    plugin = _plugin(tmp_path, "")
    load_one(str(plugin))
    load_one(str(plugin))  # loaded again (the CLI, then the catalog): its block still counts
    assert dict(plugins.REGISTERED) == {str(plugin): ("s27_mixer",)}
    with pytest.raises(SuiteError, match=r"or one a plugin registers: name its file in "
                       r"A2BENCH_PLUGINS, got 'nothing_of_that_name'"):
        parse_suite({"name": "x", "blocks": ["nothing_of_that_name"],
                     "params": {"channels": [4], "h": [4], "w": [4]}})


# --- 6. a missing import whose name begins the plugin's ---------------------------------------


def test_a_module_plugins_missing_import_is_not_the_plugin_missing(tmp_path: Path,
                                                                   monkeypatch):
    (tmp_path / "s27mixer_blocks.py").write_text("import json\nimport s27mixer\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "s27mixer_blocks", raising=False)
    with pytest.raises(InputError) as e:
        load_one("s27mixer_blocks")
    assert str(e.value) == ("A2BENCH_PLUGINS: s27mixer_blocks: failed to import: "
                            "ModuleNotFoundError: No module named 's27mixer' (line 2)")
    for missing in ("s27mixer", "s27mixer.blocks"):  # the plugin, or a package above it
        with pytest.raises(InputError, match=rf"^A2BENCH_PLUGINS: {missing}: no such module"):
            load_one(missing)
