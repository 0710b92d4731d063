"""`a2bench audit`: the field's counters against the model, with what each missed or added.

The expected totals below are the issue's table (c = 64, m = n = 16, 48x48, batch 1), measured
once by hand with each tool; the audit must compute the same numbers itself.
"""

from __future__ import annotations

import csv

import pytest

from a2bench import audit
from a2bench.case import Case
from a2bench.catalog import blocks
from a2bench.cli import main
from a2bench.errors import InputError
from a2bench.measure import counters, environment

needs_extra = pytest.mark.skipif(
    any(counters.optional_missing(c) for c in ("thop", "ptflops")),
    reason="thop and ptflops are not installed (pip install a2bench[audit])")

TABLE = {  # block: (model, FlopCounterMode, fvcore, ptflops, thop), in MACs
    "double_attention": (10_616_832, 10_616_832, 10_616_832, 10_874_880, 9_437_184),
    "nonlocal_right": (179_306_496, 179_306_496, 179_306_496, 179_564_544, 9_437_184),
    "se": (512, 512, 147_968, 148_044, 512),
}


def table_case(block: str) -> Case:
    params = {"m": 16, "n": 16} if block != "se" else {"reduction": 16}
    return Case(block, "cpu", "float32", 1, 64, 1, 48, 48, params=params)


@pytest.fixture(scope="module")
def result() -> audit.Audit:
    return audit.run_audit([table_case(b) for b in TABLE])


@needs_extra
def test_the_audit_reproduces_the_published_table(result):
    got = {(r.block, r.counter): r.macs for r in result.rows}
    for block, (model, torch_, fvcore, ptflops, thop) in TABLE.items():
        assert {r.model_macs for r in result.rows if r.block == block} == {model}
        assert (got[block, "torch"], got[block, "fvcore"], got[block, "ptflops"],
                got[block, "thop"]) == (torch_, fvcore, ptflops, thop), block


@needs_extra
def test_every_difference_is_explained_and_thop_is_flagged_for_missing_bmm(result):
    rows = {(r.block, r.counter): r for r in result.rows}
    for r in result.rows:
        assert r.unexplained == 0, (r.case, r.counter, audit.explanation(r))
    thop = rows["nonlocal_right", "thop"]
    assert thop.missed == (("bmm", 179_306_496 - 9_437_184),) and thop.verdict == "under by 94.7 %"
    assert thop.misses_attention == ("bmm",)
    # ptflops adds the bias adds: 3 x 16 + 64 biases per position
    assert rows["double_attention", "ptflops"].added == (("bias", 112 * 48 * 48),)
    assert rows["se", "fvcore"].added == (("pool", 64 * 48 * 48),)
    lines = audit.verdict_lines(result)
    assert any(line.startswith("thop on nonlocal_right: under by 94.7 %") and "aten.bmm" in line
               for line in lines)
    assert "FlopCounterMode on double_attention: exact at every shape (1)" in lines


def test_default_cases_cover_every_registered_block_and_each_kernel_choice():
    cases = audit.default_cases()
    assert {c.block for c in cases} == set(blocks())
    assert {c.param("impl") for c in cases if c.block == "nonlocal"} == {"eager", "sdpa"}
    assert not [c for c in cases if c.block == "criss_cross" and c.t > 1]  # images only
    # a network on images is audited on images (its examples' c = 3), not on 64 channels
    assert {c.channels for c in cases if c.block == "resnet50"} == {3}
    assert {c.channels for c in cases if c.block == "se"} == {64, 256}


def test_without_the_extra_the_columns_are_empty_and_the_reason_is_said_once(
        tmp_path, monkeypatch, capsys):
    real = counters.optional_missing
    monkeypatch.setattr(counters, "optional_missing",
                        lambda c: "not installed (test)" if c in ("thop", "ptflops") else real(c))
    out = tmp_path / "audit"
    assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("thop not run: not installed (test)") == 1
    with open(out / "audit.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    thop = [r for r in rows if r["counter"] == "thop"]
    assert thop and all(r["macs"] == "" and r["verdict"] == "not run" for r in thop)
    assert all(r["macs"] for r in rows if r["counter"] == "torch")
    env = environment.optional_counters()
    assert env["thop"]["missing"] == "not installed (test)"


def test_a_run_without_the_extra_leaves_the_columns_empty_and_the_reason_out_of_each_case(
        monkeypatch):
    from a2bench.run.worker import Settings, measure_case

    monkeypatch.setattr(counters, "optional_missing", lambda c: f"{c} is not installed (test)")
    m = measure_case(table_case("se"), Settings(threads=1, time_budget_s=0.02))
    assert m.status == "ok" and m.macs_thop is None and m.macs_ptflops is None
    assert "not installed" not in m.reason  # said once, by `run` and environment.json


@needs_extra
def test_the_report_sets_the_optional_counters_beside_the_model():
    from a2bench import analysis as an
    from a2bench.catalog import cost_of
    from a2bench.measurement import Measurement

    ms = []
    for block, (_model, torch_, fvcore, ptflops, thop) in TABLE.items():
        c = table_case(block)
        ms.append(Measurement(c, "ok", latency_s=1e-3, macs_torch=torch_, macs_fvcore=fvcore,
                              macs_ptflops=ptflops, macs_thop=thop).with_cost(cost_of(c)))
    t = an.counter_table(an.prepare(an.frame(ms, "run"))).set_index("block")
    assert t.loc["nonlocal_right", "thop ÷ model"] == pytest.approx(9_437_184 / 179_306_496)
    assert t.loc["se", "fvcore"] == 147_968 and t.loc["double_attention", "model"] == 10_616_832


def test_the_counter_table_takes_each_blocks_largest_n_at_its_smallest_batch_and_says_which():
    """Rows of one block at batch 8 beside another's at batch 1 did not compare; each block's
    row is now its largest N at its smallest batch, and the batch is a column where not 1."""
    from dataclasses import replace
    from types import SimpleNamespace

    from a2bench import analysis as an
    from a2bench.catalog import cost_of
    from a2bench.measurement import Measurement
    from a2bench.report.sections.variants import counters_section

    def record(case):
        m = cost_of(case).macs
        return Measurement(case, "ok", latency_s=1e-3, macs_torch=m, macs_fvcore=m,
                           macs_ptflops=m, macs_thop=m).with_cost(cost_of(case))

    se = table_case("se")
    ms = [record(replace(se, batch=b)) for b in (8, 1, 2)] + [record(replace(se, h=8, w=8))]
    t = an.counter_table(an.prepare(an.frame(ms, "run")))
    assert t[["positions", "batch"]].values.tolist() == [[48 * 48, 1]]
    four = an.counter_table(an.prepare(an.frame([record(replace(se, batch=4))], "run")))
    result = SimpleNamespace(counters=four, runs=["run"], environments={})
    table = counters_section(result)[-1].frame
    assert table["batch"].tolist() == ["4"]


def test_the_counter_table_writes_counts_with_thousands_separators():
    # ResNet-50's counts had read 66853011456 beside the page's "32,768 B"
    from types import SimpleNamespace

    from a2bench import analysis as an
    from a2bench.catalog import cost_of
    from a2bench.measurement import Measurement
    from a2bench.report.sections.variants import counters_section

    case = table_case("double_attention")
    m = cost_of(case).macs
    ms = [Measurement(case, "ok", latency_s=1e-3, macs_torch=m, macs_fvcore=m, macs_ptflops=m,
                      macs_thop=m + 1).with_cost(cost_of(case))]
    t = an.counter_table(an.prepare(an.frame(ms, "run")))
    row = counters_section(SimpleNamespace(counters=t, runs=["run"], environments={}))[-1].frame
    assert row["model MACs"].iloc[0] == row["fvcore"].iloc[0] == "10,616,832"
    assert row["thop"].iloc[0] == "10,616,833 (1.0000001×)"


@pytest.mark.parametrize("sides,picked", [
    ([4, 8], [4, 8]),  # two sizes: both (round(0.5) once picked the first twice)
    ([4], [4]),
    ([4, 8, 12, 16, 20], [4, 12, 20]),
    ([4, 8, 12, 16], [4, 12, 16]),
])
def test_a_suite_is_audited_at_up_to_three_of_its_sizes_ends_included(sides, picked):
    from a2bench.suite import expand, parse_suite

    suite = parse_suite({"name": "a", "blocks": ["se"], "zip": [["h", "w"]],
                         "params": {"channels": [32], "h": sides, "w": sides}})
    assert [c.h for c in audit.suite_cases(expand(suite))] == picked


def test_counted_blocks_are_named_as_not_audited(scratch_registry):
    from torch import nn

    from a2bench.registry import BlockSpec, register

    @register
    class Counted(BlockSpec):
        name = "counted_for_audit"

        def module(self, case):
            return nn.Conv2d(case.channels, case.channels, 1)

    cases = [Case(b, "cpu", "float32", 1, 8, 1, 4, 4, params={"reduction": 2} if b == "se"
                  else {}) for b in ("se", "counted_for_audit")]
    assert audit.counted_blocks(cases) == ("counted_for_audit",)
    result = audit.run_audit(cases)
    assert {r.block for r in result.rows} == {"se"}
    assert audit.verdict_lines(result)[-1] == (
        "not audited: counted_for_audit (no cost() to set the counters beside; a counted "
        "block's MACs are a2bench's own count, FlopCounterMode's with its blind spots for fused "
        "attention closed)")  # not FlopCounterMode's own
    assert "- not audited: counted_for_audit" in audit.to_markdown(result)


def test_an_audit_with_nothing_to_audit_is_one_line(tmp_path, capsys, scratch_registry):
    # an auto suite lists no sizes, and a counted block has no model to set the counters beside:
    # both once printed an empty table and exited 0
    from torch import nn

    from a2bench.registry import BlockSpec, register

    @register
    class CountedOnly(BlockSpec):
        name = "counted_only"

        def module(self, case):
            return nn.Conv2d(case.channels, case.channels, 1)

    auto = tmp_path / "auto.yaml"
    auto.write_text("blocks: [se]\nparams: {channels: [32], h: auto, w: auto}\n")
    counted = tmp_path / "counted.yaml"
    counted.write_text("blocks: [counted_only]\nparams: {channels: [8], h: [4, 8], w: [4, 8]}\n"
                       "zip: [[h, w]]\n")
    for suite, said in ((auto, "no sizes to audit (its sizes are auto)"),
                        (counted, "nothing to audit: counted_only gives no cost()")):
        assert main(["audit", "--suite", str(suite), "--out", str(tmp_path / "a")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and said in err, err
    assert not (tmp_path / "a").exists()
    assert "counted_only" in {c.block for c in audit.default_cases()}  # named as not audited


def test_a_suites_train_bf16_and_compiled_cases_are_said_to_be_audited_forward():
    from a2bench.suite import expand, parse_suite

    suite = parse_suite({"name": "a", "blocks": ["se"], "params": {
        "channels": [32], "h": [8], "w": [8], "mode": ["forward", "train"],
        "dtype": ["float32", "bfloat16"]}})
    assert audit.reduced(expand(suite)) == (
        "the audit compares one forward float32 eager pass on the CPU: the suite's bfloat16, "
        "train cases are audited as that")
    assert {(c.mode, c.dtype) for c in audit.suite_cases(expand(suite))} == {
        ("forward", "float32")}
    plain = parse_suite({"name": "p", "blocks": ["se"],
                         "params": {"channels": [32], "h": [8], "w": [8]}})
    assert audit.reduced(expand(plain)) is None


def test_the_summary_says_one_value_once_and_large_percentages_whole():
    from types import SimpleNamespace as Row

    rows = [Row(macs=2, model_macs=1, ratio=289.0), Row(macs=2, model_macs=1, ratio=7.12),
            Row(macs=1, model_macs=2, ratio=0.889), Row(macs=1, model_macs=2, ratio=0.889)]
    assert audit.summary(rows) == ("over by 612–28800 % at 2 of 4 shapes; under by 11.1 % at "
                                   "2 of 4 shapes")


def test_a_clips_3d_pooling_is_its_own_work_which_fvcore_skips():
    # fvcore counts 2-D adaptive pooling, not 3-D: predicted from the 2-D probe, the clip's SE
    # row said fvcore added 50,176 pooling MACs and missed them again as "unexplained"
    clip = Case("se", "cpu", "float32", 1, 64, 4, 14, 14, reduction=16)
    result = audit.run_audit([clip])
    rates = result.conventions["fvcore"].rates
    assert rates["pool"] == 1 and rates["pool3d"] == 0
    (row,) = [r for r in result.rows if r.counter == "fvcore"]
    assert row.verdict == "exact" and not row.added and not row.missed and row.unexplained == 0


def test_sdpas_math_path_is_its_own_work_which_fvcore_misses():
    # At inner 1 SDPA runs its math path: FlopCounterMode counts its bmm, fvcore sees one
    # composite call; predicted from the bmm probe, fvcore's 35,574 missing MACs had read
    # "unexplained"
    case = Case("nonlocal", "cpu", "float32", 3, 12, 1, 7, 11,
                params={"impl": "sdpa", "inner": 1, "subsample": 1})
    result = audit.run_audit([case])
    rates = {c: result.conventions[c].rates["sdpa_math"] for c in ("torch", "fvcore")}
    assert rates == {"torch": 1, "fvcore": 0}
    rows = {r.counter: r for r in result.rows}
    assert rows["torch"].verdict == "exact"
    assert rows["fvcore"].missed == (("sdpa_math", 35_574),) and rows["fvcore"].unexplained == 0
    assert rows["fvcore"].misses_attention == ("sdpa_math",)


def test_audit_out_refuses_a_runs_folder_and_a_users_own_files_but_rewrites_an_earlier_audit(
        tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("{}\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "audit.md").write_text("my notes\n")
    for out, said in ((run, "is a run's results folder"),
                      (mine, "its audit.md is not an a2bench audit's")):
        assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and said in err, err
        assert not (out / "audit.csv").exists()
    assert (mine / "audit.md").read_text() == "my notes\n"
    earlier = tmp_path / "earlier"
    assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(earlier)]) == 0
    assert audit.folder_problem(earlier) is None  # what an audit wrote, a rerun may rewrite
    assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(earlier)]) == 0


def test_an_audit_file_cut_short_does_not_block_the_next_audit(tmp_path):
    # an audit killed as it wrote audit.md (empty) or audit.csv (a part of its header) had
    # refused every later audit into the folder as not an a2bench audit's
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "audit.md").write_text("")
    (cut / "audit.csv").write_text(audit.text.CSV_HEADER[:7])
    assert audit.folder_problem(cut) is None
    (cut / "audit.md").write_text("# Counter")
    assert audit.folder_problem(cut) is None
    (cut / "audit.md").write_text("# Counted by hand\n")
    assert "its audit.md is not an a2bench audit's" in audit.folder_problem(cut)


@needs_extra
def test_ptflops_at_a_batch_is_its_one_sample_count_times_the_batch():
    """ptflops divides what its module hooks count by the batch and not what its functional
    patches count: run on a batch of 3 it read 5,280 MACs for 12,780 (double attention, c 17,
    m 3, n 1, 5x6). It is counted on one sample, as its users call it, times the batch, so
    every difference from the model is explained as at batch 1."""
    params = {"m": 3, "n": 1}
    one, three = (Case("double_attention", "cpu", "float32", b, 17, 1, 5, 6, params=params)
                  for b in (1, 3))
    result = audit.run_audit([one, three])
    ptflops = {r.case: r for r in result.rows if r.counter == "ptflops"}
    assert ptflops[three.label()].macs == 3 * ptflops[one.label()].macs
    assert ptflops[three.label()].unexplained == 0


@needs_extra
def test_resnet50s_pooling_modules_are_explained_to_the_mac():
    # ResNet-50's nn.MaxPool2d and nn.AdaptiveAvgPool2d: ptflops counts each twice (its module
    # hook, then its patch of the functional call inside), thop counts the average pool's
    # (kernel + 1) per output. Probed as functional pooling only, the audit had left +45,056
    # (ptflops) and +10,240 (thop) unexplained at 48x48.
    net = Case("resnet50", "cpu", "float32", 1, 3, 1, 48, 48, attention="none")
    result = audit.run_audit([net])
    rows = {r.counter: r for r in result.rows}
    for r in result.rows:
        assert r.unexplained == 0, (r.counter, audit.explanation(r))
    assert dict(rows["thop"].added)["pool_module_out"] == 2048  # one per pooled channel
    # 64 channels at 24x24 into the max pool, 2048 at 2x2 into the average pool, twice each
    added = dict(rows["ptflops"].added)
    assert (added["maxpool_module"], added["pool_module"]) == (2 * 64 * 24 * 24, 2 * 2048 * 4)
    rates = result.conventions["thop"].rates
    assert (rates["pool_module"], rates["pool_module_out"], rates["pool"]) == (1, 1, 0)


def test_a_failing_block_and_a_case_past_the_memory_budget_are_one_line_each(
        tmp_path, capsys, scratch_registry):
    """A plugin's forward that raised had ended the audit in a traceback (exit 1), and the
    non-local order at 1000x1000 had first tried to allocate 4 TB. Each is now a case not
    audited, in one line (the failing one with the block's file:line, as a run records it);
    the other cases are audited and written, and a block that failed makes the exit status 2."""
    import inspect

    from torch import nn

    from a2bench.blocks.se import SESpec
    from a2bench.registry import register

    class Broken(nn.Module):
        def forward(self, x):
            return x.flatten(2)[..., :-1].view_as(x)  # one position short

    @register
    class BrokenSpec(SESpec):
        name = "broken_forward"

        def module(self, case):
            return Broken()

    line = inspect.getsourcelines(Broken.forward)[1] + 1
    suite = tmp_path / "mine.yaml"
    suite.write_text("params: {channels: [16]}\nsweeps:\n"
                     "  - {blocks: [se, broken_forward], params: {h: [8], w: [8]}}\n"
                     "  - {blocks: [nonlocal_right], params: {h: [8, 1000], w: [8, 1000]}, "
                     "zip: [[h, w]]}\n")
    out = tmp_path / "audit"
    assert main(["audit", "--suite", str(suite), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    said = [row for row in err.splitlines() if "not audited" in row]
    assert len(said) == 2, err
    assert said[0].startswith("a2bench: nonlocal_right b1 c16 m4 n4 1000x1000: skipped: "
                              "predicted peak 3725 GiB exceeds the memory budget of ")
    assert said[0].endswith(" (half the available RAM, as a run's); not audited")
    assert said[1].startswith("a2bench: error: broken_forward b1 c16 r16 8x8: error: "
                              "RuntimeError: shape '[1, 16, 8, 8]' is invalid")
    assert said[1].endswith(f" (at {__file__}:{line}); not audited")
    # the rest audited and written, the cases not audited with them
    rows = csv.DictReader((out / "audit.csv").read_text().splitlines())
    cases = {r["case"]: r["verdict"] for r in rows}
    assert {"se b1 c16 r16 8x8", "nonlocal_right b1 c16 m4 n4 8x8"} < cases.keys()
    assert cases["broken_forward b1 c16 r16 8x8"] == "error"
    assert cases["nonlocal_right b1 c16 m4 n4 1000x1000"] == "skipped"
    assert "## Cases not audited" in (out / "audit.md").read_text()
    # nothing to count at all: one line, nothing written
    big = [Case("nonlocal_right", "cpu", "float32", 1, 16, 1, 8, 8, params={"m": 4, "n": 4})]
    with pytest.raises(InputError, match=r"^nothing audited: nonlocal_right b1 c16 m4 n4 8x8: "
                                         r"skipped: predicted peak .* exceeds the memory budget "
                                         r"of 1 B$"):
        audit.run_audit(big, memory_budget=1)


def test_a_cuda_suite_is_audited_at_its_own_sizes_and_said_to_be_counted_on_the_cpu(
        tmp_path, capsys):
    """The suite had been read for the CPU: a `device: cuda` suite's cases were never said to
    be counted on the CPU, and its cpu: section's sizes were audited in place of its own."""
    suite = tmp_path / "gpu.yaml"
    suite.write_text("blocks: [se]\ndevice: cuda\nparams: {channels: [16], h: [8], w: [8], "
                     "mode: [train]}\ncpu:\n  params: {h: [12], w: [12]}\n")
    out = tmp_path / "audit"
    assert main(["audit", "--suite", str(suite), "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "a2bench: the audit compares one forward float32 eager pass on the CPU: the suite's "
        "train cases are audited as that, and its cases for cuda are counted on the CPU")
    assert err[1].startswith("a2bench: auditing 1 case with ")  # had read "1 cases"
    rows = csv.DictReader((out / "audit.csv").read_text().splitlines())
    assert {r["case"] for r in rows} == {"se b1 c16 r16 8x8"}
    plain = audit.reduced([Case("se", "cuda", "float32", 1, 16, 1, 8, 8, reduction=16)])
    assert plain == ("the audit compares one forward float32 eager pass on the CPU: the suite's "
                     "cases for cuda are counted on the CPU")


def test_a_cost_model_off_the_products_that_ran_is_said_as_the_models_not_the_counters(
        scratch_registry):
    """A block whose cost() counts twice the products its module runs: every counter read
    "under by 50 %", and each difference's explanation was empty ("16,384 against 32,768: "),
    though the counters count the products exactly. The model's own difference is said, in each
    explanation and once per block among the verdicts."""
    from torch import nn

    from a2bench.cost import Cost, pointwise
    from a2bench.registry import BlockSpec, register

    @register
    class Doubled(BlockSpec):
        name = "doubled_model"

        def module(self, case):
            return nn.Conv2d(case.channels, case.channels, 1, bias=False)

        def cost(self, case):
            return Cost((pointwise("p", case.batch, case.positions, case.channels,
                                   2 * case.channels),), case.dtype_bytes)

    cases = [Case("doubled_model", "cpu", "float32", 1, 16, 1, h, h) for h in (8, 12)]
    result = audit.run_audit(cases)
    torch_rows = [r for r in result.rows if r.counter == "torch"]
    assert [r.model_off for r in torch_rows] == [16 * 16 * 64, 16 * 16 * 144]
    for r in torch_rows:
        assert r.macs + r.model_off == r.model_macs and r.unexplained == 0
        assert audit.explanation(r).startswith(
            f"the model counts +{r.model_off:,} MACs against the products that ran "
            f"({r.macs:,}): its cost()'s, not the counter's")
    assert ("the model of doubled_model: off the products that ran at 2 of 2 shapes (+16,384, "
            "+36,864 MACs); every counter's difference from it holds that"
            ) in audit.verdict_lines(result)
    assert "16,384 against 32,768: the model counts +16,384" in audit.to_markdown(result)


def test_the_printed_table_says_its_counts_are_macs_and_flopcountermodes_halved(
        tmp_path, capsys):
    # the terminal's table had said "model MACs" alone, its FlopCounterMode column half of what
    # FlopCounterMode itself reports; audit.md and --help said so, the printed table did not
    assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out.splitlines()
    said = out.index("Every count in multiply-accumulates (MACs): FlopCounterMode's total is "
                     "halved (it reports 2 per MAC); fvcore, ptflops and thop report MACs.")
    assert "FlopCounterMode" in out[said + 1] and "model MACs" in out[said + 1]
    assert audit.UNITS in (tmp_path / "a" / "audit.md").read_text()


def test_audit_out_takes_a_folder_with_a_users_results_csv_and_refuses_a_stopped_runs(
        tmp_path, capsys):
    """The audit writes audit.csv and audit.md alone, yet a folder holding a results.csv of the
    user's was refused as a run's --out is ("which no a2bench run wrote there; expected ... or
    a run's own", a run's own being refused next); and the folder of a run stopped before its
    first result (its environment.json alone) took an audit.md, which would read as that
    run's."""
    import json

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.csv").write_text("a,b\n1,2\n")
    assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(mine)]) == 0
    capsys.readouterr()
    assert (mine / "results.csv").read_text() == "a,b\n1,2\n" and (mine / "audit.md").is_file()
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / "environment.json").write_text(json.dumps({"suite": "smoke"}))
    assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(stopped)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a run's results folder" in err, err
    assert sorted(p.name for p in stopped.iterdir()) == ["environment.json"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["audit", "--suite", "suites/smoke.yaml", "--out", str(afile)]) == 2
    assert capsys.readouterr().err.strip().endswith(f"--out {afile}: is a file; expected a folder")
