"""Exact analytic cost of each block: MACs, other elementwise work, activation bytes, peak.

Pure functions, no torch. Forward conventions (also in docs/counters.md):
- MAC: one multiply-add. A (p x K)(K x q) product is p*q*K MACs. Bias adds are *not* MACs; they are
  counted with the elementwise work.
- Elementwise operations: a softmax over a row of length L is 3L - 1 (L exp, L - 1 adds, L divides);
  exp, sigmoid and ReLU count one operation per element; average pooling c*N per sample
  (N - 1 adds and one divide per channel); scale and residual one per element.
- flops = 2 * MACs + elementwise operations.
- Bytes: every activation the forward pass allocates (the input is not counted, it exists before).
  The peak simulates the forward in the order a2bench.blocks evaluates it, freeing each tensor
  after its last use, so it is comparable with the measured peak above the pre-forward baseline.

Training step (`Case.mode == "train"`: forward, then backward of a given upstream gradient, with
the input and every parameter requiring grad). A block's `cost(case)` is always its forward model;
BlockSpec turns it into the train cost with `train_cost` (see registry.BlockSpec). Each Term
carries what its backward needs: the tensors it reads (`inputs`, "x" for the block input), what
autograd saves for it (`saves`), the inputs whose gradient is the output gradient itself
(`passes`), its parameter elements (`params`), its backward elementwise work and any buffer its
backward allocates and frees (`backward_scratch`). Backward conventions:
- MACs: a product's backward is one product of the same size per operand that requires grad
  (`grad_operands`, 2 for a convolution or bmm whose input requires grad): train MACs are
  forward MACs * (1 + grad_operands), i.e. exactly 3x forward for every block here (what
  FlopCounterMode counts). A fused attention's backward counts the same way (2 products, 2
  operands each); the CPU flash kernel's recomputation of q k^T is not counted.
- Elementwise operations of the backward, per element of the tensor named:
  bias gradient 1 per output element (the reduction over positions); ReLU 1 (select); sigmoid 3
  (g y (1 - y)); softmax 4L - 1 per row of length L (row dot product g.y, subtract, multiply);
  normalisation (LayerNorm with affine) 11 per element; average pooling 1 per input element
  (spread the mean's gradient); max pooling 1 per input element (zero fill) + 1 per pooled
  element (scatter); a scalar or broadcast multiply 1 per element for each operand's gradient
  plus 1 per element for the reduction to a broadcast operand; a broadcast add 1 per element for
  the reduction; a same-shape add 0 (the gradient passes through); copies, permutes, views,
  slices and cat 0 (the gradient is a view, or a copy counted as memory only); the in-place
  -inf fill 1 per filled element; gradient accumulation (a tensor used by several operators)
  1 per element for each contribution after the first.
- flops = 2 * MACs + elementwise, as for the forward.
- saved_bytes: the activations autograd still holds when the forward pass ends (tensors some
  operator saved for its backward; the input and parameters are not counted).
- peak_bytes simulates the whole step. Forward: as above, except that a tensor saved for backward
  stays alive until its operator's backward has run. Backward, the terms in reverse: an operator
  allocates its input gradients (a passed-through gradient allocates nothing and keeps the output
  gradient alive), its parameter gradients (alive to the end, as is x.grad) and its scratch; then
  frees the scratch, its output gradient and its saved tensors; then each input gradient is
  accumulated into the tensor's gradient buffer: in place when that buffer is owned, unshared and
  not a view, else into a new buffer (autograd's InputBuffer: e.g. the first gradient of x is
  the upstream gradient passed through a residual, and a gradient passed back through a permuted
  copy is a permuted view; neither is reused). The block output stays alive
  through the backward (the caller holds it); the upstream gradient exists before (not counted).
- activation_bytes and largest_activation_bytes of a train cost are those of its forward pass
  (which may hold tensors an inference pass lacks: Term.train_extra); gradients are not in them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from a2bench.allocator import allowance_bytes, block_bytes, exact_bytes, fragmentation_bytes
from a2bench.aten_cpu import bias_sum_scratch
from a2bench.onednn import (
    ONEDNN_BF16_EMULATED,
    ONEDNN_F32,
    ONEDNN_MATMUL_MIN_MACS,
    is_onednn_amx,
    is_onednn_bf16,
    is_onednn_f32,
    onednn_amx_scratch,
    onednn_bf16_scratch,
    onednn_f32_channel_block,
    onednn_f32_conv_runs,
    onednn_f32_conv_scratch,
    onednn_f32_runs,
    onednn_f32_scratch,
    onednn_f32_threads,
    onednn_sample_copies,
)

INPUT = "x"  # the block input's name in Term.inputs


@dataclass(frozen=True)
class Term:
    name: str
    macs: int
    elementwise: int
    out_elements: int
    frees: tuple[str, ...] = ()  # tensors whose last use is this term
    # --- what the backward needs (ignored by the forward cost) ---
    # Tensors this term reads and propagates a gradient to ("x" is the block input); None: the
    # previous term's output (the block input for the first term).
    inputs: tuple[str, ...] | None = None
    # Tensors autograd keeps for this term's backward ("x" is free to keep); None: its inputs.
    saves: tuple[str, ...] | None = ()
    passes: tuple[str, ...] = ()  # inputs whose gradient is the output gradient (no allocation)
    # Elements allocated for each input's gradient (aligned with inputs); None: the input's size.
    # A slice's backward, for instance, allocates its whole source.
    input_grads: tuple[int, ...] | None = None
    grad_elements: int | None = None  # this output's gradient size; None: out_elements (set it
    # for an in-place or view term, whose out_elements is 0)
    grad_operands: int = 0  # operands of the product that require grad (backward MACs)
    backward_elementwise: int = 0
    backward_scratch: int = 0  # elements the backward allocates and frees inside the op
    scratch: int = 0  # elements the forward allocates and frees inside the op (e.g. onednn_bf16)
    # Bytes a measured peak may lie above the model's while this op runs: a kernel whose
    # scratch the model holds at its least (onednn.onednn_amx_scratch), never a guess.
    allowance: int = 0
    params: int = 0  # parameter elements: their gradients are allocated by this backward
    # A tensor only inference allocates (training allocates it otherwise, in train_extra terms).
    forward_only: bool = False
    # What only a training forward pass allocates (or names, for its backward) after this term.
    train_extra: tuple[Term, ...] = ()
    itemsize: int = 0  # the bytes of an output element not of the case dtype (bool mask: 1)


def _in_mode(terms: Sequence[Term], mode: str) -> tuple[Term, ...]:
    if mode != "train":
        return tuple(terms)
    out: list[Term] = []
    for t in terms:
        if not t.forward_only:
            out.append(t)
        out.extend(t.train_extra)
    return tuple(out)


@dataclass(frozen=True)
class Cost:
    terms: tuple[Term, ...]
    bytes_per_element: int
    mode: str = "forward"  # "train": forward and backward (see train_cost)
    input_elements: int = 0  # the block input's size (its gradient's, in train mode)
    # Where the case runs (Case.device): the peak is counted in the blocks that device's
    # allocator hands out (a2bench.allocator), since that is what its measured peak counts.
    # Empty: tensor bytes (the CPU's, and a model not tied to a device).
    device: str = ""

    def __post_init__(self) -> None:
        # A misspelt name in `frees` would free nothing, and the model's peak would hold a
        # tensor past its last use without a word: each name must be an earlier term's.
        seen = {INPUT}
        for t in (t for term in self.terms for t in (term, *term.train_extra)):
            if unknown := [n for n in t.frees if n not in seen and n != t.name]:
                raise ValueError(f"cost term {t.name!r}: frees {unknown[0]!r}, which names no "
                                 f"earlier term; expected one of {', '.join(sorted(seen))}")
            seen.add(t.name)

    @property
    def train(self) -> bool:
        return self.mode == "train"

    @property
    def active(self) -> tuple[Term, ...]:
        """The terms of this mode's forward pass."""
        return _in_mode(self.terms, self.mode)

    @property
    def macs(self) -> int:
        if self.train:
            return sum(t.macs * (1 + t.grad_operands) for t in self.active)
        return sum(t.macs for t in self.active)

    @property
    def elementwise(self) -> int:
        forward = sum(t.elementwise for t in self.active)
        if not self.train:
            return forward
        backward = sum(t.backward_elementwise for t in self.active)
        return forward + backward + _simulate(self.active, self.input_elements).accumulate_ops

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.elementwise

    @property
    def parameters(self) -> int:
        """Parameter elements: the sum of the terms' `params` (the module's parameter count)."""
        return sum(t.params for t in self.terms)

    @property
    def activation_bytes(self) -> int:
        return sum(t.out_elements * (t.itemsize or self.bytes_per_element) for t in self.active)

    @property
    def largest_activation_bytes(self) -> int:
        """The biggest single tensor the forward allocates: what must fit in a cache at once."""
        return max((t.out_elements * (t.itemsize or self.bytes_per_element) for t in self.active),
                   default=0)

    @property
    def saved_bytes(self) -> int:
        """Activations autograd holds at the end of the forward pass (0 for inference)."""
        if not self.train:
            return 0
        terms, input_elements, size = self._sized(exact_bytes)
        return _simulate(terms, input_elements).saved * size

    def _sized(self, rounding: Callable[[int], int]) -> tuple[tuple[Term, ...], int, int]:
        """The active terms, the input's size and the bytes of the element they count in: the
        case dtype's; or every tensor in bytes (at 1), where `rounding` (an allocator's) makes
        each its own block, or a term's output is of another dtype (Term.itemsize)."""
        terms, size = self.active, self.bytes_per_element
        if rounding(size) == size and not any(t.itemsize for t in terms):
            return terms, self.input_elements, size
        return _in_blocks(terms, size, rounding), rounding(self.input_elements * size), 1

    @cached_property
    def _peak(self) -> tuple[int, tuple[tuple[str, int], ...], str]:
        """The peak in bytes, each tensor live at it (its name, its bytes), and the step that
        reaches it (computed once: a train model's simulation is the costly part of a large
        block's model)."""
        terms, input_elements, size = self._sized(block_bytes(self.device))
        if self.train:
            step = _simulate(terms, input_elements)
            peak, tensors, at = step.peak, step.peak_tensors, step.peak_at
        else:
            peak, tensors, at = _peak_live(terms)
        return peak * size, tuple((name, n * size) for name, n in tensors), at

    @property
    def peak_bytes(self) -> int:
        return self._peak[0]

    @property
    def peak_tensor_bytes(self) -> tuple[int, ...]:
        """The bytes of each tensor live at the modelled peak (on CUDA, allocator blocks; a
        term's parameter gradients, and its backward scratch, count as one tensor each)."""
        return tuple(n for _, n in self._peak[1])

    @property
    def peak_tensors(self) -> tuple[tuple[str, int], ...]:
        """peak_tensor_bytes with each tensor's name: a term's output ("A"), a gradient
        ("grad A"), a term's parameter gradients ("A params' grads"), its scratch ("A scratch"),
        or the input's gradient ("x.grad"). What a peak trace sets beside the measured
        allocations (scripts/gpu_peak_trace.py)."""
        return self._peak[1]

    @property
    def peak_at(self) -> str:
        """Where the modelled peak is reached: "forward NAME" (while term NAME runs) or
        "backward NAME" (while its backward runs), or "backward x.grad"."""
        return self._peak[2]

    @property
    def runnable_bytes(self) -> int:
        """What the case needs free to run: its peak, and on CUDA room for a block of its
        largest tensor that the allocator may strand (allocator.fragmentation_bytes). The
        planner and the runner's memory budget read this, not the bare peak."""
        return self.peak_bytes + fragmentation_bytes(self.device, self.largest_activation_bytes)

    @property
    def peak_allowance_bytes(self) -> int:
        """How far above peak_bytes a measured peak may lie: for the allocator's sake
        (a2bench.allocator.allowance_bytes of the tensors live at the peak; 0 where it hands
        out what is asked), and for a kernel whose scratch the model holds at its least
        (Term.allowance: oneDNN's AMX kernels)."""
        return (allowance_bytes(self.device, self.peak_tensor_bytes)
                # one op runs at a time: the largest of the terms' own allowances
                + max((t.allowance for t in self.active), default=0))


Named = tuple[tuple[str, int], ...]  # tensors as (name, elements)


def _running(live: dict[str, int], term: Term) -> Named:
    """The tensors live while a forward term runs: the live outputs, and its scratch if any."""
    scratch = ((f"{term.name} scratch", term.scratch),) if term.scratch else ()
    return (*live.items(), *scratch)


def _peak_live(terms: Sequence[Term]) -> tuple[int, Named, str]:
    """Largest sum of live outputs while a term runs (its inputs and output coexist), the
    sizes of the tensors live then, and that term ("forward NAME")."""
    live: dict[str, int] = {}
    peak, at_peak, at = 0, (), ""
    for t in terms:
        live[t.name] = t.out_elements
        if (now := sum(live.values()) + t.scratch) > peak:
            peak, at_peak, at = now, _running(live, t), f"forward {t.name}"
        for name in t.frees:
            live.pop(name, None)
    return peak, at_peak, at


def peak_live_elements(terms: Sequence[Term]) -> int:
    """Largest sum of live outputs while a term runs (its inputs and output coexist)."""
    return _peak_live(terms)[0]


def _in_blocks(terms: Sequence[Term], size: int,
               rounding: Callable[[int], int]) -> tuple[Term, ...]:
    """The terms (a mode's active ones: train_extra already in line) with every tensor counted
    as the allocator block it takes, in bytes (so the simulations run at one byte per
    element; an output of another dtype in its own, Term.itemsize). A term's parameter
    gradients and its backward scratch are rounded as one block each: they are small beside
    the activations, or one buffer."""
    def block(elements: int | None, itemsize: int = size) -> int | None:
        return None if elements is None else rounding(elements * itemsize)

    return tuple(replace(
        t, out_elements=block(t.out_elements, t.itemsize or size), itemsize=0,
        grad_elements=block(t.grad_elements),
        input_grads=None if t.input_grads is None else tuple(block(e) for e in t.input_grads),
        backward_scratch=block(t.backward_scratch), scratch=block(t.scratch),
        params=block(t.params)) for t in terms)


# When a measured peak counts as its model's: within MEMORY_TOLERANCE of it, or within
# MEMORY_TOLERANCE_BYTES (the CUDA allocator's 512-byte rounding is a large share of a small
# case's peak), or above it by no more than the model's declared allowance
# (Cost.peak_allowance_bytes). The sweep's warnings, the published tables and the device tests
# all judge by it.
MEMORY_TOLERANCE = 0.02
MEMORY_TOLERANCE_BYTES = 2**20


def peak_within(measured: int, model: int, allowance: int = 0) -> bool:
    """Whether a measured peak is its model's, by the rule above."""
    off = measured - model
    return abs(off) <= max(MEMORY_TOLERANCE * model, MEMORY_TOLERANCE_BYTES) or 0 < off <= allowance


def within_allowance(excess: int, allowance: int) -> bool:
    """Whether a measured peak `excess` bytes above a model that holds the least of its
    kernels' scratch (oneDNN's AMX kernels, onednn.onednn_amx_scratch) lies within what the
    model declares for the rest: the strict check of its benchmarks and tests, with no
    tolerance (peak_within adds the sweep's)."""
    return 0 <= excess <= allowance


def train_cost(cost: Cost, input_elements: int) -> Cost:
    """The training step (forward and backward) of a forward cost; input_elements is the size
    of the block input (its gradient is allocated)."""
    return replace(cost, mode="train", input_elements=input_elements)


@dataclass(frozen=True)
class _Step:
    peak: int
    saved: int
    accumulate_ops: int
    # the tensors live at the peak, (name, elements) (a term's parameter gradients and its
    # backward scratch count as one tensor each)
    peak_tensors: Named = ()
    peak_at: str = ""  # the step that reaches the peak (Cost.peak_at)


class _Buffer:
    """A gradient's storage: shared by a passed-through gradient and its source."""

    def __init__(self, elements: int, name: str, external: bool = False):
        self.elements, self.name, self.external, self.refs = elements, name, external, 0


def _resolved_inputs(terms: Sequence[Term]) -> list[tuple[str, ...]]:
    out, previous = [], INPUT
    for t in terms:
        out.append(t.inputs if t.inputs is not None else (previous,))
        previous = t.name
    return out


def _simulate(terms: Sequence[Term], input_elements: int) -> _Step:
    """The live peak of a forward and backward pass (module docstring), in elements."""
    inputs = _resolved_inputs(terms)
    terms = [t if t.saves is not None else replace(t, saves=reads)
             for t, reads in zip(terms, inputs, strict=True)]
    size = {INPUT: input_elements}
    size.update({t.name: t.out_elements if t.grad_elements is None else t.grad_elements
                 for t in terms})
    savers: dict[str, set[str]] = {}
    for t in terms:
        for name in t.saves:
            if name != INPUT:
                savers.setdefault(name, set()).add(t.name)
    # forward
    live: dict[str, int] = {}
    done: set[str] = set()  # past their forward last use
    peak, at_peak, at = 0, (), ""
    for t in terms:
        live[t.name] = t.out_elements
        if (now := sum(live.values()) + t.scratch) > peak:
            peak, at_peak, at = now, _running(live, t), f"forward {t.name}"
        for name in t.frees:
            done.add(name)
            if name not in savers:
                live.pop(name, None)
    saved = sum(live[name] for name in savers if name in live)
    # backward
    buffers: list[_Buffer] = []
    grads: dict[str, tuple[_Buffer, bool]] = {}  # name -> (storage, is a view of another's)
    param_grads: list[tuple[str, int]] = []  # each term's parameter gradients, to the end

    def hold(buf: _Buffer) -> _Buffer:
        if buf.refs == 0:
            buffers.append(buf)
        buf.refs += 1
        return buf

    def drop(buf: _Buffer) -> None:
        buf.refs -= 1
        if buf.refs == 0:
            buffers.remove(buf)

    def in_use(extra: tuple[str, int] = ("", 0)) -> Named:
        """The tensors live now: activations, gradient buffers, parameter gradients, extra."""
        return (*live.items(), *((b.name, b.elements) for b in buffers if not b.external),
                *param_grads, extra)

    def check(tensors: Named, step: str) -> None:
        nonlocal peak, at_peak, at
        if (now := sum(e for _, e in tensors)) > peak:
            peak, at_peak, at = now, tuple((n, e) for n, e in tensors if e), step

    accumulate_ops = 0
    if terms:
        grads[terms[-1].name] = (hold(_Buffer(0, "grad out", external=True)), True)
    for t, reads in zip(reversed(terms), reversed(inputs), strict=True):
        g = grads.pop(t.name, None)
        new: list[tuple[str, _Buffer, bool]] = []
        if g is not None:
            sizes = t.input_grads or tuple(size.get(i, 0) for i in reads)
            new = [(i, hold(g[0]), True) if i in t.passes
                   else (i, hold(_Buffer(n, f"grad {i}")), False)
                   for i, n in zip(reads, sizes, strict=True)]
            param_grads.append((f"{t.name} params' grads", t.params))
            check(in_use((f"{t.name} backward scratch", t.backward_scratch)),
                  f"backward {t.name}")
            drop(g[0])
        for name in t.saves or ():
            if name in savers:
                savers[name].discard(t.name)
                if not savers[name] and name in done:
                    live.pop(name, None)
        for name, buf, view in new:
            if name not in grads:
                grads[name] = (buf, view)
                continue
            old, old_view = grads[name]
            accumulate_ops += size.get(name, 0)
            if not old_view and not old.external and old.refs == 1:  # in place into old
                drop(buf)
            else:  # old + new into a new buffer: old is borrowed (a view, or the upstream's)
                total = hold(_Buffer(size.get(name, 0), f"grad {name}"))
                check(in_use(), f"backward {t.name}")
                drop(buf)
                drop(old)
                grads[name] = (total, False)
    x_grad = grads.get(INPUT)
    if x_grad is not None and (x_grad[1] or x_grad[0].refs > 1):  # a copy of a borrowed one
        check(in_use(("x.grad", input_elements)), "backward x.grad")
    return _Step(peak, saved, accumulate_ops, at_peak, at)


def softmax_ops(rows: int, length: int) -> int:
    return rows * (3 * length - 1)


def softmax_backward_ops(rows: int, length: int) -> int:
    return rows * (4 * length - 1)


# Operator factories, so a block's cost model reads like its forward pass. Each returns one
# Term; `frees` names the tensors whose last use it is (for the live peak). Keyword arguments
# beyond those named are Term's backward fields (inputs, saves, passes, ...).

def pointwise(name: str, b: int, positions: int, cin: int, cout: int, *, bias: bool = True,
              frees: tuple[str, ...] = (), inputs: tuple[str, ...] | None = None,
              kernel: str = "", sides: tuple[int, int] | None = None, reduced_aten: bool = False,
              grad_order: tuple[int, ...] = (), held: int = 0, **backward) -> Term:
    """A 1x1 convolution (or Linear) over `positions`: cin*cout MACs per position, bias adds.

    Backward: saves its input; the input gradient and the weight gradient are one product each
    (grad_operands 2), the bias gradient one add per output element. `kernel` a oneDNN bf16
    kernel (is_onednn_bf16): the scratch of oneDNN's bfloat16 convolution on its ISA
    (onednn_bf16_scratch); `sides`: the map's (h, w) for a 1x1 nn.Conv2d, None for an
    nn.Conv1d over flattened positions (onednn_sample_copies). `reduced_aten` (ATen's kernel in
    bf16 or fp16; aten_cpu.runs_reduced_on_aten), with the output gradient's layout
    (`grad_order`) and what of the scratch lives through the backward (`held`): the float32
    copy its bias gradient may sum (aten_cpu.bias_sum_scratch)."""
    out = b * cout * positions
    params = cin * cout + (cout if bias else 0)
    fields = {"saves": inputs, "grad_operands": 2, "params": params,
              "backward_elementwise": out if bias else 0, **backward}
    scratch: dict[str, int] = {}
    if is_onednn_amx(kernel):
        scratch = onednn_amx_scratch(b, positions, cin, cout, bias, sides)
    elif is_onednn_bf16(kernel):
        scratch = onednn_bf16_scratch(b, positions, cin, cout, bias, onednn_sample_copies(sides),
                                      spatial=sides[0] if sides else 1,
                                      bf16_instructions=kernel != ONEDNN_BF16_EMULATED)
    elif is_onednn_f32(kernel) and onednn_f32_runs(b, cin, positions):
        scratch = onednn_f32_scratch(b, positions, cin, cout, bias,
                                     threads=onednn_f32_threads(kernel) or 1,
                                     width=sides[1] if sides else None,
                                     block=onednn_f32_channel_block(kernel))
    elif reduced_aten and bias:
        scratch = bias_sum_scratch(b, cout, sides or (1, positions), fields["params"],
                                   fields.get("backward_scratch", 0), grad_order, held)
    # A block's own scratch (ATen's contiguous copy of a gradient that arrives transposed, made
    # before the kernel runs) adds to oneDNN's: so the non-local block's peaks measured.
    for key, elements in scratch.items():
        fields[key] = fields.get(key, 0) + elements
    return Term(name, b * positions * cin * cout, b * positions * cout if bias else 0,
                out, frees, inputs, **fields)


def bmm(name: str, b: int, p: int, k: int, q: int, *, frees: tuple[str, ...] = (),
        inputs: tuple[str, ...] | None = None, kernel: str = "", copied: int = 0,
        **backward) -> Term:
    """A batched (p x k)(k x q) product: p*q*k MACs per batch, a (p x q) output.

    Backward: saves both operands, one product per operand.

    `kernel` a oneDNN bf16 kernel: on a CPU that runs bf16 convolutions on oneDNN, torch runs
    a bf16 bmm of more than ONEDNN_MATMUL_MIN_MACS there too (both follow oneDNN's bf16 support;
    ATen's mkldnn_matmul: a strided operand copied at 4,160 MACs, not at 4,096), and it first
    copies an operand that is neither contiguous nor the transpose of a contiguous tensor (a
    strided slice, say). `copied`, that operand's elements, is then a scratch of the forward,
    and of the backward, whose product with the operand transposed copies it again. oneDNN's
    own scratchpad (packing buffers its blocking heuristics size, 7.5-197 KiB measured) is not
    modelled."""
    if is_onednn_bf16(kernel) and copied and b * p * k * q > ONEDNN_MATMUL_MIN_MACS:
        backward["scratch"] = backward.get("scratch", 0) + copied
        backward["backward_scratch"] = backward.get("backward_scratch", 0) + copied
    fields = {"saves": inputs, "grad_operands": 2, **backward}
    return Term(name, b * p * q * k, 0, b * p * q, frees, inputs, **fields)


def softmax(name: str, rows: int, length: int, *, frees: tuple[str, ...] = (),
            inputs: tuple[str, ...] | None = None, device: str = "", **backward) -> Term:
    """Backward: saves its output; 4L - 1 operations per row; allocates the input gradient,
    and any `backward_scratch` given (a contiguous copy of a gradient that arrives transposed).

    On CUDA the backward first multiplies the gradient by the output into a new tensor, then
    runs the kernel on that product (ATen's softmax_backward_cuda_out: `tmp = grad * output`),
    so it holds one more tensor of the softmax's size. The product takes the gradient's
    layout, so a transposed gradient is still copied contiguous, now the product's copy: the
    scratch given stands."""
    scratch = backward.pop("backward_scratch", 0) + (rows * length if device == "cuda" else 0)
    fields = {"saves": (name,), "backward_elementwise": softmax_backward_ops(rows, length),
              "backward_scratch": scratch, **backward}
    return Term(name, 0, softmax_ops(rows, length), rows * length, frees, inputs, **fields)


def elementwise(name: str, ops: int, out_elements: int, *,
                frees: tuple[str, ...] = (), inputs: tuple[str, ...] | None = None,
                **backward) -> Term:
    """Backward: by default saves nothing, allocates each input's gradient, no operations (pass
    `backward_elementwise`, `saves`, `passes` as the operator needs)."""
    return Term(name, 0, ops, out_elements, frees, inputs, **backward)


def conv2d(name: str, b: int, positions: int, cin: int, cout: int, kernel: int = 1, *,
           frees: tuple[str, ...] = (), inputs: tuple[str, ...] | None = None,
           backend: str = "", **backward) -> Term:
    """A k x k convolution without bias over `positions` output positions (any stride or
    padding): cin*k*k*cout MACs per output position. Backward as `pointwise`: saves its input,
    one product per operand (input and weight). `backend`: a 1 x 1 one's oneDNN kernel, as
    pointwise's `kernel`; a k x k one's buffers come as `scratch` (cpu_f32_conv2d_memory)."""
    return pointwise(name, b, positions, cin * kernel * kernel, cout, bias=False, frees=frees,
                     inputs=inputs, kernel=backend, **backward)


def cpu_f32_conv2d_memory(b: int, cin: int, cout: int, kernel: int, stride: int, in_sides:
                          tuple[int, int], out_sides: tuple[int, int], block: int = 16) -> dict:
    """conv2d's keywords for the buffers of the kernel torch runs a float32 nn.Conv2d on, on a
    CPU at one thread (onednn.onednn_f32_conv_runs): a 1 x 1 of unit stride on oneDNN (batch 16
    and more) is pointwise's ONEDNN_F32; another on oneDNN its forward copies
    (onednn.onednn_f32_conv_scratch); a strided or k x k one on ATen's slow_conv2d its im2col
    buffer (cin k^2 per output position and sample, beside its output; measured); a 1 x 1 of
    unit stride on ATen none (a plain product). The backward's buffers are not modelled.
    `block`: oneDNN's channel block (16 on AVX-512, 8 on AVX2: onednn_f32_channel_block)."""
    if onednn_f32_conv_runs(b, cin, in_sides[0] * in_sides[1], kernel, stride, 1):
        if kernel == 1 and stride == 1:
            return {"backend": ONEDNN_F32}
        return {"scratch": onednn_f32_conv_scratch(b, cin, cout, kernel, stride, in_sides,
                                                   out_sides, block)}
    if kernel == 1 and stride == 1:
        return {}
    return {"scratch": b * cin * kernel * kernel * out_sides[0] * out_sides[1]}


def batch_norm(name: str, b: int, positions: int, channels: int, *,
               frees: tuple[str, ...] = (), inputs: tuple[str, ...] | None = None,
               **backward) -> Term:
    """BatchNorm2d with affine, as the forward model counts it (inference: the running
    statistics, weight and bias folded into one scale and one shift per channel, 2 operations
    per element) into a new tensor. A training forward also computes the batch statistics
    (a `train_extra` term: 3 operations per element, mean and variance). Backward: saves its
    input (and the tiny per-channel mean and inverse std), 11 operations per element (as a
    normalisation), allocates the input gradient and the weight and bias gradients."""
    elements = b * channels * positions
    stats = Term(f"{name}_stats", 0, 3 * elements, 0, inputs=(), saves=())
    fields = {"saves": inputs, "params": 2 * channels, "backward_elementwise": 11 * elements,
              "train_extra": (stats,), **backward}
    return Term(name, 0, 2 * elements, elements, frees, inputs, **fields)
