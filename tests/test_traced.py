"""Counted blocks traced without storage (measure/traced.py): the MACs and bytes auto sizes
plan with where a block has no cost model, checked against the built-in blocks' exact models
and against the CPU's measured peaks."""

from __future__ import annotations

import signal

import pytest
from conftest import cli
from plugins_here import with_plugins
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from a2bench.blocks import build
from a2bench.case import Case
from a2bench.catalog import cost_of, spec
from a2bench.measure.memory import peak_tensor_bytes_cpu, warm_peak_cpu
from a2bench.measure.step import make_step
from a2bench.measure.traced import NotTraceable, trace
from a2bench.registry import BlockSpec, Param, register
from a2bench.run import autosize
from a2bench.run import plan as pl
from a2bench.suite import auto_templates, parse_suite

BLOCKS = [("double_attention", {"m": 32, "n": 16}), ("nonlocal_right", {"m": 32, "n": 16}),
          ("se", {}), ("gc", {}), ("criss_cross", {}), ("nonlocal", {})]


def resolved(block: str, side: int, mode: str, **given: object) -> Case:
    shape = Case(block, "cpu", "float32", 2, 64, 1, side, side, given, mode=mode)
    return Case(block, "cpu", "float32", 2, 64, 1, side, side,
                spec(block).resolve(shape.to_dict()), mode=mode)


def measured_peak(case: Case) -> int:
    module, x = build(case)
    return warm_peak_cpu(make_step(module, x, case.mode))  # as the worker's memory probe


@pytest.mark.parametrize(("block", "given"), BLOCKS)
def test_a_forward_trace_is_the_measured_peak_and_the_models_macs(block, given, one_thread):
    for side in (8, 12):
        case = resolved(block, side, "forward", **given)
        traced, model = trace(case), cost_of(case)
        assert traced.macs == model.macs
        assert traced.largest_activation_bytes == model.largest_activation_bytes
        assert traced.live_peak_bytes == measured_peak(case)
        assert traced.parameter_bytes == 4 * sum(p.numel() for p in build(case)[0].parameters())


@pytest.mark.parametrize(("block", "given", "low", "high"), [
    ("nonlocal_right", {"m": 32, "n": 16}, 1.0, 1.0), ("criss_cross", {}, 1.0, 1.0),
    # under any Python dispatch mode autograd does not sum x's gradient in place: one x more
    ("double_attention", {"m": 32, "n": 16}, 1.1, 1.25), ("se", {}, 1.25, 1.4),
    ("gc", {}, 1.25, 1.4),
    # kernels' own scratch in the backward pass, which runs below the dispatcher
    ("nonlocal", {}, 0.8, 0.9)])
def test_a_train_trace_counts_the_models_macs_and_comes_near_the_peak(block, given, low, high,
                                                                       one_thread):
    case = resolved(block, 12, "train", **given)
    traced = trace(case)
    assert traced.macs == cost_of(case).macs
    assert low <= traced.live_peak_bytes / measured_peak(case) <= high


class DoNothing(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(("block", "given"), [b for b in BLOCKS if b[0] != "nonlocal"])
def test_a_train_trace_is_the_cpu_peak_under_a_dispatch_mode(block, given, one_thread):
    # What the trace misses is the mode's own effect on autograd, not the counting: under a
    # do-nothing mode the CPU's measured peak is the trace's, byte for byte. (The non-local
    # block's backward kernels allocate scratch below the dispatcher, which no mode sees.)
    case = resolved(block, 12, "train", **given)
    module, x = build(case)
    step = make_step(module, x, case.mode)
    step.run()
    step.release()

    def observed() -> None:
        with DoNothing():
            step.run()

    assert trace(case).live_peak_bytes == peak_tensor_bytes_cpu(observed)


class Mixer(nn.Module):
    """Token mixing over the N positions: weights N x N, work N^2 per channel."""

    def __init__(self, positions: int):
        super().__init__()
        self.mix = nn.Linear(positions, positions)

    def forward(self, x):
        return x + self.mix(x.flatten(2)).view_as(x)


class Scalar(nn.Module):
    """A forward that reads a value: the meta device has none."""

    def forward(self, x):
        return x * float(x.mean())


class Scale(nn.Module):
    def forward(self, x):
        return x * 2


def _register(name: str, make) -> None:
    register(type(f"{name}Spec", (BlockSpec,), {
        "name": name, "params": (Param("unused", 1, "nothing"),),
        "module": lambda self, case: make(case)}))


def test_a_counted_block_is_traced_with_its_weights_and_planned(scratch_registry):
    _register("mixer", lambda case: Mixer(case.positions))
    case = Case("mixer", "cpu", "float32", 1, 8, 1, 64, 64, unused=1)
    traced = trace(case)
    n = 64 * 64
    assert traced.macs == 8 * n * n  # channels x N x N
    assert traced.parameter_bytes == 4 * (n * n + n)  # 64 MiB of weights, none allocated
    assert traced.runnable_bytes == traced.peak_bytes
    assert traced.peak_bytes == traced.parameter_bytes + traced.live_peak_bytes
    suite = parse_suite({"name": "m", "blocks": ["mixer"],
                         "params": {"channels": [8], "h": "auto", "w": "auto"}})
    ((template, axis),) = auto_templates(suite)
    machine = pl.Machine("cpu", {"L2": 2 * 2**20}, None, 2**30, 1e11, 1.0, 3)
    points = autosize.candidate_points(template, axis, machine)
    # The weights grow as N^2: they join each size's working set, and the 1 GiB budget stops
    # the sizes where they and the live peak fill it.
    last = points[-1]
    assert 4 * last.positions ** 2 < 2**30 and last.macs == 8 * last.positions ** 2
    assert all(p.working_set > 4 * p.positions ** 2 for p in points)
    assert all(b.macs > a.macs for a, b in zip(points, points[1:], strict=False))


def test_a_counted_blocks_timed_window_ends_are_said_against_its_counted_macs(scratch_registry):
    # The ends of a planned window, timed, grow faster than the traced MACs (as N^2.3 against
    # N^2): every window tried misses, and the plan's note names what it was held to.
    _register("mixer", lambda case: Mixer(case.positions))
    suite = parse_suite({"name": "m", "blocks": ["mixer"],
                         "params": {"channels": [8], "h": "auto", "w": "auto"}})
    ((template, axis),) = auto_templates(suite)
    machine = pl.Machine("cpu", {"L2": 2 * 2**20}, None, 2**30, 1e11, 1.0, 3)
    points = autosize.candidate_points(template, axis, machine)
    g = pl.plan_group(template, axis, points, 1e-4, 4e10, True, machine, 400.0)

    class Steeper:
        def time(self, case):
            return 1e-4 + trace(case).flops / 4e10 * (case.positions / 1000) ** 0.3

    checked = autosize.check_ends(g, Steeper(), machine, 400.0, pl.DEFAULT_TARGET)
    assert "against the counted MACs' 2.00" in checked.note
    assert "timed to its counted MACs (no window within" in checked.note
    assert "model" not in checked.note.split("window ends timed", 1)[1]


@pytest.mark.parametrize(("module", "expected"), [
    (Scalar, "could not run on the meta device at scalar b1 c8 unused=1 4x4 ("),
    (Scale, "FlopCounterMode counted no MACs in it at scale b1 c8 unused=1 4x4")])
def test_a_block_that_cannot_be_traced_says_what_to_do_in_one_line(scratch_registry, module,
                                                                   expected):
    name = module.__name__.lower()
    _register(name, lambda case: module())
    with pytest.raises(NotTraceable) as e:
        trace(Case(name, "cpu", "float32", 1, 8, 1, 4, 4, unused=1))
    message = str(e.value)
    assert expected in message and "\n" not in message
    assert message.endswith("(h and w, or t)") or "give the spec a cost() method" in message


SCALAR_PLUGIN = """
from torch import nn
from a2bench.registry import BlockSpec, register


class Scalar(nn.Module):
    def forward(self, x):
        return x * float(x.mean())


@register
class ScalarSpec(BlockSpec):
    name = "scalar"
    params = ()

    def module(self, case):
        return Scalar()
"""


@pytest.mark.slow
@pytest.mark.parametrize("command", ["plan", "run"])
def test_an_untraceable_auto_block_stops_before_the_calibration(tmp_path, write_suite, command):
    plugin = tmp_path / "scalar.py"
    plugin.write_text(SCALAR_PLUGIN)
    suite = write_suite("name: sc\nblocks: [scalar]\nparams: {channels: [8], h: auto, w: auto}\n")
    out = tmp_path / "out"
    # run as a user runs it, in a child; plan by the CLI's main here (plugins_here), where the
    # child's imports (torch, and torch._dynamo for the trace's fake tensors) had cost 6-7 s of
    # CPU, as run's had
    done = (cli(command, str(suite), "--out", str(out), env={"A2BENCH_PLUGINS": str(plugin)},
                timeout=60) if command == "run" else with_plugins(plugin, command, str(suite)))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "a2bench: error: block scalar has no cost() and could not run on the meta device at "
        "scalar b1 c8 1x1 (RuntimeError: Tensor.item() cannot be called on meta tensors); auto "
        "sizes need each size's MACs and bytes: list its sizes (h and w, or t), or give the "
        "spec a cost() method"]
    assert not out.exists()


class _Waits(nn.Module):
    def forward(self, x):
        import time

        time.sleep(30)  # a forward that waits: the trace runs it in a2bench's own process
        return x


def test_a_trace_that_does_not_end_is_cut_and_its_blocks_other_sizes_are_not_traced(
        scratch_registry, monkeypatch):
    # It ran before any worker, where --case-timeout cannot reach: the sweep hung before its
    # first case. Cut, the block's cases run unchecked and the worker's timeout ends them.
    import time

    from a2bench.measure import traced
    from a2bench.run import runner

    @register
    class WaitsSpec(BlockSpec):
        name = "waits"
        params = ()

        def module(self, case):
            return _Waits()

    monkeypatch.setattr(traced, "TRACE_LIMIT_S", 0.3)
    calls = []
    inner = traced._trace
    monkeypatch.setattr(traced, "_trace", lambda case: calls.append(case) or inner(case))
    small, large = (Case("waits", "cpu", "float32", 1, 4, 1, s, s) for s in (4, 8))
    started = time.perf_counter()
    with pytest.raises(traced.TraceExpired, match="did not end within 0.3 s"):
        trace(small)
    assert runner.predicted_bytes(small) is None and runner.predicted_bytes(large) is None
    assert calls == [small, small]  # the budget's check cut once; the larger size not traced
    assert time.perf_counter() - started < 5
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL  # the handler before is back
    # a caller's own alarm is armed again, for what was left of it
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        with pytest.raises(traced.TraceExpired):
            trace(large)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 95 < left <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _Windows(nn.Module):
    """Attention within 4x4 windows: its view needs sides a multiple of 4."""

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.view(b, c, h // 4, 4, w // 4, 4).permute(0, 2, 4, 3, 5, 1).reshape(-1, 16, c)
        a = (t @ t.transpose(1, 2)).softmax(-1) @ t
        return x + a.view(b, h // 4, w // 4, 4, 4, c).permute(0, 5, 1, 3, 2, 4).reshape(x.shape)


def test_an_auto_block_is_traced_at_a_size_it_accepts(scratch_registry):
    # A counted block whose shape_checks refuse 1x1 was traced at 1x1 before any plan: its
    # view failed there, and `a2bench plan` or `run` stopped saying it could not run on the
    # meta device, though every size the planner would choose traces.
    from a2bench.run.sweep import Sweep

    @register
    class WindowsSpec(BlockSpec):
        name = "windows4"
        params = ()
        shape_checks = (("h", lambda v: None if v["h"] % 4 == 0 and v["w"] % 4 == 0
                         else f"expected sides a multiple of 4, got {v['h']}x{v['w']}"),)

        def module(self, case):
            return _Windows()

    suite = parse_suite({"name": "win", "blocks": ["windows4"],
                         "params": {"channels": [8], "h": "auto", "w": "auto"}})
    (template, axis), = auto_templates(suite)
    assert (template.h, template.w) == (1, 1)
    traced = autosize.first_legal(template, axis)
    assert (traced.h, traced.w) == (4, 4)
    assert trace(traced).macs > 0
    Sweep._check_traceable(type("S", (), {"suite": suite})())  # raised NotTraceable at 1x1
