"""The text a finished sweep prints: one row per case, in the suite's order, the warnings about
its cost models, and its verdicts (print_sweep, what `a2bench run` ends with)."""

from __future__ import annotations

import math
import os
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from a2bench.case import REDUCED_DTYPES, Case
from a2bench.cost import peak_within
from a2bench.errors import InputError
from a2bench.formatting import fixed, mebibytes, millions, milliseconds
from a2bench.kernel_names import UNCOUNTED, uncounted
from a2bench.measurement import Measurement
from a2bench.run.options import program
from a2bench.run.plan import NOISE_BUDGET_FACTOR, SIZES, GroupPlan, Plan
from a2bench.run.promise import PLANNED_BIC, SIZE_SCATTER
from a2bench.run.shares import wants_delta_bic

if TYPE_CHECKING:
    import pandas as pd

    from a2bench.run.sweep import SweepResult


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a table to print. pandas loads here, once a sweep has run, not as the sweep
    is imported: `a2bench run` refused before its first case had loaded it (about 1 s)."""
    import pandas as pd

    return pd.DataFrame(rows)


def summary_table(records: Sequence[Measurement]) -> str:
    rows = []
    for m in records:
        c = m.case
        rows.append({
            "block": c.block,
            "shape": f"{c.t}x{c.h}x{c.w}" if c.t > 1 else f"{c.h}x{c.w}",
            "b": c.batch,
            "c": c.channels,
            "params": " ".join(f"{k}={v}" for k, v in c.params),
            # how it ran, where that is not the default forward float32 eager
            "run as": " ".join(x for x in (c.dtype if c.dtype != "float32" else "",
                                           "train" if c.train else "",
                                           "compiled" if c.compile else "") if x),
            "N": c.positions,
            # a counted block's MACs are a2bench's count (macs_source "counted"; macs_counted,
            # FlopCounterMode's where a record predates it)
            "MMACs": millions(m.macs_analytic if m.macs_source != "counted" else
                              m.macs_counted if m.macs_counted is not None else m.macs_torch),
            "median ms": milliseconds(m.latency_s) if m.latency_s else "",
            "IQR ms": milliseconds(m.latency_iqr_s),
            "peak MiB": mebibytes(m.peak_bytes),
            "model MiB": mebibytes(m.peak_bytes_analytic),
            "status": m.status,
        })
    if not rows:
        return "(no cases)"
    table = _frame(rows)
    if not table["run as"].any():
        table = table.drop(columns=["run as"])
    return table.to_string(index=False)


def status_counts(records: Sequence[Measurement]) -> str:
    """How many cases ended in each status, e.g. "failed 1, ok 14"; empty for none."""
    counts = Counter(m.status for m in records)
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def outcome_line(ran: int, reused: int, records: Sequence[Measurement]) -> str:
    """What the passes did and what became of each case once its passes were pooled: a case
    with a failed pass has that status, so the case count, not the pass count, says how many
    are usable."""
    by_case = status_counts(records) or "none"
    passes, cases = ("pass" if ran == 1 else "passes"), ("case" if len(records) == 1 else "cases")
    return f"{ran} case {passes} run ({reused} reused); the {len(records)} {cases}: {by_case}."


def failure_lines(records: Sequence[Measurement], limit: int = 8) -> list[str]:
    """One line per case that did not end ok, with why: its status and its reason's first line
    (the whole reason is in results.csv). At most `limit`, then how many more."""
    failed = [m for m in records if m.status != "ok"]
    lines = [f"  {m.case.label()}: {m.status}: "
             + (m.reason.splitlines()[0] if m.reason else "no reason recorded")
             for m in failed[:limit]]
    if len(failed) > limit:
        lines.append(f"  ... and {len(failed) - limit} more (results.csv's reason column)")
    return lines


def no_ok_line(result: SweepResult) -> str | None:
    """The error a sweep in which no case ended ok ends with, on stderr, or None. Its reasons
    went to stdout (print_sweep): where that is not where stderr goes (`> table.txt`), the
    line says where they are, and the first, instead of "above"."""
    if not result.records or any(m.status == "ok" for m in result.records):
        return None
    line = f"no case ended ok ({status_counts(result.records)}); the reasons are "
    try:
        together = os.path.samestat(os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno()))
    except (OSError, ValueError):  # a stream with no file (captured): not this terminal's
        together = False
    if together:
        return line + "above"
    return (line + "under \"Not ok, and why:\" on standard output and in "
            f"{result.out / 'results.csv'}'s reason column; the first: "
            + failure_lines(result.records, limit=1)[0].strip())


def mismatch_warnings(records: Sequence[Measurement]) -> list[str]:
    """One line per block whose cost model disagrees with both counters (model_mismatch)."""
    out = []
    for block in dict.fromkeys(m.case.block for m in records if m.model_mismatch):
        bad = [m for m in records if m.case.block == block and m.model_mismatch]
        first = bad[0]
        out.append(f"{block}: {MODEL_MISMATCH} in {len(bad)} case(s), e.g. "
                   f"{first.case.label()}: model {first.macs_analytic} MACs, FlopCounterMode "
                   f"{first.macs_torch}, fvcore {first.macs_fvcore}"
                   + (f", a2bench's count {first.macs_counted}"
                      if first.macs_counted not in (None, first.macs_torch) else "")
                   + " (model_mismatch in "
                   "results.csv); fix the cost model or declare counter_difference")
    return out


# The warnings that rest on the cost models: `a2bench remodel` writes them again with the model
# columns (remodel.py), so a run's environment.json never keeps one about an older model.
MEMORY_MISS = "measured peak above the memory model"
MODEL_MISMATCH = "cost() disagrees with both counters"


def memory_warnings(records: Sequence[Measurement]) -> list[str]:
    """Say how many peaks left their model (cost.peak_within), and why they may have. In float32
    on the CPU at more than one thread (each record's own count: a partition's nodes may
    differ) a kernel may keep per-thread buffers the model does not hold (those of oneDNN's
    convolutions and SDPA's CPU flash kernel it does, by the thread count the record's backend
    names: kernel_names); a miss at one thread is said apart, as
    memory the model lacks (ResNet-50's backward convolution buffers, say). Threads do not touch a
    CUDA peak: a miss there is something the model lacks (a library's workspace, say), which
    docs/gpu.md lists. A reduced precision CPU case can miss at any thread count: on a CPU with
    bf16 instructions some native kernels hold scratch the models lack (a bf16 bmm's, SDPA's
    CPU flash kernel's; results/cpu-training), where a CPU that emulates bf16 matches them. A
    compiled case is read against its eager model, which Inductor's kernels need not follow:
    its own class."""
    over = [m for m in records if m.status == "ok" and m.peak_bytes and m.peak_bytes_analytic
            and m.peak_bytes > m.peak_bytes_analytic
            and not peak_within(m.peak_bytes, m.peak_bytes_analytic,
                                m.peak_allowance_bytes_analytic or 0)]
    out = []
    # A compiled case runs Inductor's kernels, which may save, recompute and fuse what eager
    # autograd keeps: its model is its eager twin's, so a miss says nothing of the others.
    compiled = [m for m in over if m.case.compile]
    over = [m for m in over if not m.case.compile]
    cuda = [m for m in over if m.case.device == "cuda"]
    reduced = [m for m in over if m.case.device != "cuda" and m.case.dtype in REDUCED_DTYPES]
    full = [m for m in over if m.case.device != "cuda" and m.case.dtype not in REDUCED_DTYPES]
    cpu = [m for m in full if (m.threads or 1) > 1]
    one_thread = [m for m in full if (m.threads or 1) == 1]
    counts = sorted({m.threads or 1 for m in cpu})
    threads = "–".join(str(t) for t in dict.fromkeys(counts[:1] + counts[-1:]))  # "2", "2–4"
    for misses, why in (
            (compiled, "compiled: Inductor's kernels keep other tensors than the eager "
                       "autograd the model follows (the report sets their peak beside eager's)"),
            (cuda, "on CUDA: memory the model does not hold (a library's workspace, say; "
                   "docs/gpu.md, 'Memory models on CUDA')"),
            (reduced, "in reduced precision on the CPU: scratch of the processor's native bf16 "
                      "kernels, which the model does not hold (docs/blocks.md, 'Where a memory "
                      "model stops being exact on a CPU')"),
            (cpu, f"at {threads} threads: memory the model does not hold, a kernel's "
                  "per-thread buffers perhaps (it holds oneDNN's convolutions' and SDPA's CPU "
                  "flash kernel's; docs/blocks.md, 'Where a memory model stops being exact on a "
                  "CPU')"),
            (one_thread, "on the CPU at one thread: memory the model does not hold: a "
                         "tensor a local variable keeps until forward returns (a plugin's "
                         "model frees it at its last use; docs/your-block.md, section 5), or "
                         "a kernel's scratch (float32 convolutions run on oneDNN from "
                         "batch 16, whose scratch a model holds where its block reports the "
                         "kernel: docs/your-block.md, 'Memory on a CPU'; ResNet-50's backward "
                         "convolution buffers: docs/blocks.md, 'Where a memory model stops "
                         "being exact on a CPU')")):
        if misses:
            worst = max(m.peak_bytes / m.peak_bytes_analytic - 1 for m in misses)
            names = list(dict.fromkeys(m.case.block for m in misses))
            which = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if names[3:] else "")
            out.append(f"{MEMORY_MISS} on {len(misses)} case(s) of {which}, by up "
                       f"to {worst:.0%}, {why}")
    return out


def uncounted_warnings(records: Sequence[Measurement]) -> list[str]:
    """One line per counted block that ran an operator which multiply-adds and which no count
    sees (kernel_names.UNCOUNTED_OPS): its MACs, and the latency verdict judged by them, leave
    that work out."""
    out = []
    counted = [m for m in records if m.macs_source == "counted" and m.torch_skipped]
    for block in dict.fromkeys(m.case.block for m in counted):
        ops = sorted({op for m in counted if m.case.block == block
                      for op in uncounted(m.torch_skipped.split())})
        if ops:
            out.append(f"{block}: {UNCOUNTED} ({' '.join(ops)}), so its latency is judged "
                       "against less work than it does; give the spec a cost() method that "
                       "holds it (docs/your-block.md)")
    return out


def model_warnings(records: Sequence[Measurement]) -> list[str]:
    """The warnings of a run's pooled records that follow from its model columns."""
    return memory_warnings(records) + mismatch_warnings(records)


def is_model_warning(line: str) -> bool:
    return line.startswith(MEMORY_MISS) or f": {MODEL_MISMATCH} " in line


def verdict_table(fits: list[dict[str, Any]]) -> str:
    rows = [{"block": f["block"], "metric": f["metric"],
             "exponent": f"{fixed(f['exponent'])} [{fixed(f['ci_low'])}, {fixed(f['ci_high'])}]",
             # a block without a cost model is judged against its counted MACs' exponent
             "model": fixed(f["expected"]) + (" (counted)" if f.get("expected_from") == "counted"
                                              else ""),
             "verdict": f["verdict"] or "no model"}
            for f in fits]
    return _frame(rows).to_string(index=False) if rows else "(no fits)"


def plan_table(plan: Plan) -> str:
    rows = [{"block": g.template.block, "case": g.label, "regime": g.regime,
             "N": " ".join(str(c.positions) for c in g.choices) or "none",
             "ms per call": " ".join(f"{c.predicted_s * 1e3:.3g}" for c in g.choices),
             "overhead": f"{max((c.overhead_share for c in g.choices), default=0):.1%}",
             "wall s": f"{g.predicted_wall_s:.0f}",
             # What the window promises (run.promise): its 95 % half-width and ΔBIC.
             "±": f"{g.promised_half_width:.3f}" if g.feasible else "",
             "ΔBIC": f"{g.promised_bic:.0f}" if g.feasible else ""}
            for g in plan.groups]
    return _frame(rows).to_string(index=False)


def off_model_line(g: GroupPlan) -> str | None:
    """A warning where the planned window's timed ends did not grow as its model does in any
    window tried (autosize.check_ends): said apart, as it had been the end of a long note."""
    said = [p for p in g.note.split("; ") if p.startswith("window ends timed")]
    if "no window within ±" not in g.note or not said:
        return None
    return (f"auto sizes for {g.template.block} ({g.label}): no window's ends grew as its model "
            f"does; the one run, {said[-1].split(': ', 1)[1]}, may hold a transition (a cache, "
            "a kernel change): its latency verdict can read that, not the block")


def plan_line(g: GroupPlan) -> str:
    sizes = ", ".join(str(c.positions) for c in g.choices) or "none"
    rate = "measured" if g.rate_measured else "guessed"
    share = max((c.overhead_share for c in g.choices), default=math.nan)
    at_most = f", at most {share:.1%} of a call" if math.isfinite(share) else ""
    return (f"auto sizes for {g.template.block} ({g.label}): N = {sizes}; regime "
            f"{g.regime}; overhead {g.overhead_s * 1e3:.3g} ms{at_most}; "
            f"rate {g.rate / 1e9:.3g} GFLOP/s ({rate}); about {g.predicted_wall_s:.0f} s"
            + (f"; promises ±{g.promised_half_width:.3f} and ΔBIC {g.promised_bic:.0f} against "
               f"the competing class (decisive above {PLANNED_BIC:g} planned)"
               if math.isfinite(g.promised_bic) else "")
            + (f"; {g.note}" if g.note else ""))


def budget_line(plan: Plan) -> str:
    """Why the plan gives some block variant no window: a time budget too small, with the one
    that would do; and where no budget would (its needed budget infinite), that said, with
    what stops it and what would give one (GroupPlan.no_window)."""
    never = [g for g in plan.groups if g.needed_budget_s == math.inf]
    short = [g for g in plan.groups if not g.feasible and g not in never]
    parts = []
    if short:  # a variant, not just its block
        need = math.ceil(plan.affordable_budget_s or plan.budget_s)
        parts.append(f"budget {plan.budget_s:g} s too small for {SIZES} sizes in one regime "
                     f"for {', '.join(g.label for g in short)}: about {need} s needed "
                     f"(--budget {need})")
    for g in never:
        parts.append(f"no budget affords {g.label} a window of {SIZES} sizes in one regime: "
                     + (g.no_window or "the notes above say what stops it"))
    return "; and ".join(parts)


def noise_line(plan: Plan) -> str:
    """What the pilot measured of the machine's noise and what the plan made of it, in one
    line: planned with the quiet constants, planned for the noise, or the machine too noisy
    for the budget (the budget the noise needs, where some budget gives it)."""
    n = plan.noise
    if not math.isfinite(n.spread):
        return ("machine noise: not measured (no pilot size timed twice): planned with the "
                f"quiet constants (size scatter {n.size_scatter:.3f})")
    said = (f"machine noise measured {n.spread:.3f} in ln t a timing ({n.repeats} pilot sizes "
            f"timed twice): {n.moved:.3f} on a size's median of {n.passes} "
            f"pass{'es' if n.passes != 1 else ''} (quiet {SIZE_SCATTER:.3f})")
    if not n.noisy:
        return f"{said}: planned with the quiet constants"
    passes = n.passes_for_quiet()
    more = (f", or --processes {passes} (its median then within the quiet scatter)"
            if passes and passes > n.passes else "")
    need = plan.noise_budget_s
    short = [g.label for g in plan.groups if wants_delta_bic(g)]
    if need is None:
        return f"{said}: planned for it (every window promises ΔBIC {PLANNED_BIC:g} at it)"
    if math.isfinite(need):
        return (f"{said}: too noisy for this budget: {', '.join(short) or 'some block'} "
                f"promise{'s' if len(short) == 1 else ''} no decisive ΔBIC at it, expect "
                f"inconclusive; about {math.ceil(need)} s needed (--budget {math.ceil(need)})"
                f"{more}")
    return (f"{said}: too noisy for a decisive ΔBIC for {', '.join(short) or 'some block'} at "
            f"any budget up to {NOISE_BUDGET_FACTOR:g}x this one, expect inconclusive: a "
            f"quieter machine{more}")


def no_window_line(suite_path: Any, record: dict[str, Any]) -> str:
    """`run`'s one line where its auto plan (`record`, environment.json's auto_sizes) gives no
    block variant a window and the suite lists no other case: nothing to time, at any budget or
    on a resume (which keeps the plan, or plans the same)."""
    labels = [str(g.get("case")) for g in record.get("groups") or []]
    return (f"{suite_path}: auto sizes found no window of {SIZES} sizes for "
            f"{', '.join(labels) or 'any block variant'}, so there is nothing to time and "
            "nothing was stored (the plan's line above says what stops each, as `a2bench plan` "
            "does, with exit 1); expected a configuration with such a window (another map for "
            "t: auto, other channels or block parameters), or the sizes listed")


def plan_notes(plan: Plan) -> list[str]:
    """One line per planned group with a note (a regime passed over, a limit hit): what `run`
    prints beside its sizes, for `plan` to print too."""
    notes = [f"  {g.template.block} ({g.label}): {g.note}" for g in plan.groups if g.note]
    return ["\nNotes:", *notes] if notes else []


def print_sweep(result: SweepResult) -> None:
    """What `a2bench run` prints when its sweep ends: the table, what failed and why, the
    outcome, and the verdict of each question the sweep answers."""
    print(summary_table(result.records))
    failures = failure_lines(result.records)
    if failures:
        print("\nNot ok, and why:")
        print("\n".join(failures))
    overhead = (f" (harness overhead {result.harness_overhead:.2f}x)" if result.timed_s
                else "")  # nothing timed (every case failed or was stored): no ratio
    print(f"\n{outcome_line(result.ran, result.reused, result.records)} Sweep wall "
          f"{result.wall_s:.1f} s, {result.timed_s:.1f} s inside timed regions{overhead}.")
    print(f"Results: {result.out / 'results.csv'} (and results.jsonl, environment.json)")
    from a2bench.analysis import verdicts

    try:
        answer = verdicts(result.out)
    except (InputError, ValueError) as e:  # a sweep with nothing to fit still ran
        print(f"No verdict: {e}")
        return
    for run in answer["runs"].values():
        if run["verdict"] == "not swept":
            print("\nNo block was swept along positions N: no verdict.")
            continue
        question = ("double attention against the non-local order" if run["question"] == "a2"
                    else "each block against its model")
        print(f"\nVerdict ({question}, exponents along N, 95% intervals): "
              f"{run['verdict'].upper()}")
        print(verdict_table(run["fits"]))
        for line in run["contradicting"] + run["missing"] + run.get("unmeasured", []):
            print(f"  {line}")
        for hint in run["hints"]:
            print(f"  hint: {hint}")
    # quoted: a folder with a space in its name, pasted as printed, was two arguments
    print(f"\nReport: {program()} report {shlex.quote(str(result.out))}  (writes "
          f"{result.out / 'report'})")


def one_size_warning(cases: Sequence[Case]) -> str | None:
    """Said before a sweep in which no block varies a size (a suite whose lists hold one value
    each): nothing can be fitted, and such a run had said "no verdict" only after its passes.
    A suite that sweeps batch, channels or a parameter at one N is fitted along those."""
    shapes: dict[str, set[tuple[Any, ...]]] = {}
    for c in cases:
        shapes.setdefault(c.block, set()).add((c.batch, c.channels, c.t, c.h, c.w, c.params))
    if not shapes or any(len(s) > 1 for s in shapes.values()):
        return None
    ns = sorted({c.positions for c in cases})
    return (f"every block runs at one size only (N = {', '.join(map(str, ns))}): its cases are "
            "measured, but no exponent is fitted, so the run gives no verdict (five sizes or "
            "more under h and w, or t, or h: auto and w: auto, give one)")
