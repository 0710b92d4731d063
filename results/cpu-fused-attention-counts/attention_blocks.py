"""Two attention blocks as public code writes them, with no cost model: multi-head SDPA over a
map's positions, and nn.MultiheadAttention over them. Neither declares anything to a2bench."""
import torch.nn.functional as F
from torch import nn

from a2bench.registry import BlockSpec, Param, register


class SDPAAttention(nn.Module):
    """q, k, v as (b, heads, N, d) with d contiguous: on a CPU, SDPA's flash kernel."""

    def __init__(self, c: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(x).flatten(2).transpose(1, 2)  # (b, N, 3c)
        q, k, v = (t.reshape(b, h * w, self.heads, c // self.heads).transpose(1, 2).contiguous()
                   for t in qkv.chunk(3, dim=2))
        o = F.scaled_dot_product_attention(q, k, v)  # (b, heads, N, d)
        o = o.transpose(1, 2).reshape(b, h * w, c).transpose(1, 2).reshape(b, c, h, w)
        return x + self.out(o)


class MHAAttention(nn.Module):
    """nn.MultiheadAttention over the positions (in eval mode: its fused fast path)."""

    def __init__(self, c: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(c, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        seq = x.flatten(2).transpose(1, 2)  # (b, N, c)
        o, _ = self.attn(seq, seq, seq, need_weights=False)
        return x + o.transpose(1, 2).reshape(b, c, h, w)


@register
class SDPASpec(BlockSpec):
    name = "sdpa_attention"
    params = (Param("heads", 4, "attention heads"),)

    def module(self, case):
        return SDPAAttention(case.channels, case.param("heads"))


@register
class MHASpec(BlockSpec):
    name = "mha_attention"
    params = (Param("heads", 4, "attention heads"),)

    def module(self, case):
        return MHAAttention(case.channels, case.param("heads"))
