"""oneDNN's kernels on the CPU, as far as a memory model needs them: which kernel a case runs
(bfloat16's named by the ISA oneDNN picks, float32's by the thread count that splits its weight
gradient), and what its 1x1 convolution allocates and frees inside its calls
(onednn_bf16_scratch, onednn_f32_scratch), which cost.pointwise and cost.bmm add to their terms.

Read from each call's allocation sequence (torch.profiler's memory events), and where oneDNN's
own heuristics size a buffer, from its source (src/cpu/x64), then held to the byte by
benchmarks/conv_scratch.py. Pure functions over shapes: no torch here.
"""

from __future__ import annotations

import math

from a2bench.kernel_names import threaded

# A bfloat16 kernel-1 convolution that torch runs on oneDNN (aten::mkldnn_convolution; a
# float32 one here runs ATen's own kernel, which holds no scratch). A block that records it
# (its BlockSpec.backend) passes it to `pointwise` as `kernel`. Its scratch follows the ISA
# oneDNN runs it on (blocks/kernels.onednn_bf16_isa; onednn_bf16_kernel names the kernel):
# with bf16 instructions (avx512_core_bf16, this repository's AMD EPYC) ...
ONEDNN_BF16 = "onednn_bf16"
# ... and on AVX-512 without them (avx512_core, avx512_core_vnni: Xeons from Skylake to Ice
# Lake), where oneDNN converts bf16 in registers with fewer registers to spare, which changes
# the block of positions its float32 buffer is rounded to (onednn_store_positions; measured
# here under ONEDNN_MAX_CPU_ISA=AVX512_CORE).
ONEDNN_BF16_EMULATED = "onednn_bf16_emulated"
# ... and with AMX (avx10_1_512_amx, which oneDNN called avx512_core_amx before 3.5: Xeons
# from Sapphire Rapids on), where oneDNN runs brgemm kernels on channels-last copies instead
# (onednn_amx_scratch; measured on an Emerald Rapids Xeon, torch 2.13.0+cpu).
ONEDNN_BF16_AMX = "onednn_bf16_amx"
ONEDNN_AMX_ISAS = ("avx10_1_512_amx", "avx512_core_amx")
# The kernels whose scratch was measured; another ISA's (AMX-FP16, AVX2-VNNI-2) is named
# onednn_bf16_<isa> and modelled as the nearest measured (AMX's where its name says amx,
# else ONEDNN_BF16's), unchecked.
ONEDNN_BF16_MEASURED = (ONEDNN_BF16, ONEDNN_BF16_EMULATED, ONEDNN_BF16_AMX)
ONEDNN_CHANNEL_BLOCK = 16  # oneDNN's blocked layouts pad channels to a multiple of this
ONEDNN_MATMUL_MIN_MACS = 16**3  # a bf16 bmm of more MACs runs on oneDNN (ATen's checksize)
# A 1x1 nn.Conv2d whose map has both sides at least this long computes its weight gradients
# without copies of one sample's input and output gradient (measured: sides 15 and up, on
# square and oblong maps alike; 14 x 14, 12 x 24 and 7 x 64 keep them). nn.Conv1d runs as a
# map of height 1, so it always keeps them.
ONEDNN_COPY_FREE_SIDE = 15
# Those per-sample copies hold one block of the channels: the input's blocks of at least this
# many 16-channel units, the output gradient's of at least this many (onednn_copied_channels).
ONEDNN_INPUT_COPY_UNITS = 5
ONEDNN_GRAD_COPY_UNITS = 16


# torch runs a float32 1x1 convolution on oneDNN, not on its own kernel, at more than one thread
# or at batch 16 and more (ConvParams::use_mkldnn); the backend a case records then, at one
# thread, and ONEDNN_F32 + "_t<threads>" at more (onednn_f32_kernel): oneDNN splits a weight
# gradient over its threads by the shape and the thread count, and the model follows the split
# (onednn_f32_weight_scratchpad). Among a block's convolutions, at more than one thread, those of
# batch 1 whose input has at most ONEDNN_F32_MIN_INPUT elements stay on ATen's kernel
# (onednn_f32_runs).
ONEDNN_F32 = "onednn_f32"
ONEDNN_F32_BATCH = 16
ONEDNN_F32_MIN_INPUT = 20480
# oneDNN's scratchpad (memory_tracking's registry) books each buffer as its bytes plus its
# alignment: 128 B, or a page where it asks one. A thread barrier's context (simple_barrier::
# ctx_t) is a page, aligned to a page.
SCRATCHPAD_ALIGN = 128
PAGE = 4096


def onednn_bf16_kernel(isa: str) -> str:
    """The backend a case records for oneDNN's bfloat16 convolution on `isa` (oneDNN's name):
    ONEDNN_BF16 with bf16 instructions, and where the ISA could not be read; ONEDNN_BF16_EMULATED
    on AVX-512 without them; onednn_bf16_<isa> on one whose scratch is unmeasured."""
    if isa in ("", "avx512_core_bf16"):
        return ONEDNN_BF16
    if isa in ("avx512_core", "avx512_core_vnni"):
        return ONEDNN_BF16_EMULATED
    if isa in ONEDNN_AMX_ISAS:
        return ONEDNN_BF16_AMX
    return f"{ONEDNN_BF16}_{isa}"


def is_onednn_amx(kernel: str) -> bool:
    """Whether `kernel` is oneDNN's bf16 convolution on AMX (measured, or an unmeasured AMX
    ISA modelled as it)."""
    return is_onednn_bf16(kernel) and "amx" in kernel


def is_onednn_bf16(kernel: str) -> bool:
    """Whether `kernel` (one part of a case's backend) is oneDNN's bf16 convolution, on any ISA."""
    return kernel.startswith(ONEDNN_BF16)


def is_onednn_conv(kernel: str) -> bool:
    """Whether `kernel` (one part of a case's backend) is a oneDNN convolution, bf16 or float32."""
    return is_onednn_bf16(kernel) or is_onednn_f32(kernel)


# oneDNN's float32 kernels lay channels out in blocks of its vector's width in floats: 16 on
# AVX-512 (jit_1x1:avx512_core, whose copies and scratchpad the models here were measured on),
# 8 on AVX2 (jit_1x1:avx2, blocked aBcd8b; measured at one thread on an AVX2-only AMD EPYC,
# torch 2.13.0+cpu: a block's peaks then match these models with 8 for 16, forward and train).
# A record names the kernel by the ISA oneDNN ran it on (kernels.onednn_f32_isa) where it is not
# AVX-512's: ONEDNN_F32 + "_avx2", so a stored run keeps the layout its peaks followed. Another
# ISA's (sse41, avx) is modelled with the 8-channel block too, unchecked; the weight gradient's
# split over threads (onednn_f32_weight_split) is AVX-512's, unchecked on AVX2 past one thread.
ONEDNN_F32_AVX2_BLOCK = 8


def onednn_f32_kernel(threads: int, isa: str = "") -> str:
    """The backend a case records for oneDNN's float32 convolution at `threads` torch threads on
    `isa` (oneDNN's name; "" where it could not be read): ONEDNN_F32 on AVX-512 (and AMX), whose
    layout the models were measured on, ONEDNN_F32 + "_" + isa on another of ISA_FAMILIES
    (a name no family holds, "acl" or "any", is read as unknown: the bare name, as "")."""
    wide = not isa.startswith(ISA_FAMILIES) or isa.startswith(("avx512", "avx10")) \
        or "amx" in isa
    return threaded(ONEDNN_F32 if wide else f"{ONEDNN_F32}_{isa}", threads)


def _f32_parts(kernel: str) -> tuple[str, int] | None:
    """(the ISA an onednn_f32_kernel name carries, "" for AVX-512's; its thread count), or None
    for another kernel."""
    head, _, count = kernel.rpartition("_t")
    threads = int(count) if head and count.isdigit() and int(count) > 1 else 1
    name = head if threads > 1 else kernel
    if name == ONEDNN_F32:
        return "", threads
    isa = name.removeprefix(f"{ONEDNN_F32}_")
    named = isa != name and isa.startswith(ISA_FAMILIES) and isa.replace("_", "").isalnum()
    # only a name onednn_f32_kernel writes: an AVX-512 ISA's is the bare name (its layout's
    # block, 16), and one thread takes no "_t1" ("onednn_f32_avx512_core" had read as AVX2's
    # 8-channel layout, "onednn_f32_avx2_t1" as an ISA "avx2_t1")
    last = isa.rpartition("_")[2]
    named = named and not (last[:1] == "t" and last[1:].isdigit()) \
        and onednn_f32_kernel(threads, isa) == kernel
    return (isa, threads) if named else None


# What an ISA's name oneDNN prints starts with (x86's, and aarch64's): how a kernel's name
# that carries one ("onednn_f32_avx2") is told from another ("onednn_f32_t1", "onednn_f32_tx")
ISA_FAMILIES = ("avx", "sse", "asimd", "sve")


def onednn_f32_threads(kernel: str) -> int | None:
    """The thread count an onednn_f32_kernel name carries (1 for ONEDNN_F32 itself); None for
    another kernel."""
    parts = _f32_parts(kernel)
    return parts[1] if parts else None


def onednn_f32_channel_block(kernel: str) -> int:
    """The channel block an onednn_f32_kernel's layout pads to: ONEDNN_CHANNEL_BLOCK on AVX-512,
    ONEDNN_F32_AVX2_BLOCK on a narrower ISA."""
    parts = _f32_parts(kernel)
    return ONEDNN_F32_AVX2_BLOCK if parts and parts[0] else ONEDNN_CHANNEL_BLOCK


def is_onednn_f32(kernel: str) -> bool:
    return onednn_f32_threads(kernel) is not None


def onednn_f32_possible(batch: int, threads: int) -> bool:
    """Whether torch may run a case's float32 1x1 convolutions on oneDNN: at batch
    ONEDNN_F32_BATCH and more, or at more than one thread (ConvParams::use_mkldnn); below both,
    always on ATen's own kernel."""
    return batch >= ONEDNN_F32_BATCH or threads > 1


def onednn_f32_conv_runs(b: int, cin: int, in_positions: int, kernel: int, stride: int,
                         threads: int) -> bool:
    """Whether torch runs a float32 k x k nn.Conv2d (groups 1, no dilation) on oneDNN, by its
    rule (ConvParams::use_mkldnn): where it is strided, not 1 x 1, at batch ONEDNN_F32_BATCH and
    more or at more than one thread, and at the same time its kernel is larger than 3 x 3, its
    batch over 1 or its input over ONEDNN_F32_MIN_INPUT elements."""
    first = stride > 1 or kernel != 1 or onednn_f32_possible(b, threads)
    return first and (kernel > 3 or b > 1 or b * cin * in_positions > ONEDNN_F32_MIN_INPUT)


# oneDNN's direct convolution takes a first convolution's input as it is (and its weights with
# the input channels unpadded) below this many input channels (measured: 3, 8 and 12 as is;
# 16 and 20 copied to the blocked layout).
ONEDNN_FIRST_CONV_CHANNELS = 16


def onednn_f32_conv_scratch(b: int, cin: int, cout: int, kernel: int, stride: int,
                            in_sides: tuple[int, int], out_sides: tuple[int, int],
                            block: int = ONEDNN_CHANNEL_BLOCK) -> int:
    """What oneDNN's float32 k x k convolution (jit:avx512_core; the strided 1 x 1: jit_1x1)
    allocates and frees inside a forward call at one thread besides torch's output, in float32
    elements, as Term's `scratch`: copies of the input and the weights in its blocked layout
    (channels padded to 16) and its own output, then its output copied into torch's tensor, its
    own freed last (onednn_f32_scratch's forward). A first convolution (fewer than
    ONEDNN_FIRST_CONV_CHANNELS input channels) reads its input as it is, its weights' input
    channels unpadded. A strided 1 x 1 runs as a 1 x 1 (jit_1x1) where its stride divides its
    input's sides (oneDNN's rtus_prepare), and books its input reduced to unit stride first
    (reduce_to_unit_stride: every padded input channel at each output position, and its
    alignment); elsewhere (a 7 x 7 map at stride 2) as a direct convolution. Read from each
    call's allocation sequence (torch.profiler; an Emerald Rapids Xeon, torch 2.13.0+cpu,
    oneDNN 3.12). `block`: the layout's channel block (onednn_f32_channel_block)."""
    pin, pout = _up(cin, block), _up(cout, block)
    in_positions, out_positions = in_sides[0] * in_sides[1], out_sides[0] * out_sides[1]
    own_out, out = b * pout * out_positions, b * cout * out_positions
    if cin < ONEDNN_FIRST_CONV_CHANNELS and kernel > 1:
        copies = cin * pout * kernel * kernel
    else:
        copies = b * pin * in_positions + pin * pout * kernel * kernel
        if kernel == 1 and stride > 1 and all(o * stride == i
                                              for o, i in zip(out_sides, in_sides, strict=True)):
            copies += pin * out_positions + SCRATCHPAD_ALIGN // 4
    return max(copies + own_out, own_out + out) - out


def onednn_f32_runs(b: int, cin: int, positions: int) -> bool:
    """Whether one 1x1 convolution of a case whose record names ONEDNN_F32 ran on oneDNN: by
    torch's rule, at batch over 1 or an input of more than ONEDNN_F32_MIN_INPUT elements (a
    record names it at batch 16 and more, or at more than one thread, where the rule holds)."""
    return b > 1 or b * cin * positions > ONEDNN_F32_MIN_INPUT


def onednn_f32_scratch(b: int, positions: int, cin: int, cout: int, bias: bool = True,
                       threads: int = 1, width: int | None = None,
                       block: int = ONEDNN_CHANNEL_BLOCK) -> dict[str, int]:
    """What oneDNN's float32 1x1 convolution (jit_1x1:avx512_core) allocates and frees inside
    its calls, in float32 elements, as Term's `scratch` and `backward_scratch`, at `threads`
    torch threads; `width` the map's width for an nn.Conv2d (None: an nn.Conv1d's positions).

    Read from the allocation sequence of each call (torch.profiler's memory events; an
    Emerald Rapids Xeon, torch 2.13.0+cpu, oneDNN 3.12, 1 to 8 threads): oneDNN copies to its
    blocked layout, channels padded to a multiple of 16, and back:
    - forward: copies of the input and of the weights and its own output (and where the output
      channels are not a multiple of 16, a padded bias in its scratchpad), then the output
      copied into torch's tensor, its own freed last;
    - backward, input gradient: copies of the output gradient and of the weights and its own
      input gradient, then torch's input gradient beside it; weight gradient: copies of the
      output gradient and of the input, its own weight gradient and the bias gradient, and its
      scratchpad (onednn_f32_weight_scratchpad: the other threads' partial weight gradients,
      by oneDNN's split of the work), then its own gradients copied into torch's after the
      copies and the scratchpad are freed.
    Each step holds the larger of its two moments. `block`: the channel block of the ISA's
    layout (onednn_f32_channel_block: 16 on AVX-512, 8 on AVX2)."""
    pin, pout = (_up(c, block) for c in (cin, cout))
    x_in, own_in, own_out, out = b * cin * positions, b * pin * positions, b * pout * positions, \
        b * cout * positions
    params = cin * cout + (cout if bias else 0)
    padded_bias = (pout + SCRATCHPAD_ALIGN // 4) if bias and pout != cout else 0
    # the model holds the term's output, and in the backward its input and parameter gradients
    forward = max(own_in + pin * pout + own_out + padded_bias, own_out + out) - out
    data = max(own_out + pin * pout + own_in, own_in + x_in) - x_in - params
    own_grads = pin * pout + (cout if bias else 0)
    # its own gradients with the two copies and the scratchpad, or with torch's gradients (the
    # larger where the weights outweigh the maps: 512 to 768 channels over 256 positions)
    weight = max(own_in + own_out + own_grads - params
                 + onednn_f32_weight_scratchpad(b, positions, cin, cout, bias, threads,
                                                width, block) // 4, own_grads)
    out_of_split = {"allowance": avx2_split_allowance(pin, pout, threads)} \
        if block != ONEDNN_CHANNEL_BLOCK and threads > 1 else {}
    return {"scratch": forward, "backward_scratch": max(data, weight), **out_of_split}


def avx2_split_allowance(pin: int, pout: int, threads: int) -> int:
    """The bytes a float32 1x1 convolution's peak on AVX2 may lie above its model past one
    thread (Term.allowance): oneDNN splits the weight gradient over its threads by a balance of
    its own, which the model (AVX-512's, ported) does not follow there. Bounded by what such a
    split books at most, a partial weight gradient per thread with its alignment, and the
    barriers: measured 256 B to 16,512 B over at two threads (double attention at c 8 and 64,
    batch 1 and 16), and a 64 -> 128 Conv1d at batch 2 over 256 positions a partial gradient
    per thread and 8,320 B over (2 and 3 threads), each within it."""
    return threads * (pin * pout * 4 + SCRATCHPAD_ALIGN) + 2 * PAGE


def onednn_f32_weight_scratchpad(b: int, positions: int, cin: int, cout: int, bias: bool,
                                 threads: int, width: int | None = None,
                                 block: int = ONEDNN_CHANNEL_BLOCK) -> int:
    """The bytes of the scratchpad oneDNN's float32 weight gradient books (jit_avx512_common_
    1x1_convolution_bwd_weights_t, oneDNN 3.12): a padded bias where the output channels are
    not a multiple of 16; where its split (onednn_f32_weight_split) reduces over more than one
    thread of positions, the other threads' partial weight gradients and a barrier; and where
    the bias's reducer (onednn_bias_reducer) reduces over more than one sample, its partials
    and barriers. Each booking holds its alignment too (SCRATCHPAD_ALIGN, PAGE). Checked to the
    byte by benchmarks/conv_scratch.py --dtype float32 --threads 2 … 8. `block`: the layout's
    channel block (onednn_f32_scratch)."""
    pin, pout = (_up(c, block) for c in (cin, cout))
    total = pout * 4 + SCRATCHPAD_ALIGN if bias and pout != cout else 0
    split = onednn_f32_weight_split(b, positions, width or positions, cin, cout, threads)
    over_positions = split[0]
    if over_positions > 1:
        total += (over_positions - 1) * pin * pout * 4 + SCRATCHPAD_ALIGN + 2 * PAGE
    if bias:
        groups, per_group, jobs = onednn_bias_reducer(math.prod(split), pout // block, b)
        if per_group > 1:
            total += groups * (per_group - 1) * jobs * block * 4 + PAGE + (groups + 1) * PAGE
    return total


def _best_divider(value: int, least: int, most: int, find_max: bool) -> int:
    """oneDNN's best_divider (jit_uni_1x1_conv_utils.hpp): the block in [least, most] that
    leaves the smallest share of `value` over, the largest such (find_max) or the smallest."""
    # here, not at the top: a2bench.api (through cost and measurement) stays free of numpy, so
    # that a2bench.sweep loads it where a Ctrl-C is deferred (a2bench.run.interrupts.deferred)
    import numpy as np

    most = max(1, min(most, value))
    least = max(1, min(least, most))
    dividers = np.arange(most, least - 1, -1, dtype=np.int64)  # oneDNN's order: down
    over = -(-value // dividers) * dividers
    # in single precision, as oneDNN; vectorised, since `most` may be a map's width (positions
    # of an nn.Conv1d: a million iterations of a Python loop took a second)
    loss = (over - value).astype(np.float32) / over.astype(np.float32)
    # its loop keeps the first minimum (strict <) where find_max, else the last (<=)
    at = int(np.argmin(loss)) if find_max else len(loss) - 1 - int(np.argmin(loss[::-1]))
    return int(dividers[at])


def onednn_f32_weight_split(b: int, positions: int, width: int, cin: int, cout: int,
                            threads: int) -> tuple[int, int, int]:
    """How oneDNN's float32 1x1 weight gradient splits its work over `threads`: threads over
    the samples' blocks of positions, over blocks of 16 output channels, over blocks of 16 input
    channels (jit_avx512_common_1x1_conv_kernel_t::balance, which picks the split of least
    memory traffic, its block of positions by best_divider)."""
    block = _best_divider(positions, 7, 16, True)
    if positions % block:
        block = _best_divider(width, 4, width, False)
    if block > 256:
        block = 1
    bcast, load = _up(cin, 16) // 16, _up(cout, 16) // 16
    reduce = -(-positions // block)

    def traffic(mb: int, oc: int, ic: int) -> int:
        work = -(-b * reduce // mb)
        return (work * -(-bcast // ic) * 16 * block + work * -(-load // oc) * 16 * block
                + 12 * -(-load // oc) * -(-bcast // ic) * 16 * 16)

    best, split = traffic(1, 1, 1), (1, 1, 1)
    for mb in range(1, min(threads, b * reduce) + 1):
        rest = threads // mb
        for oc in range(1, min(rest, load) + 1):
            ic = min(rest // oc, bcast)
            if (cost := traffic(mb, oc, ic)) <= best:
                best, split = cost, (mb, oc, ic)
    if threads // 2 < split[0] < threads:
        split = (min(b, threads), split[1], split[2])
    return split


def onednn_bias_reducer(threads: int, jobs: int, samples: int) -> tuple[int, int, int]:
    """oneDNN's reduce_balancer_t for the float32 bias gradient: groups of threads, threads per
    group (more than one: they reduce partials over the samples), and jobs per group at most,
    of jobs of 16 output channels each."""
    job, most_buffer = 16, threads * 3 * 5 * 5 * 16 * 16
    least_jobs = max(1, jobs // threads)
    most_jobs = max(1, most_buffer // (threads * job))
    groups = min(jobs // least_jobs, threads)
    per_group, jobs_ub = min(threads // groups, samples), -(-jobs // groups)
    bound = jobs * job * samples
    for per in range(least_jobs, jobs):
        c_groups = min(jobs // per, threads)
        c_per_group = min(threads // c_groups, samples)
        c_jobs = -(-jobs // c_groups)
        if c_per_group > 1 and c_jobs > most_jobs:
            continue
        cost = job * c_jobs * (-(-samples // c_per_group) + (c_per_group != 1))
        if cost < bound:
            groups, per_group, jobs_ub, bound = c_groups, c_per_group, c_jobs, cost
    return groups, per_group, jobs_ub


def onednn_sample_copies(sides: tuple[int, int] | None) -> bool:
    """Whether oneDNN's bf16 weight gradient of a 1x1 convolution copies one sample's input and
    output gradient: always for nn.Conv1d (`sides` None), for nn.Conv2d on a map with a side
    under ONEDNN_COPY_FREE_SIDE."""
    return sides is None or min(sides) < ONEDNN_COPY_FREE_SIDE


def onednn_register_block(positions: int, spatial: int, load: int,
                          bf16_instructions: bool = True) -> int:
    """The positions one call of oneDNN's bf16 1x1 convolution kernel computes at a time (its
    `ur`), which its float32 buffer is rounded up to (onednn_store_positions): jit_avx512_core_
    bf16_1x1_conv_kernel::init_conf in oneDNN's src/cpu/x64, for the forward and the input
    gradient, at one thread. `spatial`: the map's height (1 for nn.Conv1d); `load`: the padded
    channels the call writes. It takes the largest count of registers in a range that divides
    the height (from 14 on) or the positions, else the one that leaves the largest remainder;
    without bf16 instructions the range is a third as high (registers hold the conversion).
    The range is oneDNN's for an even tail of the channels it reads, which padded channels
    always have. Held to the byte by benchmarks/conv_scratch.py --positions (144 shapes:
    positions and heights no block divides) and its default and --conv2d grids, on both ISAs
    (tests/test_train_cost.py runs --positions on both)."""
    most, least = 9, 6
    if 128 < load < 256 and 10 < spatial < 28:
        most, least = 6, 5 if bf16_instructions else 4
    if not bf16_instructions:
        most = max(most // 3, least)
    by = spatial if spatial >= 14 else positions
    ur = next((u for u in range(most, least - 1, -1) if by % u == 0), 1)
    if ur == 1:  # none divides it: the one leaving the largest remainder, or none, of N
        ur, tail = min(most, positions), positions % most
        for u in range(most, least - 1, -1):
            if positions % u > tail or positions % u == 0:
                ur, tail = u, positions % u
                if tail == 0:
                    break
    return ur


def onednn_store_positions(positions: int, spatial: int, load: int,
                           bf16_instructions: bool = True) -> int:
    """The positions oneDNN's float32 buffer of one sample holds: `positions` rounded up to the
    kernel's register block (onednn_register_block): 104 for 100 positions with bf16
    instructions (a block of 8), 258 for 256 without them (a block of 6)."""
    ur = onednn_register_block(positions, spatial, load, bf16_instructions)
    return -(-positions // ur) * ur


def onednn_copied_channels(padded: int, least_units: int) -> int:
    """The channels of one sample that oneDNN's bf16 weight gradient copies: one block of the
    `padded` channels, the fewest 16-channel units, at least `least_units`, that divide them
    into equal blocks (all of them where none does): the input's 128 of 256 channels, 96 of
    384, 80 of 160, 176 of 176; the output gradient's 256 of 512, 256 of 768, 272 of 544, 528
    of 528. Read from the allocations, and the model exact, at every multiple of 16 up to
    1,024 channels (`benchmarks/conv_scratch.py --scan`: N = 256, b 1) and at the 252 shapes
    of its default grid (N 256-4,096, b 1-2)."""
    units = padded // ONEDNN_CHANNEL_BLOCK
    block = next((d for d in range(least_units, units + 1) if units % d == 0), units)
    return block * ONEDNN_CHANNEL_BLOCK


def onednn_bf16_scratch(b: int, positions: int, cin: int, cout: int,
                        bias: bool = True, sample_copies: bool = True, spatial: int = 1,
                        bf16_instructions: bool = True) -> dict[str, int]:
    """What oneDNN's bfloat16 1x1 convolution allocates and frees inside its calls, in bf16
    elements (a float32 buffer counts two), as Term's `scratch` and `backward_scratch`.

    Read from the allocation sequence of each call (torch.profiler's memory events) and
    measured by benchmarks/conv_scratch.py on this repository's CPU (AMD EPYC with
    avx512_bf16, torch 2.13.0+cpu, one thread). oneDNN works in its own blocked layout, its
    channels padded to a multiple of 16, and copies the result into torch's tensor after:
    - forward: a float32 buffer of one sample's output, bf16 copies of the whole input and of
      the weights, its own bf16 output (the term's, where c_out is a multiple of 16), and
      128 B; or, where it is larger (from 3 samples on), its own output of the whole batch;
    - backward: first the input gradient, beside copies of the output gradient and the
      weights, a float32 buffer of one sample's input gradient and 128 B; then the weight and
      bias gradients, beside copies of the output gradient and of the input, copies of one
      block of one sample's input and output gradient (onednn_copied_channels: all of them
      where there are at most 144 input and 496 output channels), float32 weight and bias
      gradients and 384 B. The backward holds the larger of the two steps.
    nn.Conv1d (the 1x1 convolutions over flattened positions of double attention, GC and the
    non-local block) runs as a map of height 1. A 1x1 nn.Conv2d (criss-cross) does the same
    on a map with a side under 15; on a map whose sides are both 15 or more its weight-gradient
    step keeps no copies of one sample's input and output gradient (`sample_copies` False;
    onednn_sample_copies) and 256 B less.
    To the byte, forward and train step, at all 252 shapes of `benchmarks/conv_scratch.py`
    (nn.Conv1d: b 1-2, c_in 16-512 and c_out 16-768, among them 160 and 384 inputs and 512 and
    768 outputs, copied in blocks; N 256-4096) and all 192 of its `--conv2d` (b 1-2, c_in
    16-384, c_out 16-768, maps 12 x 12, 7 x 64, 15 x 15 to 48 x 48 and 16 x 40). With channels
    that are not multiples of 16 the buffers are a little larger than padding alone makes
    them: at the 36 shapes of `--odd` the measured peak was above the model by 160-2,144 B
    forward and 480-3,872 B in a training step.
    The float32 buffers of the forward and of the input-gradient step hold the positions
    rounded up to the kernel's register block (onednn_store_positions, from the map's height
    `spatial`, 1 for nn.Conv1d), which differs without bf16 instructions (`bf16_instructions`
    False: ONEDNN_BF16_EMULATED, measured under ONEDNN_MAX_CPU_ISA=AVX512_CORE on the same
    CPU, exact at the same shapes)."""
    pin, pout = (-(-c // ONEDNN_CHANNEL_BLOCK) * ONEDNN_CHANNEL_BLOCK for c in (cin, cout))
    padded_params = pin * pout + (pout if bias else 0)
    out_rows = onednn_store_positions(positions, spatial, pout, bf16_instructions)
    in_rows = onednn_store_positions(positions, spatial, pin, bf16_instructions)
    forward = (2 * pout * out_rows + b * pin * positions + pin * pout
               + b * (pout - cout) * positions + 64)
    # From 3 samples on, oneDNN's own output of the whole batch can outweigh all that: then the
    # call holds it beside torch's output, and nothing else (Conv1d 16 -> 64, N 256: 2x the
    # output at b 3, 4, 5 and 8, to the byte; at b 1-2 the float32 sample buffer is larger)
    forward = max(forward, b * pout * positions)
    # the copies pair positions for the kernel (oneDNN's rnd_up(reduce_dim, 2)): 78 for 77
    copies = ((onednn_copied_channels(pin, ONEDNN_INPUT_COPY_UNITS)
               + onednn_copied_channels(pout, ONEDNN_GRAD_COPY_UNITS)) * (positions + positions % 2)
              + 128 if sample_copies else 0)
    # The weight-gradient step can hold less than the input-gradient step (without the copies,
    # or with blocks of them), which runs before the parameter gradients exist (the model holds
    # those at the backward's check, hence their subtraction): the larger of the two.
    params = cin * cout + (cout if bias else 0)
    backward = max(b * pout * positions + pin * pout + 2 * pin * in_rows + 64 - params,
                   b * (pin + pout) * positions + copies + 2 * padded_params + 64)
    return {"scratch": forward, "backward_scratch": backward}


# oneDNN's AMX kernels (brgemm) book their scratchpad in 4 KiB pages (P4K), and the blocking
# that oneDNN's heuristic picks for the shape books 4 or 5 of them for the forward and for the
# input gradient: the model holds 4 and allows a page more. Bytes, with 24 B and 152 B over.
AMX_PAGE = 4096
AMX_FORWARD_SCRATCH = 4 * AMX_PAGE + 24
AMX_DATA_GRAD_SCRATCH = 4 * AMX_PAGE + 152
AMX_WEIGHT_GRAD_SCRATCH = 29_336  # the weight gradient's, besides what grows with the shape


def _up(value: int, step: int) -> int:
    return -(-value // step) * step


def onednn_amx_scratch(b: int, positions: int, cin: int, cout: int, bias: bool = True,
                       sides: tuple[int, int] | None = None) -> dict[str, int]:
    """What oneDNN's bfloat16 1x1 convolution allocates and frees inside its calls on AMX, in
    bf16 elements as onednn_bf16_scratch's, and `allowance`: the bytes a measured peak may lie
    above the model's (Term.allowance), since the model holds the least of what oneDNN's
    blocking heuristic may book.

    Read from each call's allocation sequence (torch.profiler's memory events) on an Emerald
    Rapids Xeon (oneDNN's brgconv_1x1 and brgconv_bwd_w on avx10_1_512_amx, torch 2.13.0+cpu,
    one thread). oneDNN runs on channels-last (acdb) copies, unpadded, and its own output is
    copied back to torch's layout through one more tensor of its size (none of these output
    copies where there is one output channel, the same tensor in either layout):
    - forward: the scratchpad (AMX_FORWARD_SCRATCH), a copy of the input, the weights in
      blocks and its own output; after the call two more tensors of the output's size;
    - backward, input gradient: as the forward, with the output gradient's copy for the input
      (AMX_DATA_GRAD_SCRATCH), then two tensors of the input's size;
    - backward, weight gradient: copies of the output gradient and of the input, the weight
      gradient in blocks (input channels to 32, output channels to 16), the bias gradient and
      a scratchpad of AMX_WEIGHT_GRAD_SCRATCH, a float32 weight and bias reduction (channels
      to 16), the input transposed over its channels and 16 more, its positions rounded up to
      32 (rnd_up(N, 32)), and the output gradient transposed, its positions rounded up to 2
      per 32 (rnd_up(N, 2 ceil(N / 32))).
    The weights' blocks follow the heuristic too (72 input channels padded to 96, 100 output
    channels to 128): the model holds them padded to pairs, and the allowance the rest, up to
    blocks of 48 or 64 channels, with one page. So every nn.Conv1d shape of
    `benchmarks/conv_scratch.py` (its default, --odd, --scan and --positions grids) is within
    its allowance, forward and train, and its training step the model to the byte.
    A 1x1 nn.Conv2d (`sides`) transposes its input and output gradient a block of rows at a
    time, which the heuristic sizes too (the input's 7 x 64 map: 256 positions; 16 x 40: 544
    or 832, by the channels): the model holds none of either, and the allowance both whole,
    every row's positions rounded up (the input's to 32, 16 x 64 for 16 x 40)."""
    x, y = b * cin * positions, b * cout * positions
    # one output channel is the same tensor in either layout: no copies of it, nor of its
    # gradient (GC's mask convolution)
    copied = y if cout > 1 else 0
    params = cin * cout + (cout if bias else 0)
    weights = _up(cin, 2) * _up(cout, 2)
    forward = max(AMX_FORWARD_SCRATCH // 2 + x + weights, y + copied)
    pin, pout = _up(cin, ONEDNN_CHANNEL_BLOCK), _up(cout, ONEDNN_CHANNEL_BLOCK)
    grad_rows = _up(positions, 2 * -(-positions // 32))  # the output gradient's, transposed
    # elements: the input transposed, and the output gradient transposed
    transposed = (pin + ONEDNN_CHANNEL_BLOCK) * _up(positions, 32) + pout * grad_rows
    weight_grad = (AMX_WEIGHT_GRAD_SCRATCH // 2 + (2 * pout if bias else 0) + 2 * pin * pout
                   + (0 if sides else transposed))
    backward = max(copied + weights + AMX_DATA_GRAD_SCRATCH // 2 - params, 2 * x - params,
                   x + copied + _up(cin, 32) * pout + weight_grad + (cout if bias else 0)
                   - params)
    widest = 1
    for c in (cin, cout):
        widest *= max(_up(c, 48), _up(c, 64))
    if sides:  # at most every row, each rounded up as the flattened map's positions are
        h, w = sides
        transposed = max(transposed, (pin + ONEDNN_CHANNEL_BLOCK) * h * _up(w, 32)
                         + pout * max(h * _up(w, 2), grad_rows))
    allowance = AMX_PAGE + 2 * (widest - weights) + (2 * transposed if sides else 0)
    return {"scratch": forward, "backward_scratch": backward, "allowance": allowance}
