from __future__ import annotations

from dataclasses import replace

import pytest

from a2bench.case import Case
from a2bench.catalog import cost_of
from a2bench.cost import Term, peak_live_elements
from a2bench.measurement import CSV_COLUMNS, Measurement


def attention(block: str, b=2, c=64, t=1, h=8, w=8, m=32, n=16) -> Case:
    return Case(block, "cpu", "float32", b, c, t, h, w, m=m, n=n)


def se(b=2, c=64, t=1, h=8, w=8, r=16) -> Case:
    return Case("se", "cpu", "float32", b, c, t, h, w, reduction=r)


def test_reference_case_from_the_notes():
    # b=2, c=64, 8x8, m=32, n=16, r=16 (hand-computed in shared/notes/flop-counters.md 3.5)
    assert cost_of(attention("double_attention")).macs == 917_504
    assert cost_of(attention("nonlocal_right")).macs == 1_179_648
    assert cost_of(se()).macs == 1_024


@pytest.mark.parametrize("b,c,t,h,w,m,n", [(1, 64, 1, 8, 8, 16, 16), (3, 10, 2, 5, 7, 3, 5),
                                           (2, 512, 1, 28, 28, 128, 128)])
def test_closed_forms(b, c, t, h, w, m, n):
    big_n = t * h * w
    left = cost_of(attention("double_attention", b, c, t, h, w, m, n))
    right = cost_of(attention("nonlocal_right", b, c, t, h, w, m, n))
    assert left.macs == 2 * b * big_n * (c * m + c * n + m * n)
    assert right.macs == 2 * b * big_n * (c * m + c * n) + b * big_n**2 * (m + n)
    # both orders do the same elementwise work; only the products differ
    assert left.elementwise == right.elementwise
    assert left.flops == 2 * left.macs + left.elementwise


def test_se_closed_form_and_elementwise():
    case = se(b=2, c=64, h=8, w=8, r=16)
    cost = cost_of(case)
    assert cost.macs == 2 * 2 * 64 * 64 // 16
    n = 64
    # pool c*N, fc biases, relu, sigmoid, scale c*N
    assert cost.elementwise == 2 * 64 * n + 2 * 4 + 2 * 64 + 2 * 4 + 2 * 64 + 2 * 64 * n


def test_crossover_is_the_harmonic_mean():
    m, n = 32, 16
    star = 2 * m * n / (m + n)  # 21.33
    for h, cheaper in ((4, "nonlocal_right"), (5, "double_attention")):  # N = 16 and 25
        left = cost_of(attention("double_attention", h=h, w=h, m=m, n=n)).macs
        right = cost_of(attention("nonlocal_right", h=h, w=h, m=m, n=n)).macs
        assert (right < left) == (cheaper == "nonlocal_right"), (h * h, star)


def test_peak_counts_the_nxn_matrix_for_the_nonlocal_order():
    case = attention("nonlocal_right", b=1, c=8, h=32, w=32, m=2, n=2)
    big_n = 1024
    cost = cost_of(case)
    # while S = softmax(B)^T softmax(V) runs, A, softmax(B), softmax(V) (each 2 x N) and S live
    assert cost.peak_bytes == (big_n * big_n + 3 * 2 * big_n) * 4
    left = cost_of(attention("double_attention", b=1, c=8, h=32, w=32, m=2, n=2))
    assert left.peak_bytes < cost.peak_bytes / 50
    # and says where: while S runs; in training, while S's gradient is made (the product's
    # backward). Double attention's CUDA train peak at c 256, m = n = 128: while the softmax of
    # B backpropagates (the product of its gradient and output, copied contiguous)
    assert cost.peak_at == "forward affinity"
    assert cost_of(replace(case, mode="train")).peak_at == "backward aggregate"
    da = attention("double_attention", b=1, c=256, h=64, w=64, m=128, n=128)
    assert cost_of(replace(da, device="cuda", mode="train")).peak_at == "backward softmax_b"
    assert cost_of(da).peak_at.startswith("forward ")
    # and names what is live then, summing to the peak: S, and in training its gradient
    assert dict(cost.peak_tensors)["affinity"] == big_n * big_n * 4
    for c in (case, replace(case, mode="train"), replace(da, device="cuda", mode="train")):
        named = cost_of(c).peak_tensors
        assert sum(n for _, n in named) == cost_of(c).peak_bytes
        assert tuple(n for _, n in named) == cost_of(c).peak_tensor_bytes
    assert "grad affinity" in dict(cost_of(replace(case, mode="train")).peak_tensors)


def test_peak_simulation_frees_after_last_use():
    terms = [Term("a", 0, 0, 10), Term("b", 0, 0, 5, ("a",)), Term("c", 0, 0, 1, ("b",))]
    assert peak_live_elements(terms) == 15
    terms = [Term("a", 0, 0, 10), Term("b", 0, 0, 5), Term("c", 0, 0, 1)]
    assert peak_live_elements(terms) == 16


def test_bytes_follow_dtype():
    c32 = cost_of(attention("double_attention"))
    c64 = cost_of(Case("double_attention", "cpu", "float64", 2, 64, 1, 8, 8, m=32, n=16))
    assert c64.peak_bytes == 2 * c32.peak_bytes
    assert c64.activation_bytes == 2 * c32.activation_bytes


def test_largest_activation_is_the_biggest_single_tensor():
    right = cost_of(attention("nonlocal_right", b=1, c=8, h=32, w=32, m=2, n=2))
    assert right.largest_activation_bytes == 1024 * 1024 * 4  # S, N x N
    left = cost_of(attention("double_attention", b=1, c=8, h=32, w=32, m=2, n=2))
    assert left.largest_activation_bytes == 8 * 1024 * 4  # the projection and residual, c x N
    assert cost_of(se(b=2, c=64, h=8, w=8)).largest_activation_bytes == 2 * 64 * 64 * 4


def test_measurement_records_it_and_reads_records_written_before():
    case = se()
    m = Measurement(case, "ok").with_cost(cost_of(case))
    assert m.largest_activation_bytes_analytic == cost_of(case).largest_activation_bytes
    # new columns go at the end, after the ones results.csv has always had
    assert CSV_COLUMNS.index("largest_activation_bytes_analytic") > CSV_COLUMNS.index("wall_s")
    assert m.to_row()["largest_activation_bytes_analytic"] == m.largest_activation_bytes_analytic
    old = m.to_json()
    del old["largest_activation_bytes_analytic"]
    assert Measurement.from_json(old).largest_activation_bytes_analytic is None


def test_a_misspelt_name_in_frees_is_refused():
    # it would free nothing, and the modelled peak would hold the tensor to the end
    from a2bench.cost import Cost

    ok = (Term("a", 0, 0, 4, inputs=("x",)), Term("b", 0, 0, 4, frees=("a", "x")))
    assert Cost(ok, 4).terms == ok
    with pytest.raises(ValueError, match=r"cost term 'b': frees 'aa', which names no earlier "
                       r"term; expected one of a, x"):
        Cost((ok[0], Term("b", 0, 0, 4, frees=("aa",))), 4)


def test_an_output_of_another_dtype_is_counted_in_its_own_bytes():
    # SDPA's math path allocates bool masks, a byte an element: held as whole float32 elements,
    # 225 B read 228 (the non-local block's model 4-6 B over its measured peak)
    from a2bench.cost import Cost, train_cost

    terms = (Term("a", 0, 0, 10, inputs=("x",), saves=("a",)),
             Term("mask", 0, 0, 225, inputs=(), itemsize=1),
             Term("b", 0, 0, 3, ("mask",), inputs=("a",)))
    cost = Cost(terms, 4)
    assert cost.peak_bytes == 40 + 225 + 12 and cost.activation_bytes == 277
    assert cost.largest_activation_bytes == 225
    assert dict(cost.peak_tensors)["mask"] == 225
    train = train_cost(cost, 5)
    assert train.saved_bytes == 40 and train.peak_bytes == cost.peak_bytes
    # on CUDA each tensor is its allocator block, the mask's as for any other
    assert replace(cost, device="cuda").peak_bytes == 3 * 512
