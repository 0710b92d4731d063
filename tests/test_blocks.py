from __future__ import annotations

import pytest
import torch
from conftest import softmax_calls

from a2bench.blocks import DoubleAttention, SqueezeExcitation, build
from a2bench.case import Case

SHAPES = [(2, 6, 1, 5, 7, 3, 5), (3, 10, 3, 4, 5, 7, 2), (1, 9, 2, 3, 11, 4, 4)]  # b,c,t,h,w,m,n


def _pair(c: int, m: int, n: int) -> tuple[DoubleAttention, DoubleAttention]:
    torch.manual_seed(0)
    left = DoubleAttention(c, m, n, "left").double().eval()
    right = DoubleAttention(c, m, n, "right").double().eval()
    right.load_state_dict(left.state_dict())  # one state_dict loads into either order
    return left, right


@pytest.mark.parametrize("b,c,t,h,w,m,n", SHAPES)
def test_left_equals_right_in_float64(b, c, t, h, w, m, n):
    left, right = _pair(c, m, n)
    shape = (b, c, h, w) if t == 1 else (b, c, t, h, w)
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        out_left, out_right = left(x), right(x)
    assert out_left.shape == x.shape
    assert torch.allclose(out_left, out_right, rtol=0, atol=1e-10)
    # the attention path contributes: the output is not just the residual
    assert (out_left - x).abs().max() > 1e-3


def _attention_maps(block: DoubleAttention, x: torch.Tensor):
    captured = {}

    def grab(name):
        def hook(_module, _inp, out):
            captured[name] = out
        return hook

    block.theta.register_forward_hook(grab("b"))
    block.rho.register_forward_hook(grab("v"))
    with torch.no_grad():
        block(x)
    return captured["b"], captured["v"]


def test_softmax_axes():
    torch.manual_seed(1)
    block = DoubleAttention(8, 4, 3).eval()
    x = torch.randn(2, 8, 5, 6)
    calls = softmax_calls(block, x)
    (b_in, b_dim, b_out), (v_in, v_dim, v_out) = calls
    n_positions = 5 * 6
    assert b_out.shape == (2, 3, n_positions) and v_out.shape == (2, 3, n_positions)
    # each of the n maps of B sums to 1 over the N positions
    assert torch.allclose(b_out.sum(dim=2), torch.ones(2, 3), atol=1e-6)
    # each position of V sums to 1 over the n channels
    assert torch.allclose(v_out.sum(dim=1), torch.ones(2, n_positions), atol=1e-6)
    assert not torch.allclose(b_out.sum(dim=1), torch.ones(2, n_positions), atol=1e-3)


@pytest.mark.parametrize("association", ["left", "right"])
@pytest.mark.parametrize("video", [False, True])
def test_samples_in_a_batch_never_mix(association, video):
    torch.manual_seed(2)
    block = DoubleAttention(6, 4, 3, association).eval()
    shape = (4, 6, 2, 3, 5) if video else (4, 6, 3, 5)
    x = torch.randn(shape)
    y = x.clone()
    y[2] += torch.randn_like(y[2])
    with torch.no_grad():
        out_x, out_y = block(x), block(y)
    others = [0, 1, 3]
    assert torch.equal(out_x[others], out_y[others])  # bit-identical
    assert not torch.allclose(out_x[2], out_y[2])


def test_se_block_mixing_and_reference():
    torch.manual_seed(3)
    se = SqueezeExcitation(16, reduction=4).double().eval()
    for x in (torch.randn(3, 16, 5, 7, dtype=torch.float64),
              torch.randn(2, 16, 3, 4, 5, dtype=torch.float64)):
        w1, b1 = se.fc1.weight, se.fc1.bias
        w2, b2 = se.fc2.weight, se.fc2.bias
        pooled = x.flatten(2).mean(dim=2)  # (b, c)
        hidden = torch.clamp(pooled @ w1.T + b1, min=0)
        gate = 1 / (1 + torch.exp(-(hidden @ w2.T + b2)))
        expected = x * gate.reshape(*gate.shape, *([1] * (x.dim() - 2)))
        with torch.no_grad():
            assert torch.allclose(se(x), expected, rtol=0, atol=1e-12)
    x = torch.randn(3, 16, 4, 4, dtype=torch.float64)
    y = x.clone()
    y[1] *= 2
    with torch.no_grad():
        assert torch.equal(se(x)[[0, 2]], se(y)[[0, 2]])


def test_bad_arguments():
    with pytest.raises(ValueError, match="association"):
        DoubleAttention(8, 2, 2, "middle")
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(8, reduction=16)
    with pytest.raises(ValueError, match="expected"):
        DoubleAttention(8, 2, 2)(torch.randn(8, 4))


def test_build_uses_case_shape_dtype_and_is_deterministic():
    case = Case("nonlocal_right", "cpu", "float64", 2, 8, 3, 4, 5, m=2, n=3)
    module, x = build(case)
    assert x.shape == (2, 8, 3, 4, 5) and x.dtype == torch.float64 and x.is_contiguous()
    assert not module.training
    module2, x2 = build(case)
    assert torch.equal(x, x2)
    with torch.no_grad():
        assert torch.equal(module(x), module2(x2))


def efficient_attention(x, keys, queries, values, reprojection):
    """Efficient attention (Shen et al., WACV 2021) with one head, written as its official code
    (cmsflash/efficient-attention) computes it: keys normalised over positions, queries over the
    key channels, context = K̂·Vᵀ first, out = contextᵀ·Q̂, reprojection and a residual."""
    b, c, h, w = x.shape
    k = keys(x).reshape(b, -1, h * w)
    q = queries(x).reshape(b, -1, h * w)
    v = values(x).reshape(b, -1, h * w)
    key = torch.softmax(k, dim=2)
    query = torch.softmax(q, dim=1)
    context = key @ v.transpose(1, 2)  # (d_k, d_v)
    attended = (context.transpose(1, 2) @ query).reshape(b, -1, h, w)
    return reprojection(attended) + x


def test_efficient_attention_with_one_head_is_double_attention():
    torch.manual_seed(3)
    c, d_k, d_v = 12, 5, 7
    block = DoubleAttention(c, m=d_v, n=d_k).eval()
    conv = lambda cin, cout: torch.nn.Conv2d(cin, cout, 1)  # noqa: E731
    keys, queries, values, reproj = conv(c, d_k), conv(c, d_k), conv(c, d_v), conv(d_v, c)
    # The same weights, named as each paper names them: values are A = φ(X), keys B = θ(X),
    # queries V = ρ(X), and the reprojection is the output projection.
    for ours, theirs in ((block.phi, values), (block.theta, keys), (block.rho, queries),
                         (block.proj, reproj)):
        theirs.weight.data.copy_(ours.weight.data.unsqueeze(-1))
        theirs.bias.data.copy_(ours.bias.data)
    x = torch.randn(2, c, 6, 9)
    with torch.no_grad():
        assert torch.allclose(block(x), efficient_attention(x, keys, queries, values, reproj),
                              atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("t", [1, 3])
def test_se_forward_peak_is_its_model_to_the_byte(one_thread, dtype: str, t: int):
    # Small enough that the pooled mean (b·c, kept alive by forward's local) and, in bf16 and
    # fp16, the pooling's fp32 copy of x set the peak: the model missed both before.
    from a2bench.catalog import cost_of
    from a2bench.measure.memory import peak_tensor_bytes_cpu

    case = Case("se", "cpu", dtype, 1, 32, t, 8, 8, reduction=4)
    module, x = build(case)
    with torch.no_grad():
        module(x)
        measured = peak_tensor_bytes_cpu(lambda: module(x))
    assert measured == cost_of(case).peak_bytes
