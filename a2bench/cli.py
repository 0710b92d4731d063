"""Command line: argument parsing, exit codes, progress and the printed summaries.

Exit status: 0 success, 1 a regression found (compare), 2 bad input, 130 interrupted.
Bad input is one line on stderr naming what, where and what is expected, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pandas as pd
import psutil
from tqdm import tqdm

from a2bench import __version__
from a2bench.case import SHAPE_AXES, Case
from a2bench.errors import InputError
from a2bench.measurement import Measurement

if TYPE_CHECKING:
    from a2bench.runner import Worker
    from a2bench.store import ResultsWriter
    from a2bench.suite import Suite

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
NOISY_IQR_RATIO = 0.10
DRIFT_LIMIT = 0.05  # start vs end GEMM ceiling


MALLOC_REUSE_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**32), "MALLOC_TRIM_THRESHOLD_": str(2**32)}


class UsageError(InputError):
    """Bad command-line input; the message is the one line shown."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage plus error
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def parse_size(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in units or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: expected a positive number of bytes, e.g. 8GiB or 500MB")
    return int(float(match.group(1)) * units[match.group(2).upper()])


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def usable_cores() -> int:
    """Physical cores, but no more than the CPUs this process may run on: a Slurm task bound to
    fewer CPUs than its node has (or a taskset) would otherwise run more threads than CPUs."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return physical_cores()
    return max(1, min(physical_cores(), allowed))


def partitions(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(","))
    if not all(re.fullmatch(r"[A-Za-z0-9_.-]+", p) for p in names) or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(
            f"invalid partition list {text!r}: expected distinct Slurm partition names separated "
            "by commas, e.g. h100,a100")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="a2bench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"a2bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a sweep and store its results")
    run.add_argument("suite", help="a suite YAML file, e.g. suites/smoke.yaml")
    run.add_argument("--out", required=True, type=Path, help="results folder to create")
    run.add_argument("--device", default=None, metavar="DEVICE",
                     help="cpu or cuda: overrides the suite's device and applies its section "
                          "for that device")
    run.add_argument("--dtype", default=None, metavar="DTYPE",
                     help="float32, float64, float16 or bfloat16: overrides the suite's dtype")
    run.add_argument("--threads", type=positive_int, default=None,
                     help="CPU threads for torch (default: the physical cores of the machine "
                          "that measures, at most the CPUs the process may run on)")
    run.add_argument("--resume", action="store_true",
                     help="continue a sweep in --out: keep what is stored, run the rest")
    run.add_argument("--case-timeout", type=positive_float, default=300.0, metavar="SECONDS",
                     help="a case running longer is stopped and recorded as timeout (default 300)")
    run.add_argument("--memory-budget", type=parse_size, default=None, metavar="SIZE",
                     help="skip cases whose analytic peak exceeds this (default: half the "
                          "available RAM, or 80%% of free GPU memory)")
    run.add_argument("--time-budget", type=positive_float, default=1.0, metavar="SECONDS",
                     help="timed sampling per case before giving up on --ci-target (default 1)")
    run.add_argument("--ci-target", type=positive_float, default=0.02, metavar="FRACTION",
                     help="stop sampling when the median's 95%% CI half-width is below this "
                          "fraction of the median (default 0.02)")
    run.add_argument("--processes", type=positive_int, default=1, metavar="P",
                     help="run the suite P times, each pass in a fresh worker process, and pool "
                          "each case's samples (default 1)")
    run.add_argument("--interleave", action="store_true",
                     help="CPU: time each pass's cases together, in shuffled chunks of about "
                          "50 ms, so every size of a scaling sweep samples the same moments "
                          "of a machine whose speed drifts (--time-budget of calls per case "
                          "and pass; --ci-target is not used)")
    run.add_argument("--seed", type=seed_int, default=None, metavar="INT",
                     help="seed of the random case order within each pass (default: drawn, and "
                          "on --resume the one the folder recorded)")
    run.add_argument("--calibration-time", type=positive_float, default=0.5, metavar="SECONDS",
                     help="least duration of one timing when measuring the GEMM and bandwidth "
                          "ceilings, at the start and end of the sweep (default 0.5)")
    run.add_argument("--warm-cache", action="store_true",
                     help="CUDA: do not flush the L2 cache between timed iterations")
    run.add_argument("--malloc-reuse", action="store_true",
                     help="CPU: the measuring worker keeps freed memory (glibc "
                          "MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set high), as "
                          "CUDA's caching allocator does, so a tensor past 32 MiB stops paying "
                          "its page faults on every call; recorded as environment.json allocator")
    run.add_argument("--no-counters", action="store_true", help="skip fvcore and FlopCounterMode")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--executor", choices=("local", "slurm"), default="local",
                     help="local (default): every case on this machine; slurm: the cases as "
                          "Slurm job arrays through submitit, one exclusive node per job, and "
                          "one merged results set per partition in --out")
    run.add_argument("--partition", type=partitions, default=None, metavar="P[,P...]",
                     help="Slurm partitions to run the whole suite on, one results set each in "
                          "--out/<partition> (default: the cluster's default partition)")
    run.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                     help="any other submitit or sbatch parameter, repeatable: account=lab, "
                          "qos=high, constraint=h100, time=120 (minutes), gpus_per_node=2, ...")
    run.add_argument("--cases-per-job", type=positive_int, default=None, metavar="K",
                     help="Slurm: cases each job runs in turn (default: the suite spread over "
                          "at most 16 jobs per partition, at least 4 cases a job)")

    sub.add_parser("list", help="show registered blocks and shipped suites")

    aud = sub.add_parser("audit", help="every FLOP counter against the exact model, block by "
                                       "block, with what each one missed or added")
    aud.add_argument("--suite", default=None, metavar="SUITE",
                     help="audit this suite's blocks at up to 3 of its sizes each (default: "
                          "every registered block at three shapes)")
    aud.add_argument("--out", type=Path, default=None,
                     help="folder for audit.csv and audit.md (default: "
                          "results/local/audit-<time>)")

    rep = sub.add_parser("report", help="fit scaling exponents and write a comparison report")
    rep.add_argument("dirs", nargs="+", type=Path, help="one or more results folders")
    rep.add_argument("--out", required=True, type=Path, help="report folder to write")

    cmp = sub.add_parser("compare", help="gate HEAD against BASE: exit 1 on a significant "
                                         "slowdown or a changed exact metric")
    cmp.add_argument("base", type=Path, help="results folder of the base commit")
    cmp.add_argument("head", type=Path, help="results folder of the head commit")
    cmp.add_argument("--threshold", type=positive_float, default=10.0, metavar="PCT",
                     help="slowdown in percent that fails the gate when significant (default 10)")
    cmp.add_argument("--normalize", action="store_true",
                     help="divide each case's latency by the reference kernel timed beside it")
    cmp.add_argument("--exact-only", action="store_true",
                     help="compare only the exact metrics (MACs, analytic bytes); cannot flake")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "list":
            return cmd_list()
        if args.command == "audit":
            return cmd_audit(args)
        if args.command == "report":
            from a2bench.report import write_report

            return write_report(args.dirs, args.out)
        if args.command == "compare":
            from a2bench.compare import run_compare

            return run_compare(args.base, args.head, threshold_pct=args.threshold,
                               normalize=args.normalize, exact_only=args.exact_only)
    except InputError as e:
        print(f"a2bench: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("a2bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_list() -> int:
    from a2bench.registry import blocks
    from a2bench.suite import load_suite

    print("blocks:")
    for name, spec in blocks().items():
        params = ", ".join(f"{p.name}" + (f" ({'|'.join(p.choices)})" if p.choices else "")
                           for p in spec.params)
        print(f"  {name}: {spec.label}" + (f"; parameters {params}" if params else ""))
    from a2bench.suite import RUN_CHOICES

    print("axes of every block: shape " + ", ".join(SHAPE_AXES) + "; "
          + ", ".join(f"{axis} ({'|'.join(str(v).lower() for v in values)})"
                      for axis, values in RUN_CHOICES.items()))
    print("suites:")
    for path in sorted(suites_dir().glob("*.yaml")):
        try:
            s = load_suite(path)
            devices = f" [sections: {', '.join(s.overlays)}]" if s.overlays else ""
            print(f"  {path}  ({s.name}: {s.description.strip()}){devices}")
        except ValueError as e:
            print(f"  {path}  (invalid: {e})")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from a2bench import audit
    from a2bench.plugins import load_plugins
    from a2bench.suite import expand, load_suite

    load_plugins()
    if args.suite is None:
        cases = audit.default_cases()
    else:
        cases = audit.suite_cases(expand(load_suite(args.suite, device="cpu")))
    out = args.out or Path("results/local") / f"audit-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; expected a folder")
    print(f"a2bench: auditing {len(cases)} cases with "
          f"{', '.join(audit.COUNTER_LABELS.values())}", file=sys.stderr)
    result = audit.run_audit(cases)
    for name, c in result.conventions.items():
        if c.missing:  # said once, not per case
            print(f"a2bench: {audit.COUNTER_LABELS[name]} not run: {c.missing}", file=sys.stderr)
    audit.write(result, out)
    print(pd.DataFrame(audit.table(result)).to_string(index=False))
    print()
    for line in audit.verdict_lines(result):
        print(line)
    print(f"\nAudit: {out / 'audit.md'} (and audit.csv)")
    return 0


def suites_dir() -> Path:
    here = Path.cwd() / "suites"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "suites"


def cmd_run(args: argparse.Namespace) -> int:
    from a2bench.plugins import load_plugins
    from a2bench.store import holds_results
    from a2bench.suite import expand, load_suite

    load_plugins()
    suite = load_suite(args.suite, device=args.device, dtype=args.dtype)
    cases = expand(suite)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a file; expected a results folder (new or empty)")
    if args.executor == "slurm":
        from a2bench.slurm import run_on_slurm

        return run_on_slurm(suite, cases, args)
    for flag, value in (("--partition", args.partition), ("--slurm", args.slurm),
                        ("--cases-per-job", args.cases_per_job)):
        if value:
            raise UsageError(f"{flag}: only applies with --executor slurm (the local executor "
                             "runs every case on this machine)")
    if holds_results(args.out) and not args.resume:  # before anything starts or is written
        raise UsageError(f"{args.out}: already holds results; pass --resume to continue that "
                         "sweep, or choose another --out")
    return sweep(suite, cases, args)


def sweep(suite: Suite, cases: Sequence[Case], args: argparse.Namespace) -> int:
    """Run `cases` here: worker, ceilings at the start, overhead, passes, ceilings at the end.

    The local executor's whole run, and what each Slurm job runs on its shard of the suite, so
    a case measured on a cluster goes through the same worker and measurement path.
    """
    from a2bench.measure.timing import INTERLEAVE_CHUNK_S
    from a2bench.registry import blocks
    from a2bench.runner import Worker, WorkerLost, measure_overhead, run_cases
    from a2bench.store import ResultsWriter, load_environment, merge_passes
    from a2bench.worker import Settings

    started = time.perf_counter()
    threads = args.threads or usable_cores()  # on a Slurm node: that node's (or task's) cores
    if suite.device == "cuda":
        import torch  # already loaded with the blocks; asking starts no CUDA context

        if not torch.cuda.is_available():
            asked = "--device cuda" if args.device else "device: cuda"
            raise UsageError(f"{suite.path}: {asked}: expected a device this machine has; torch "
                             "sees no CUDA device here (run with --device cpu)")
    if args.malloc_reuse:
        # Read by glibc when the spawned worker starts; the mmap threshold alone is not enough
        # (freed memory at the heap top would still go back to the OS and fault in again).
        os.environ.update(MALLOC_REUSE_ENV)
    settings = Settings(threads=threads, ci_target=args.ci_target,
                        time_budget_s=args.time_budget, warm_cache=args.warm_cache,
                        counters=not args.no_counters)
    try:
        worker = Worker(settings)
        env = worker.request("environment", suite.device, 60)[1]
    except WorkerLost as e:
        print(f"a2bench: error: could not start a measuring worker: {e.reason}", file=sys.stderr)
        return 1
    if not args.no_counters:  # said once here, not in every case's reason
        for name, state in (env.get("optional_counters") or {}).items():
            if state.get("missing"):
                print(f"a2bench: macs_{name} stays empty: {state['missing']}", file=sys.stderr)
    # One ceiling per dtype the suite runs in: a bf16 case is read against the bf16 GEMM.
    starts = {d: calibrate(worker, suite.device, d, args) for d in suite.dtypes}
    if not worker.alive():
        worker = None
    stored = load_environment(args.out) if args.resume else {}
    seed = args.seed
    if seed is None:  # a resumed sweep goes on in the order it began with
        seed = stored.get("order_seed")
        seed = seed if isinstance(seed, int) else secrets.randbelow(2**31)
    interleaved = args.interleave and suite.device == "cpu"  # CUDA has its own timing path
    writer = ResultsWriter(args.out, resume=args.resume, order=[c.key() for c in cases])
    budget = args.memory_budget or default_budget(suite.device, env)
    env.update(suite=suite.name, suite_path=str(suite.path), memory_budget_bytes=budget,
               case_timeout_s=args.case_timeout, time_budget_s=args.time_budget,
               ci_target=args.ci_target, warm_cache=args.warm_cache, order_seed=seed,
               timing_schedule="interleaved" if interleaved else "per case",
               interleave_chunk_s=INTERLEAVE_CHUNK_S,
               calibration_time_s=args.calibration_time, dtype=suite.dtype,
               # What analysis and report know of each block: labels and parameters.
               blocks={b: blocks()[b].describe() for b in suite.blocks},
               **ceilings(suite.device, suite.dtypes, threads, starts, {}))
    writer.write_environment(env)
    if "overhead" not in stored:
        try:
            overhead, worker = measure_overhead(cases, suite.device, suite.dtype, settings,
                                                args.case_timeout, worker)
        except KeyboardInterrupt:
            return _interrupted(args, writer)
        writer.add_to_environment(overhead=overhead)

    wanted = {(c.key(), p) for c in cases for p in range(args.processes)}
    reused = len(writer.done_keys() & wanted)
    passes = f" x {args.processes} processes" if args.processes > 1 else ""
    print(f"a2bench: {suite.name}: {len(cases)} cases{passes} ({reused} already stored) on "
          f"{suite.device}, {threads} threads, order seed {seed}, results in {args.out}",
          file=sys.stderr)
    if args.interleave and not interleaved:
        print("a2bench: --interleave applies to CPU suites; this one is timed case by case",
              file=sys.stderr)
    progress = _progress(len(wanted), reused, disabled=args.no_progress)

    def on_case(case: Case, m: Measurement | None) -> None:
        if m is not None:
            progress.set_postfix_str(f"{case.label()}: {m.status}", refresh=False)
            progress.update(1)

    def on_stage(text: str) -> None:
        progress.set_postfix_str(text, refresh=True)

    report = run_cases(cases, writer, settings, budget, args.case_timeout, on_case, worker,
                       processes=args.processes, seed=seed, keep_worker=True,
                       interleave=interleaved, on_stage=on_stage)
    progress.close()
    if report.interrupted:
        return _interrupted(args, writer)

    # Again at the end, in the last pass's worker (or a fresh one where it died): a ceiling
    # that moved says the machine changed under the sweep, and the latencies with it.
    not_started = "the measuring worker did not start"
    ends: dict[str, tuple[dict[str, Any] | None, str | None]] = {
        d: (None, not_started) for d in suite.dtypes}
    try:
        end_worker = report.worker or Worker(settings)
    except WorkerLost as e:
        ends = {d: (None, f"{not_started}: {e.reason}") for d in suite.dtypes}
    except KeyboardInterrupt:
        return _interrupted(args, writer)
    else:
        try:
            ends = {d: calibrate(end_worker, suite.device, d, args) for d in suite.dtypes}
        except KeyboardInterrupt:
            return _interrupted(args, writer)
        finally:
            end_worker.kill()
    session = ceilings(suite.device, suite.dtypes, threads, starts, ends)
    writer.update_session(**session)
    roofline = session["roofline"]

    merged = merge_passes(writer.records)
    warnings = noise_warnings(merged, env) + drift_warnings(roofline)
    if warnings:
        writer.add_to_environment(warnings=warnings)
        for w in warnings:
            print(f"a2bench: warning: {w}", file=sys.stderr)
    order = {c.key(): i for i, c in enumerate(cases)}
    print(summary_table(sorted((m for m in merged if m.case.key() in order),
                               key=lambda m: order[m.case.key()])))
    wall = time.perf_counter() - started  # worker start-up and calibration included
    overhead_ratio = wall / report.timed_s if report.timed_s else float("nan")
    print(f"\n{report.ran} cases run, {report.reused} reused: "
          + ", ".join(f"{k} {v}" for k, v in sorted(report.statuses.items()))
          + f". Sweep wall {wall:.1f} s, {report.timed_s:.1f} s inside timed regions "
          f"(harness overhead {overhead_ratio:.2f}x).")
    print(f"Results: {args.out / 'results.csv'} (and results.jsonl, environment.json)")
    return 0


def _interrupted(args: argparse.Namespace, writer: ResultsWriter) -> int:
    print(f"a2bench: interrupted; {len(writer.records)} results are saved in {args.out}. "
          f"Resume with: a2bench run {args.suite} --out {args.out} --resume (and the same "
          "options)", file=sys.stderr)
    return EXIT_INTERRUPTED


def calibration_timeout(args: argparse.Namespace) -> float:
    # About 30 timings of at least --calibration-time each, plus first calls and allocation; a
    # slow machine or dtype needs more, and only a hang should ever reach this.
    return max(args.case_timeout, 300.0 + 100 * args.calibration_time)


def calibrate(worker: Worker, device: str, dtype: str,
              args: argparse.Namespace) -> tuple[dict[str, Any] | None, str | None]:
    """The ceilings from one calibration in `worker`, or None and why not."""
    from a2bench.runner import WorkerLost

    payload = {"device": device, "dtype": dtype, "min_time_s": args.calibration_time}
    try:
        kind, reply = worker.request("calibrate", payload, calibration_timeout(args))
    except WorkerLost as lost:
        return None, lost.reason
    return (reply, None) if kind == "calibration" else (None, reply["reason"])


def ceilings(device: str, dtypes: tuple[str, ...], threads: int,
             starts: dict[str, tuple[dict[str, Any] | None, str | None]],
             ends: dict[str, tuple[dict[str, Any] | None, str | None]]) -> dict[str, Any]:
    """environment.json's `roofline` (the suite's first dtype, as runs have always had) and
    `rooflines`, one record per dtype the suite runs in."""
    records = {}
    for d in dtypes:
        start, start_error = starts.get(d, (None, None))
        end, end_error = ends.get(d, (None, None))
        records[d] = roofline_record(device, d, threads, start, end, start_error, end_error)
    return {"roofline": records[dtypes[0]], "rooflines": records}


def roofline_record(device: str, dtype: str, threads: int, start: dict[str, Any] | None,
                    end: dict[str, Any] | None, start_error: str | None = None,
                    end_error: str | None = None) -> dict[str, Any]:
    """environment.json's roofline: the better of the start and end ceilings, and their drift.

    The better one, not the first: a ceiling is what the machine can do, and whatever disturbed
    one calibration only lowered it. The drift says how far to trust either.
    """
    done = [c for c in (start, end) if c]

    def best(key: str) -> float | None:
        values = [c[key] for c in done if c.get(key) is not None]
        return max(values) if values else None

    gemm_start = (start or {}).get("gemm_flops_per_s")
    gemm_end = (end or {}).get("gemm_flops_per_s")
    record: dict[str, Any] = {
        "device": device, "dtype": dtype, "threads": threads,
        "gemm_flops_per_s": best("gemm_flops_per_s"),
        "bandwidth_bytes_per_s": best("bandwidth_bytes_per_s"),
        "gemm_flops_per_s_start": gemm_start,
        "gemm_flops_per_s_end": gemm_end,
        "drift": gemm_end / gemm_start - 1 if gemm_start and gemm_end else None,
        "start": start,
        "end": end,
    }
    if start_error:
        record["error"] = start_error
    if end_error:
        record["end_error"] = end_error
    return record


def drift_warnings(roofline: dict[str, Any]) -> list[str]:
    drift = roofline.get("drift")
    if drift is None or abs(drift) <= DRIFT_LIMIT:
        return []
    return [f"the GEMM ceiling moved {drift:+.1%} between the start and the end of the sweep "
            f"(more than {DRIFT_LIMIT:.0%}): the machine changed under it; latencies may too"]


def default_budget(device: str, env: dict[str, Any]) -> int:
    if device == "cuda" and env.get("gpu_free_bytes"):
        return int(0.8 * env["gpu_free_bytes"])
    return int(0.5 * psutil.virtual_memory().available)


def _progress(total: int, initial: int, disabled: bool) -> tqdm:
    return tqdm(total=total, initial=initial, unit="case", disable=disabled, file=sys.stderr,
                dynamic_ncols=True)


def noise_warnings(records: Sequence[Measurement], env: dict[str, Any]) -> list[str]:
    out = []
    ok = [m for m in records if m.status == "ok" and m.latency_s]
    noisy = [m for m in ok if (m.latency_iqr_s or 0) > NOISY_IQR_RATIO * m.latency_s]
    if ok and len(noisy) >= max(2, 0.2 * len(ok)):
        out.append(f"noisy run: IQR above {NOISY_IQR_RATIO:.0%} of the median on "
                   f"{len(noisy)} of {len(ok)} cases; close other programs or raise --time-budget")
    busy = env.get("cpu_busy_percent")
    if busy is not None and busy > 20:
        out.append(f"other load present: the CPU was {busy:.0f}% busy before the sweep started")
    return out


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
            "MMACs": f"{m.macs_analytic / 1e6:.2f}" if m.macs_analytic is not None else "",
            "latency ms": f"{m.latency_s * 1e3:.3f}" if m.latency_s else "",
            "IQR ms": f"{m.latency_iqr_s * 1e3:.3f}" if m.latency_iqr_s is not None else "",
            "peak MiB": f"{m.peak_bytes / 2**20:.2f}" if m.peak_bytes is not None else "",
            "model MiB": f"{m.peak_bytes_analytic / 2**20:.2f}",
            "status": m.status,
        })
    if not rows:
        return "(no cases)"
    table = pd.DataFrame(rows)
    if not table["run as"].any():
        table = table.drop(columns=["run as"])
    return table.to_string(index=False)


if __name__ == "__main__":
    sys.exit(main())
