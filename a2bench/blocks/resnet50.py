"""ResNet-50 v1 (He et al., CVPR 2016, Table 1), optionally with attention blocks inserted.

The whole network is one block: the case's (b, c, h, w) image (c = 3 for ImageNet) goes in,
(b, 1000) logits come out. Version 1, as in the paper and in SENet's 3.86 GFLOPs (multiply-adds):

- stem: conv1 7x7/2 (padding 3) c->64 without bias, BN, ReLU, max pool 3x3/2 (padding 1);
- stages conv2_x..conv5_x (res2..res5, c2..c5) of [3, 4, 6, 3] bottlenecks, widths
  64/128/256/512, expansion 4: 1x1 (w) - 3x3 (w) - 1x1 (4w) convolutions without bias, each with
  BN, ReLU after the first two, the residual add, then ReLU;
- the stride 2 of a downsampling bottleneck (the first of conv3_x..conv5_x) is on its FIRST 1x1
  convolution (torchvision's "v1.5" puts it on the 3x3, 4.09 GMACs instead of 3.86);
- a projection shortcut (1x1 convolution with the bottleneck's stride, BN) in the first
  bottleneck of each stage (where channels or resolution change), identity elsewhere;
- global average pool, fc 2048->1000 with bias. 25,557,032 parameters at c = 3.

`attention` inserts the existing blocks, each with its own default parameters at the channel
count of its stage, where its paper puts it:

- `se`: in every bottleneck, after the last 1x1 convolution and its BN, before the residual add
  (SENet, Fig. 3), reduction 16 (SqueezeExcitation of se.py);
- `gc`: the same place, in stages conv3_x to conv5_x only (GCNet's stage_with_gcb
  (False, True, True, True)), reduction 16 (GlobalContext of gc.py);
- `nonlocal`: the 5-block setting of Wang et al. Table 2b: one NonLocal block (nonlocal_block.py,
  inner = c/2, no subsampling, no BN, eager) after the residual blocks of 0-based indices 1 and
  3 of conv3_x (res3, 512 channels) and 1, 3 and 5 of conv4_x (res4, 1024 channels): after every
  other residual block, as the official code's LAYER_MOD = 2;
- `nonlocal_official`: the same five places, each block as the official code configures it
  (nonlocal_official.py): x max-pooled 2x2 before phi and g, a BN (gamma initialised to zero)
  after W_z. MACs at 224^2: 5,329,334,272 (none: 3,857,973,248; `nonlocal`: 6,660,603,904);
- `double_attention`: the notes do not give a verified A² placement for ResNet-50 (only "about
  5 blocks in res3/res4, mirroring non-local", unverified), so the same five positions as the
  non-local blocks, with m = n = c/4 (DoubleAttention of double_attention.py, gather first).

Evaluation order and memory (what the cost model follows): every operator allocates a new
tensor: BN's output (inference: the running statistics, one scale and shift per channel; the
train step runs BN in training mode, with batch statistics), ReLU not in place, the residual
add out of place. A bottleneck computes its branch (and the attention block), then the
projection shortcut, then the add and the ReLU; its input is held by the caller until the
bottleneck returns. The max pool runs as max_pool2d_with_indices: its int64 indices live while
it runs (and are saved in training).

Cost model (`cost`): the backbone's terms (a2bench.cost conv2d, batch_norm, ...) in forward
order, with each attention block's own forward model at its stage's shape spliced in (its
terms renamed under the bottleneck's name). Per-element conventions: BN 2 operations (scale and
shift; training adds 3 for the batch statistics, its backward 11), ReLU 1, max pool 8
comparisons per output element, residual add 1, global average pool 1 per input element; the
convolutions and the fc are MACs (fc bias adds elementwise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from a2bench.blocks.double_attention import DoubleAttention
from a2bench.blocks.gc import GlobalContext
from a2bench.blocks.nonlocal_block import NonLocal
from a2bench.blocks.nonlocal_official import NonLocalOfficial, official_cost
from a2bench.blocks.se import SqueezeExcitation
from a2bench.case import Case
from a2bench.cost import (
    INPUT,
    Cost,
    Term,
    batch_norm,
    conv2d,
    cpu_f32_conv2d_memory,
    elementwise,
    pointwise,
)
from a2bench.registry import REGISTRY, BlockSpec, Param, Value, register

ATTENTIONS = ("none", "se", "gc", "nonlocal", "double_attention", "nonlocal_official")
LAYERS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
CLASSES = 1000
# Blocks inside a bottleneck (before the residual add), and the stages (0 = conv2_x) they go in.
INSIDE = {"se": (0, 1, 2, 3), "gc": (1, 2, 3)}
# Blocks after a residual block: stage -> 0-based indices of the residual blocks they follow.
AFTER = {1: (1, 3), 2: (1, 3, 5)}
AFTER_KINDS = ("nonlocal", "double_attention", "nonlocal_official")
OFFICIAL = "nonlocal_official"  # not a registered block: its module and model are here


def _half_size(n: int) -> int:
    """Output size of a stride-2 layer here (7x7 pad 3, 3x3 pad 1, 1x1 pad 0): ceil(n / 2)."""
    return (n - 1) // 2 + 1


def _attention_module(kind: str, channels: int) -> nn.Module:
    """The registered block's module with its default parameters at `channels`."""
    if kind == "se":
        return SqueezeExcitation(channels)
    if kind == "gc":
        return GlobalContext(channels)
    if kind == "nonlocal":
        return NonLocal(channels, max(1, channels // 2))
    if kind == OFFICIAL:
        return NonLocalOfficial(channels, max(1, channels // 2))
    if kind == "double_attention":
        m = max(1, channels // 4)
        return DoubleAttention(channels, m, m, "left")
    raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {kind!r}")


class Bottleneck(nn.Module):
    """1x1 (stride) - 3x3 - 1x1 with BN, optional attention before the add, shortcut, ReLU."""

    def __init__(self, cin: int, width: int, stride: int, attention: nn.Module | None):
        super().__init__()
        cout = width * EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.attention = attention
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        # One operator a line: each reassignment frees the previous tensor (the cost model's
        # order).
        out = self.conv1(x)
        out = self.bn1(out)
        out = F.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = F.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        if self.attention is not None:
            out = self.attention(out)
        identity = x if self.downsample is None else self.downsample(x)
        out = out + identity
        del identity
        return F.relu(out)


class ResNet50(nn.Module):
    """ResNet-50 v1 (stride on the first 1x1 of a downsampling bottleneck), (b, c, h, w) ->
    (b, 1000) logits; `attention` as in the module docstring."""

    def __init__(self, channels: int = 3, attention: str = "none"):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {attention!r}")
        self.conv1 = nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        layers: list[nn.Sequential] = []
        cin = 64
        for stage, (count, width) in enumerate(zip(LAYERS, WIDTHS, strict=True)):
            cout = width * EXPANSION
            blocks_: list[nn.Module] = []
            for i in range(count):
                stride = 2 if i == 0 and stage > 0 else 1
                inside = (_attention_module(attention, cout)
                          if stage in INSIDE.get(attention, ()) else None)
                blocks_.append(Bottleneck(cin, width, stride, inside))
                cin = cout
                if attention in AFTER_KINDS and i in AFTER.get(stage, ()):
                    blocks_.append(_attention_module(attention, cout))
            layers.append(nn.Sequential(*blocks_))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected (b, c, h, w), got shape {tuple(x.shape)}")
        x = self.conv1(x)
        x = self.bn1(x)
        x = F.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        return self.fc(x.flatten(1))


# --- cost model -----------------------------------------------------------------------------

def _sub_case(case: Case, kind: str, channels: int, h: int, w: int) -> Case:
    """The case of an inserted block: its registered spec's defaults at the stage's shape."""
    shape = {"batch": case.batch, "channels": channels, "t": 1, "h": h, "w": w}
    params = ({"inner": max(1, channels // 2)} if kind == OFFICIAL
              else REGISTRY[kind].resolve(shape))
    return Case(kind, case.device, case.dtype, case.batch, channels, 1, h, w, params=params)


def _sub_cost(sub: Case) -> Cost:
    return official_cost(sub) if sub.block == OFFICIAL else REGISTRY[sub.block].cost(sub)


def _sub_declared(sub: Case, counter: str) -> int:
    """MACs the counter is declared to report above an inserted block's model."""
    if sub.block == OFFICIAL:  # its BN (fvcore: 2 MACs per element) is a "bn" term, counted
        return 0               # with the network's own BNs in _fvcore_difference
    declared = REGISTRY[sub.block].counter_difference.get(counter)
    return int(declared[0](sub)) if declared else 0


def _splice(prefix: str, sub: Cost, source: str) -> tuple[Term, ...]:
    """An inserted block's forward terms, renamed under `prefix`, reading `source` where the
    block reads its input; its last term frees `source` (the caller's last use of it)."""
    def name(n: str) -> str:
        return source if n == INPUT else f"{prefix}.{n}"

    def names(ns: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if ns is None else tuple(name(n) for n in ns)

    def rename(t: Term, previous: str) -> Term:
        return dataclasses.replace(
            t, name=name(t.name), frees=names(t.frees),
            inputs=names(t.inputs if t.inputs is not None else (previous,)),
            saves=names(t.saves), passes=names(t.passes),
            train_extra=tuple(rename(e, t.name) for e in t.train_extra))

    out, previous = [], INPUT
    for t in sub.terms:
        out.append(rename(t, previous))
        previous = t.name
    last = out[-1]
    out[-1] = dataclasses.replace(last, frees=(*last.frees, source))
    return tuple(out)


def _relu(name: str, source: str, elements: int, frees: tuple[str, ...]) -> Term:
    """ReLU into a new tensor: 1 per element; saves its output, backward 1 (select)."""
    return elementwise(name, elements, elements, frees=frees, inputs=(source,), saves=(name,),
                       backward_elementwise=elements)


Sides = tuple[int, int]


def _conv(name: str, case: Case, sides: Sides, cin: int, cout: int, kernel: int, stride: int,
          in_sides: Sides, source: str, frees: tuple[str, ...] = ()) -> Term:
    """One convolution to a map of `sides`; in float32 on a CPU with the buffers of the kernel
    torch runs it on (cost.cpu_f32_conv2d_memory, at one thread: the record names no thread
    count)."""
    memory = (cpu_f32_conv2d_memory(case.batch, cin, cout, kernel, stride, in_sides, sides)
              if case.device == "cpu" and case.dtype == "float32" else {})
    return conv2d(name, case.batch, sides[0] * sides[1], cin, cout, kernel, frees=frees,
                  inputs=(source,), **memory)


def _bn(name: str, case: Case, positions: int, channels: int, source: str) -> Term:
    """BatchNorm2d of `source` (its last use); in float32 on a CPU native_batch_norm also
    allocates a scale and a shift per channel while it runs (measured: 2 x 1,024 B at 256
    channels, the peak of batch 2 at 224 x 224 in layer1.0's shortcut BN)."""
    measured = case.device == "cpu" and case.dtype == "float32"
    return batch_norm(name, case.batch, positions, channels, frees=(source,), inputs=(source,),
                      scratch=2 * channels if measured else 0)


def _conv_bn(prefix: str, case: Case, sides: Sides, cin: int, cout: int, stride: int,
             in_sides: Sides, source: str) -> tuple[Term, ...]:
    conv, bn = f"{prefix}conv", f"{prefix}bn"
    return (_conv(conv, case, sides, cin, cout, 1, stride, in_sides, source),
            _bn(bn, case, sides[0] * sides[1], cout, conv))


def _bottleneck(p: str, case: Case, source: str, cin: int, width: int, stride: int, h: int,
                w: int, inside: str | None,
                frees_source: bool = True) -> tuple[tuple[Term, ...], int, int]:
    b, cout = case.batch, width * EXPANSION
    given = (h, w)  # the bottleneck's input sides, before its stride
    if stride == 2:
        h, w = _half_size(h), _half_size(w)
    n = h * w
    terms: list[Term] = []

    def conv_bn_relu(i: int, src: str, c_in: int, c_out: int, kernel: int, conv_stride: int,
                     in_sides: Sides, frees: tuple[str, ...]) -> str:
        conv, bn, relu = f"{p}.conv{i}", f"{p}.bn{i}", f"{p}.relu{i}"
        terms.extend((_conv(conv, case, (h, w), c_in, c_out, kernel, conv_stride, in_sides,
                            src, frees),
                      _bn(bn, case, n, c_out, conv),
                      _relu(relu, bn, b * c_out * n, (bn,))))
        return relu

    a = conv_bn_relu(1, source, cin, width, 1, stride, given, ())  # v1: the stride here
    a = conv_bn_relu(2, a, width, width, 3, 1, (h, w), (a,))
    terms.extend((_conv(f"{p}.conv3", case, (h, w), width, cout, 1, 1, (h, w), a, (a,)),
                  _bn(f"{p}.bn3", case, n, cout, f"{p}.conv3")))
    branch = f"{p}.bn3"
    if inside is not None:
        spliced = _splice(f"{p}.{inside}", _sub_cost(_sub_case(case, inside, cout, h, w)), branch)
        terms.extend(spliced)
        branch = spliced[-1].name
    identity, add_frees = source, (branch,)
    if cin != cout or stride != 1:
        terms.extend(_conv_bn(f"{p}.downsample.", case, (h, w), cin, cout, stride, given,
                              source))
        identity = f"{p}.downsample.bn"
        add_frees = (branch, identity)
    big = b * cout * n
    terms.append(elementwise(f"{p}.add", big, big, frees=add_frees, inputs=(branch, identity),
                             passes=(branch, identity)))
    terms.append(_relu(f"{p}.relu", f"{p}.add", big,
                       (f"{p}.add", source) if frees_source else (f"{p}.add",)))
    return tuple(terms), h, w


def _inserted(case: Case) -> list[tuple[str, Case]]:
    """(name prefix, case) of each inserted attention block."""
    kind = str(case.param("attention"))
    out = []
    h, w = _half_size(_half_size(case.h)), _half_size(_half_size(case.w))
    for stage, (count, width) in enumerate(zip(LAYERS, WIDTHS, strict=True)):
        if stage > 0:
            h, w = _half_size(h), _half_size(w)
        cout = width * EXPANSION
        for i in range(count):
            if stage in INSIDE.get(kind, ()):
                out.append((f"layer{stage + 1}.{i}.{kind}", _sub_case(case, kind, cout, h, w)))
            if kind in AFTER_KINDS and i in AFTER.get(stage, ()):
                out.append((f"layer{stage + 1}.{i}_{kind}", _sub_case(case, kind, cout, h, w)))
    return out


def forward_cost(case: Case) -> Cost:
    b, kind = case.batch, str(case.param("attention"))
    h, w = _half_size(case.h), _half_size(case.w)
    n = h * w
    stem = b * 64 * n
    ph, pw = _half_size(h), _half_size(w)
    pooled = b * 64 * ph * pw
    indices = pooled * 8 // case.dtype_bytes  # int64, in elements of the case dtype
    terms: list[Term] = [
        _conv("conv1", case, (h, w), case.channels, 64, 7, 2, (case.h, case.w), INPUT),
        _bn("bn1", case, n, 64, "conv1"),
        _relu("relu", "bn1", stem, ("bn1",)),
        # max_pool2d_with_indices: 8 comparisons per output; saves its input and the indices;
        # backward zero-fills the input's gradient and scatters (1 per input, 1 per output)
        elementwise("maxpool", 8 * pooled, pooled, inputs=("relu",),
                    saves=("relu", "maxpool_indices"), backward_elementwise=stem + pooled),
        Term("maxpool_indices", 0, 0, indices, ("maxpool_indices", "relu"), inputs=()),
    ]
    source, cin = "maxpool", 64
    h, w = ph, pw
    for stage, (count, width) in enumerate(zip(LAYERS, WIDTHS, strict=True)):
        cout = width * EXPANSION
        # ResNet50.forward's `x = self.layerK(x)` holds the stage's input until the stage
        # returns, past its first bottleneck (nn.Sequential frees the others' as it goes):
        # freed by the stage's last term (measured: batch 2 at 112 x 112 peaks in layer4.1
        # with layer3's output live)
        stage_input = source
        for i in range(count):
            stride = 2 if i == 0 and stage > 0 else 1
            p = f"layer{stage + 1}.{i}"
            inside = kind if stage in INSIDE.get(kind, ()) else None
            block, h, w = _bottleneck(p, case, source, cin, width, stride, h, w, inside,
                                      frees_source=i > 0)
            terms.extend(block)
            source, cin = f"{p}.relu", cout
            if kind in AFTER_KINDS and i in AFTER.get(stage, ()):
                sub = _sub_cost(_sub_case(case, kind, cout, h, w))
                spliced = _splice(f"{p}_{kind}", sub, source)
                terms.extend(spliced)
                source = spliced[-1].name
        terms[-1] = dataclasses.replace(terms[-1], frees=(*terms[-1].frees, stage_input))
    big = b * cin * h * w
    terms.extend((
        # adaptive average pool to 1x1: h w - 1 adds and a divide per channel; saves its input,
        # backward spreads the gradient over it (1 per input element)
        elementwise("avgpool", big, b * cin, frees=(source,), inputs=(source,), saves=(source,),
                    backward_elementwise=big),
        pointwise("fc", b, 1, cin, CLASSES, frees=("avgpool",), inputs=("avgpool",)),
    ))
    return Cost(tuple(terms), case.dtype_bytes)


def _fvcore_difference(case: Case) -> int:
    """fvcore counts an inference BN with affine as 2 MACs per element and the adaptive average
    pool as 1 per input element; the inserted blocks add their own declared differences."""
    cost = forward_cost(case)
    bn = sum(t.out_elements for t in cost.terms if t.name.rsplit(".", 1)[-1].startswith("bn"))
    pool = next(t.elementwise for t in cost.terms if t.name == "avgpool")
    extra = sum(_sub_declared(sub, "fvcore") for _, sub in _inserted(case))
    return 2 * bn + pool + extra


def _torch_difference(case: Case) -> int:
    return sum(_sub_declared(sub, "torch") for _, sub in _inserted(case))


def _check_image(p: Mapping[str, Value]) -> str | None:
    return f"expected an image (t = 1), got t = {p['t']}" if int(p.get("t", 1)) != 1 else None


def _check_batch_norm(p: Mapping[str, Value]) -> str | None:
    """A training step's BatchNorm normalises each channel over the batch and the map: res5's
    map (five halvings) must hold more than one value per channel (torch refuses one)."""
    if p.get("mode") != "train":
        return None
    h, w = int(p["h"]), int(p["w"])
    for _ in range(5):  # conv1, the max pool, conv3_x, conv4_x, conv5_x
        h, w = _half_size(h), _half_size(w)
    if int(p["batch"]) * h * w > 1:
        return None
    return (f"expected batch 2 or more, or h or w of at least 33, in train mode (BatchNorm in "
            f"training needs more than one value per channel, and res5's map is {h}x{w}), "
            f"got batch {p['batch']} at {p['h']}x{p['w']}")


def _check_attention(p: Mapping[str, Value]) -> str | None:
    if p.get("attention") == OFFICIAL:
        side = min(int(p["h"]), int(p["w"]))
        for _ in range(4):  # conv1, the max pool, conv3_x, conv4_x: res4's side
            side = _half_size(side)
        if side < 2:
            return (f"expected h and w of at least 17 with {OFFICIAL} (res4's map must be 2x2 "
                    f"or more for its 2x2 pool), got {p['h']}x{p['w']}")
    return None


@register
class ResNet50Spec(BlockSpec):
    name = "resnet50"
    label = "ResNet-50 v1 (whole network)"
    short_label = "ResNet-50"
    params = (Param("attention", "none", "attention blocks in ResNet-50", short="att",
                    choices=ATTENTIONS, check=_check_attention),)
    shape_checks = (("t", _check_image), ("batch", _check_batch_norm))
    examples = ({"channels": 3, "h": 64, "w": 64, "attention": "none"},
                {"channels": 3, "h": 64, "w": 64, "attention": "se"},
                {"channels": 3, "h": 64, "w": 64, "attention": "nonlocal"})
    counter_difference = {
        "fvcore": (_fvcore_difference,
                   "fvcore counts each inference BatchNorm (with affine) as 2 MACs per element "
                   "and the global average pool as 1 MAC per input element, and the inserted "
                   "blocks' own declared differences (SE's pool, GC's LayerNorm); the model "
                   "counts them as elementwise work"),
        "torch": (_torch_difference,
                  "only the inserted blocks' own declared differences (none at their defaults)"),
    }

    def module(self, case: Case) -> nn.Module:
        return ResNet50(case.channels, str(case.param("attention")))

    def output_shape(self, case: Case) -> tuple[int, ...]:
        return (case.batch, CLASSES)  # a whole network: logits

    def cost(self, case: Case) -> Cost:
        return forward_cost(case)
