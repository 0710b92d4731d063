from __future__ import annotations

import pytest

from a2bench.case import Case
from a2bench.suite import SuiteError, expand, load_suite, parse_suite


def suite(**over):
    raw = {"name": "t", "blocks": ["double_attention"], "params": {"channels": [8], "h": [4],
                                                                   "w": [4]}}
    raw.update(over)
    return parse_suite(raw, "t.yaml")


def test_cartesian_product():
    s = suite(params={"channels": [8, 16], "h": [4, 8], "w": [4, 8]})
    cases = expand(s)
    assert len(cases) == 2 * 2 * 2
    assert {(c.channels, c.h, c.w) for c in cases} == {
        (c, h, w) for c in (8, 16) for h in (4, 8) for w in (4, 8)}


def test_zip_advances_axes_together():
    s = suite(params={"channels": [8], "h": [4, 8, 16], "w": [5, 9, 17]}, zip=[["h", "w"]])
    assert [(c.h, c.w) for c in expand(s)] == [(4, 5), (8, 9), (16, 17)]


def test_defaults_follow_the_paper():
    s = suite(blocks=["double_attention", "se"], params={"channels": [64], "h": [4], "w": [4]})
    da, se = expand(s)
    assert da == Case("double_attention", "cpu", "float32", 1, 64, 1, 4, 4, m=16, n=16)
    assert se == Case("se", "cpu", "float32", 1, 64, 1, 4, 4, reduction=16)


def test_blocks_ignore_axes_they_lack_and_duplicates_collapse():
    s = suite(blocks=["double_attention", "se"],
              params={"channels": [64], "h": [4], "w": [4], "m": [8, 16], "reduction": [4, 8]})
    cases = expand(s)
    da = [c for c in cases if c.block == "double_attention"]
    se = [c for c in cases if c.block == "se"]
    assert sorted(c.m for c in da) == [8, 16]  # not 4 copies: reduction does not apply
    assert sorted(c.reduction for c in se) == [4, 8]  # not 4 copies: m does not apply
    assert all(c.m is None and c.n is None for c in se)
    assert all(c.reduction is None for c in da)
    assert len(cases) == len(set(cases)) == 4


def test_scalar_axis_is_one_value():
    assert [c.batch for c in expand(suite(params={"channels": 8, "h": 4, "w": 4, "batch": 3}))] \
        == [3]
    # one block unlisted too, as an axis's value (`blocks: se` had been refused)
    assert suite(blocks="se", params={"channels": 32, "h": 4, "w": 4}).blocks == ("se",)
    # a value given alone is named without an index, and "4, 8" is told how a list reads
    with pytest.raises(SuiteError, match=r" params\.h: expected a positive integer \(a YAML "
                       r"list of sizes reads \[4, 8\]\), got '4, 8'"):
        suite(params={"channels": 8, "h": "4, 8", "w": 4})


@pytest.mark.parametrize("over,field", [
    ({"blocks": ["transformer"]}, "blocks[0]"),
    ({"blocks": []}, "blocks"),
    ({"device": "tpu"}, "device"),
    ({"dtype": "int8"}, "dtype"),
    ({"colour": "red"}, "colour"),
    ({"name": ""}, "name"),
    ({"name": "../../elsewhere"}, "name"),  # a run without --out would write outside results/
    ({"name": "a/b"}, "name"),
    ({"params": {"channels": [8], "h": [4], "w": [4], "depth": [2]}}, "params.depth"),
    ({"params": {"channels": [8], "h": [0], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": [4, -2], "w": [4, 4]}}, "params.h[1]"),
    ({"params": {"channels": [8], "h": [4.5], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": ["big"], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": [True], "w": [4]}}, "params.h[0]"),
    ({"params": {"channels": [8], "h": [4]}}, "params.w"),
    ({"params": {"channels": [8], "h": [4, 8], "w": [4]}, "zip": [["h", "w"]]}, "zip[0]"),
    ({"zip": [["h", "batch"]]}, "zip[0]"),
    ({"blocks": ["se"], "params": {"channels": [8], "h": [4], "w": [4], "reduction": [16]}},
     "params.reduction"),
    ({"threads": 0}, "threads"),
    ({"threads": "two"}, "threads"),
    ({"threads": True}, "threads"),
    ({"threads": 1.5}, "threads"),
])
def test_bad_suites_name_the_field(over, field):
    with pytest.raises(SuiteError) as info:
        suite(**over)
    message = str(info.value)
    assert message.startswith("t.yaml: ") and f" {field}: expected " in message
    assert "\n" not in message


def test_load_suite_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(SuiteError, match="no such suite file"):
        load_suite(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nblocks: [se\nparams: {}\n")
    with pytest.raises(SuiteError, match=r"bad.yaml: invalid YAML at line 3"):
        load_suite(bad)
    with pytest.raises(SuiteError, match=r"a folder, not a suite file"):
        load_suite(tmp_path)


@pytest.mark.parametrize("text,line,key,first", [
    ("name: x\nblocks: [se]\nparams:\n  channels: [8]\n  h: [4]\n  w: [4]\n  h: [5]\n",
     7, "h", 5),
    ("name: x\nblocks: [se]\nparams: {channels: [8], h: [4], w: [4]}\n"
     "params: {channels: [16], h: [4], w: [4]}\n", 4, "params", 3),
])
def test_a_key_given_twice_is_refused_with_both_lines(tmp_path, text, line, key, first):
    # PyYAML keeps the last of two equal keys silently: the suite would run other sizes
    dup = tmp_path / "dup.yaml"
    dup.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(dup)
    assert str(info.value).startswith(f"{dup}: invalid YAML at line {line}, column ")
    assert str(info.value).endswith(f": key {key!r} given twice (first at line {first}); "
                                    "expected each key once")


@pytest.mark.parametrize("axis,number,said", [
    ("h: [016, 024]", "016", "016: YAML 1.1 reads a leading zero as octal (14); expected a "
     "decimal integer without leading zeros, e.g. 16"),
    ("h: [8, 0_7]", "0_7", "0_7: YAML 1.1 reads a leading zero as octal (7)"),
    ("reduction: [1:2]", "1:2", '1:2: YAML 1.1 reads digits joined by colons as base 60 (62); '
     'expected a decimal number, or the text quoted ("1:2") where text is meant'),
    ("reduction: [1:30.5]", "1:30.5", "1:30.5: YAML 1.1 reads digits joined by colons as base 60 "
     "(90.5)"),
])
def test_yaml_1_1_octal_and_base_60_numbers_are_refused_where_they_stand(tmp_path, axis, number,
                                                                           said):
    """PyYAML reads `016` as 14 and `1:2` as 62, where a reader of the file (and YAML 1.2) sees
    16 and text: h: [016, 024, 032] ran 14, 20 and 26 without a word."""
    path = tmp_path / "octal.yaml"
    path.write_text(f"blocks: [se]\nparams:\n  channels: [16]\n  w: [8]\n  {axis}\n"
                    + ("  h: [8]\n" if axis.startswith("reduction") else ""))
    column = 3 + axis.index(number)  # line 5, after its two spaces; 1-based
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}:5:{column}: {said}"), str(info.value)
    # the forms every reader reads alike still load: 0x10, 1_0
    path.write_text("blocks: [se]\nparams: {channels: [0x10], h: [8, 1_0], w: [8, 10]}\n"
                    "zip: [[h, w]]\n")
    assert [(c.channels, c.h) for c in expand(load_suite(path))] == [(16, 8), (16, 10)]


def test_a_suite_file_without_a_name_is_named_for_its_file(tmp_path):
    first = tmp_path / "my-first.yaml"
    first.write_text("blocks: [se]\nparams: {channels: [32], h: [4], w: [4]}\n")
    assert load_suite(first).name == "my-first"
    with pytest.raises(SuiteError, match="name: expected a non-empty string"):
        parse_suite({"blocks": ["se"], "params": {"channels": [8], "h": [4], "w": [4]}})


def test_a_default_that_breaks_a_rule_is_named_as_the_default(tmp_path):
    small = tmp_path / "small.yaml"
    small.write_text("blocks: [se]\nparams: {channels: [8], h: [4], w: [4]}\n")
    with pytest.raises(SuiteError, match=r"params.reduction: expected at most channels \(8\), "
                       r"got 16 \(block se at c=8, 4x4; reduction was not set, so it took se's "
                       r"default: set params.reduction\)"):
        load_suite(small)
    small.write_text("blocks: [se]\nparams: {channels: [8], h: [4], w: [4], reduction: [16]}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(small)
    assert str(info.value).endswith("(block se at c=8, 4x4)")  # written, so no word of defaults
    # a rule on a shape axis is reported under that axis, with no word of defaults
    clip = tmp_path / "clip.yaml"
    clip.write_text("blocks: [criss_cross]\nparams: {channels: [32], t: [2], h: [4], w: [4]}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(clip)
    assert str(info.value).startswith(f"{clip}: t: expected t = 1 ")
    assert "got t = 2" in str(info.value) and "was not set" not in str(info.value)
    # and t: auto, which no plan could satisfy, is said at load too, not as a budget too small
    auto = tmp_path / "auto.yaml"
    auto.write_text("blocks: [criss_cross]\nparams: {channels: [32], t: auto, h: [8], w: [8]}\n")
    with pytest.raises(SuiteError, match=r"t: auto: block criss_cross takes no clip \(expected "
                       r"t = 1 .*\); expected t: auto only for blocks that take clips"):
        load_suite(auto)


def test_an_auto_sweep_that_breaks_a_rule_at_every_size_is_refused_when_read():
    # SE's r <= c holds at no size: the planner had calibrated, found no legal size and blamed
    # the budget (exit 1); a run left an environment.json and a resume line that could not work
    with pytest.raises(SuiteError, match=r"params.reduction: expected at most channels \(8\), "
                       r"got 16 \(block se at c=8, at every size auto could pick\)"):
        suite(blocks=["se"], params={"channels": [8], "reduction": [16], "h": "auto",
                                     "w": "auto"})
    # a rule that some size meets is left to the planner (the non-local block's even sides)
    suite(blocks=["nonlocal"], params={"channels": [16], "subsample": [2], "h": "auto",
                                       "w": "auto"})
    # a rule on an axis the suite fixed, and a default the suite never wrote, named as such
    with pytest.raises(SuiteError, match=r": t: expected t = 1 .*at every size auto could pick"):
        suite(blocks=["criss_cross"], params={"channels": [32], "t": [2], "h": "auto",
                                              "w": "auto"})
    with pytest.raises(SuiteError, match=r"reduction was not set, so it took gc's default"):
        suite(blocks=["gc"], params={"channels": [8], "h": "auto", "w": "auto"})


def test_a_sweeps_list_under_a_top_level_auto_is_refused():
    with pytest.raises(SuiteError, match=r"sweeps\[0\].params.h: expected no list where the top "
                       r"level says h: auto, which it would replace"):
        suite(blocks=["se"], params={"channels": [64], "h": "auto", "w": "auto"},
              sweeps=[{"params": {"h": [8, 16], "w": [8, 16]}}])


def test_h_auto_without_w_says_w_is_missing_or_what_it_is():
    with pytest.raises(SuiteError, match=r"params.w: expected auto, as h is \(auto sizes are "
                                          r"square maps: h: auto with w: auto\), got no w at all"):
        suite(params={"channels": [8], "h": "auto"})
    with pytest.raises(SuiteError, match=r"params.h: expected auto, as w is .*got \[4\]"):
        suite(params={"channels": [8], "h": [4], "w": "auto"})


def test_auto_in_a_list_says_how_auto_is_written():
    with pytest.raises(SuiteError, match=r"params.h\[0\]: expected a positive integer \(auto "
                                          r"sizes are `h: auto`, not in a list\), got 'auto'"):
        suite(params={"channels": [8], "h": ["auto"], "w": ["auto"]})


def test_a_device_section_replaces_what_it_names():
    raw = {"name": "d", "blocks": ["se"], "params": {"channels": [8], "h": [4], "w": [4],
                                                   "reduction": [2]},
           "cuda": {"description": "bigger", "params": {"h": [64], "w": [64]}}}
    cpu = parse_suite(raw, "d.yaml")
    gpu = parse_suite(raw, "d.yaml", device="cuda")
    assert cpu.overlays == gpu.overlays == ("cuda",)
    assert [(c.device, c.h) for c in expand(cpu)] == [("cpu", 4)]
    assert [(c.device, c.h, c.channels) for c in expand(gpu)] == [("cuda", 64, 8)]
    assert gpu.description == "bigger"
    assert {c.dtype for c in expand(parse_suite(raw, "d.yaml", dtype="bfloat16"))} == {"bfloat16"}
    with pytest.raises(SuiteError, match=r"d.yaml: cuda.runs: expected one of the keys"):
        parse_suite({**raw, "cuda": {"runs": 3}}, "d.yaml")
    with pytest.raises(SuiteError, match="--device: expected cpu or cuda"):
        parse_suite(raw, "d.yaml", device="tpu")
    with pytest.raises(SuiteError, match="--dtype: expected one of"):
        parse_suite(raw, "d.yaml", dtype="int8")


def test_sweeps_give_each_grid_its_own_blocks_and_sizes():
    raw = {"name": "s", "blocks": ["double_attention", "nonlocal"],
           "params": {"channels": [16], "h": [4], "w": [4], "impl": ["eager", "sdpa"]},
           "sweeps": [{"params": {"h": [4, 8], "w": [4, 8]}, "zip": [["h", "w"]]},
                      {"blocks": ["double_attention"], "params": {"h": [16], "w": [16]}}]}
    cases = expand(parse_suite(raw, "s.yaml"))
    seen = {(c.block, c.h, c.param("impl")) for c in cases}
    assert seen == {("double_attention", 4, None), ("double_attention", 8, None),
                    ("double_attention", 16, None), ("nonlocal", 4, "eager"),
                    ("nonlocal", 4, "sdpa"), ("nonlocal", 8, "eager"), ("nonlocal", 8, "sdpa")}
    assert len(cases) == len(seen)
    # defaults that derive from other axes: m = n = c/4, inner = c/2
    assert {c.param("m") for c in cases if c.block == "double_attention"} == {4}
    assert {c.param("inner") for c in cases if c.block == "nonlocal"} == {8}
    with pytest.raises(SuiteError, match=r"s.yaml: sweeps\[1\].params.h\[0\]: expected a positive"):
        parse_suite({**raw, "sweeps": [raw["sweeps"][0], {"params": {"h": [0]}}]}, "s.yaml")
    with pytest.raises(SuiteError, match=r"params.depth: expected an axis of"):
        parse_suite({**raw, "params": {**raw["params"], "depth": [2]}}, "s.yaml")


def test_a_block_rule_over_several_axes_is_checked_at_parse_time():
    raw = {"name": "p", "blocks": ["nonlocal"],
           "params": {"channels": [8], "h": [5], "w": [4], "subsample": [2]}}
    with pytest.raises(SuiteError, match=r"p.yaml: params.subsample: .*block nonlocal"):
        parse_suite(raw, "p.yaml")


def test_a_suite_says_the_threads_its_sizes_were_chosen_for():
    from a2bench.run.options import RunOptions
    from a2bench.run.sweep import Sweep
    from a2bench.run.threads import default_threads, run_threads

    assert suite().threads is None
    one = suite(threads=1)
    assert one.threads == 1
    assert run_threads(one, None) == (1, "suite")
    assert run_threads(one, 2) == (2, "option")  # --threads overrides the suite's
    assert run_threads(suite(), None) == (default_threads("cpu"), "default")
    on_gpu = parse_suite({"name": "t", "blocks": ["se"], "threads": 1,
                          "params": {"channels": [8], "h": [4], "w": [4], "reduction": [2]}},
                         "t.yaml", device="cuda")
    # on CUDA the threads only launch kernels: the suite's CPU figure does not apply
    assert run_threads(on_gpu, None) == (default_threads("cuda"), "default")
    sweep = Sweep(one, expand(one), RunOptions(out=__import__("pathlib").Path("unused")))
    assert (sweep.threads, sweep.settings.threads) == (1, 1)


def test_the_shipped_cpu_suites_are_pinned_to_the_thread_they_were_published_at():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "suites"
    # the exponents of a suite sized for one thread fall at two (results/cpu-default-threads-2);
    # smoke and the CI gate are not judged by exponents, and the gpu-* suites run on CUDA
    unpinned = {"smoke", "gate", "gpu-auto-training", "gpu-auto-training-both", "gpu-compile"}
    for path in sorted(root.glob("*.yaml")):
        threads = load_suite(path).threads
        assert threads == (None if path.stem in unpinned else 1), path.name


def test_a_suite_of_too_many_cases_is_refused_before_it_is_expanded():
    # 2 blocks x 10 channels x 100 x 100 sizes x 50 batches: the check went case by case, in
    # silence, for minutes; the count is read from the lists' lengths instead
    import time

    from a2bench import suite as su

    raw = {"name": "big", "blocks": ["se", "gc"],
           "params": {"channels": list(range(8, 18)), "h": list(range(4, 104)),
                      "w": list(range(4, 104)), "batch": list(range(1, 51))}}
    started = time.perf_counter()
    with pytest.raises(SuiteError, match=r"expands to 10,000,000 cases .* at most 100,000"):
        parse_suite(raw)
    assert time.perf_counter() - started < 2
    # a zip group counts once: 2 x 10 x 100 x 51
    zipped = {**raw, "zip": [["h", "w"]], "params": {**raw["params"], "batch": list(range(1, 52))}}
    with pytest.raises(SuiteError, match=r"expands to 102,000 cases"):
        parse_suite(zipped)
    assert su.MAX_CASES == 100_000


def test_the_case_count_takes_each_blocks_own_axes_and_auto_sweeps_too():
    from a2bench import suite as su

    # m is double attention's, reduction SE's: 8 x 400 + 8 x 32, not 8 x 400 x 32 x 2
    grid = su.Sweep(blocks=("se", "double_attention"),
                    params={"channels": tuple(range(8)), "m": tuple(range(400)),
                            "reduction": tuple(range(32))}, zip=())
    assert su._grid_size(grid) == 8 * 400 + 8 * 32
    # an auto sweep is planned from one template per point of its other axes
    auto = su.Sweep(blocks=("se",), params={"channels": tuple(range(200_000)), "h": (0,),
                                            "w": (0,)}, zip=(), auto=("h", "w"))
    assert su._grid_size(auto) == 200_000 > su.MAX_CASES


def test_the_python_api_takes_tuples_ranges_and_numpy_integers_as_lists_of_ints():
    """a2bench.sweep's dict had refused blocks=("se",) as "expected a non-empty list", h=(8, 12,
    16) or a range as "expected a positive integer, got (8, 12, 16)" and numpy's int64 from
    np.arange as "got np.int64(8)": each an integer or a list of them to its reader."""
    np = pytest.importorskip("numpy")

    for h in ((8, 12, 16), range(8, 20, 4), list(np.arange(8, 20, 4))):
        s = parse_suite({"blocks": ("se",), "params": {"channels": np.int32(16), "h": h, "w": h},
                         "zip": (("h", "w"),)}, "<dict>", default_name="api")
        cases = expand(s)
        assert [(c.h, c.w, c.channels) for c in cases] == [(8, 8, 16), (12, 12, 16),
                                                           (16, 16, 16)]
        assert all(type(v) is int for c in cases for v in (c.h, c.w, c.channels))
        assert s.sweeps[0].params["h"] == (8, 12, 16) and s.blocks == ("se",)
    # a bool is no size, numpy's neither; text is no list of blocks
    for bad, said in ((True, "True"), (np.bool_(True), "np.True_")):
        with pytest.raises(SuiteError, match=rf"params\.channels\[0\]: expected a positive "
                                             rf"integer, got {said}"):
            parse_suite({"blocks": ["se"], "params": {"channels": [bad], "h": [8], "w": [8]}},
                        default_name="api")
    assert parse_suite({"blocks": "se", "params": {"channels": 32, "h": 4, "w": 4},
                        "threads": np.int64(2)}, default_name="api").threads == 2
    # np.arange itself (docs/your-block.md names it) had raised numpy's "truth value of an
    # array" ValueError in the auto check, and a one-element array was "got array([8])"
    for h, want in ((np.arange(8, 20, 4), (8, 12, 16)), (np.array([8]), (8,))):
        s = parse_suite({"blocks": ["se"], "params": {"channels": 16, "h": h, "w": h},
                         "zip": [["h", "w"]]} if len(h) > 1 else
                        {"blocks": ["se"], "params": {"channels": 16, "h": h, "w": h}},
                        default_name="api")
        assert s.sweeps[0].params["h"] == want and all(type(v) is int for v in want)
        assert [c.h for c in expand(s)] == list(want)


def test_sizes_past_what_a_machine_holds_are_named_by_their_key_not_blamed_on_the_block(
        tmp_path, capsys):
    """h: [3000000000] had reached double attention's cost(), whose counts passed int64 and
    were refused as "block double_attention: its cost() at ...: expected a Python int >= 0":
    the suite's size, not the block, was wrong. A case may hold at most 2**40 input elements."""
    from a2bench import suite as su
    from a2bench.cli import main

    assert su.MAX_ELEMENTS == 2**40
    huge = tmp_path / "huge2.yaml"
    huge.write_text("blocks: [double_attention]\n"
                    "params: {channels: [64], h: [8, 3000000000], w: [3000000000]}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(huge)
    assert str(info.value).startswith(
        f"{huge}: params.h[1]: expected sizes whose cases hold at most 1,099,511,627,776 input "
        "elements (2**40 of batch x channels x t x h x w")
    assert str(info.value).endswith(", got 3000000000, whose case batch 1 x channels 64 x t 1 "
                                    "x h 3000000000 x w 3000000000 holds "
                                    "576,000,000,000,000,000,000")
    assert main(["run", str(huge), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"a2bench: error: {huge}: params.h[1]: expected") and "\n" not in err
    assert not (tmp_path / "out").exists()
    # one size past the bound alone, listed: as docs/running.md quotes it (its example had been
    # h: [3000000000], under the bound, which a suite of few channels runs)
    with pytest.raises(SuiteError) as info:
        suite(blocks=["se"], params={"channels": [32], "h": [2000000000000], "w": [4]})
    assert str(info.value).endswith(
        "params.h[0]: expected a positive integer at most 1,099,511,627,776 (2**40, 2 TiB even "
        "in 16 bits: more memory than a machine holds), got 2000000000000")
    assert len(expand(suite(blocks=["se"], params={"channels": [32], "h": [3000000000],
                                                   "w": [4]}))) == 1
    # one size past the bound alone, given unlisted: named without an index
    with pytest.raises(SuiteError, match=r"t\.yaml: params\.batch: expected a positive integer "
                                         r"at most 1,099,511,627,776 \(2\*\*40.*got 10{22}$"):
        suite(blocks=["se"], params={"channels": [16], "h": [8], "w": [8], "batch": 10**22})
    # the largest case of a zip group is its largest row, not the product of its largest sizes
    side = 2**20
    assert len(expand(suite(blocks=["se"], params={"channels": [16], "h": [1, side],
                                                   "w": [side, 1]}, zip=[["h", "w"]]))) == 2
    with pytest.raises(SuiteError, match=r"sweeps\[0\]\.params\.h\[1\]: expected sizes .* got "
                                         r"1048576, whose case batch 1 x channels 16 x t 1 x "
                                         r"h 1048576 x w 1048576 holds"):
        suite(blocks=["se"], params={"channels": [16]}, sweeps=[
            {"params": {"h": [1, side], "w": [side, 1]}}])
    # the offending zip row's index, not the first of its size: h[0]'s row is 2**21 x 1
    with pytest.raises(SuiteError, match=r"params\.h\[1\]: expected sizes .* got 2097152, "
                                         r"whose case batch 1 x channels 16 x t 1 x h 2097152 x "
                                         r"w 1048576 holds"):
        parse_suite({"blocks": ["se"], "params": {"channels": [16], "h": [2**21, 2**21],
                                                  "w": [1, side]}, "zip": [["h", "w"]]},
                    default_name="x")


def test_a_count_past_int64_under_the_size_bound_names_the_case_as_too_large(tmp_path, capsys):
    # the non-local order at 65536 x 65536 holds 2**36 input elements (under MAX_ELEMENTS), but
    # its affinity's MACs pass 2**63: it had read "expected a Python int >= 0", the block's
    # mistake in the words of a count of the wrong type
    from a2bench.cli import main

    big = tmp_path / "big.yaml"
    big.write_text("blocks: [nonlocal_right]\nparams: {channels: [16], h: [65536], w: [65536]}\n")
    assert main(["run", str(big), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cost term 'affinity': macs 73,786,976,294,838,206,464, past " \
        "2**63 - 1, what a results column holds: the case is too large to store; expected " \
        "smaller sizes" in err
    assert not (tmp_path / "out").exists()


def test_a_device_sections_axis_that_every_sweep_sets_is_refused():
    # the docs' own example had a cuda: section's h and w under top-level sweeps that each set
    # h and w: --device cuda ran the CPU sizes, unsaid
    raw = {"name": "s", "blocks": ["se"], "params": {"channels": [8], "reduction": [2]},
           "sweeps": [{"params": {"h": [4, 8], "w": [4, 8]}, "zip": [["h", "w"]]}],
           "cuda": {"params": {"h": [16], "w": [16]}}}
    with pytest.raises(SuiteError, match=r"cuda\.params\.h: expected an axis not every sweep "
                       r"sets \(its own h wins\); give the cuda: section sweeps: of its own, "
                       r"got \[16\] \(in the cuda: section"):
        parse_suite(raw)
    # a section axis some sweep takes is kept, and a section with sweeps of its own is fine
    raw["sweeps"].append({"params": {"channels": [16]}, "blocks": ["gc"]})  # h, w: the top's
    assert {(c.block, c.h) for c in expand(parse_suite(raw, device="cuda"))} == {
        ("se", 4), ("se", 8), ("gc", 16)}
    raw["cuda"] = {"sweeps": [{"params": {"h": [16], "w": [16]}}]}
    assert {c.h for c in expand(parse_suite(raw, device="cuda"))} == {16}
