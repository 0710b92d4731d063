"""Command line: argument parsing, exit codes, progress and the printed summaries.

Exit status: 0 success, 1 a regression (compare), too short a budget (plan) or a sweep with no
case ok (run), 2 bad input, 130 interrupted (143 and 129: a run stopped by SIGTERM, SIGHUP).
Bad input is one line on stderr naming what, where and what is expected, never a traceback."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from a2bench import __version__, folders
from a2bench import argtypes as at
from a2bench.errors import InputError, StdoutGuard, StdoutLost, os_problem, output_lost
from a2bench.run.options import EXECUTORS, SPLITS

DESCRIPTION = """\
a2bench measures how attention blocks for vision and video models scale: it sweeps a block over
positions N (and channels, batch, frames, its parameters) on CPU or CUDA, measures MACs, latency
and peak memory, fits each cost's exponent, and says whether it follows the block's model
(double attention's O(m*n*N) against the non-local order's O((m+n)*N^2), or your own block's).

  a2bench run suites/default.yaml              sweep into results/local/default-<time>/, store,
                                               and print the verdicts (--out DIR: elsewhere)
  a2bench report DIR                           the report in DIR/report: fits, figures, findings
  a2bench plan SUITE                           the sizes a2bench would choose for h: auto
                                               (exit 1 if the budget is too short for them)
  a2bench compare BASE HEAD                    the CI gate: exit 1 on a significant slowdown

Your own block: one Python file named in A2BENCH_PLUGINS (or registered with @register before
a2bench.sweep(...)); see docs/your-block.md."""

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(InputError):
    """Bad command-line input; the message is the one line shown."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # -1G is a (bad) value for its check to explain, not an option: argparse took only
        # plain numbers, and said "expected one argument". No option starts with a digit.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> NoReturn:  # one line, not usage plus error
        # main prints "a2bench: error: " before it: a subcommand's name follows, not "a2bench"
        where = f"{self.prog}: " if " " in self.prog else ""
        raise UsageError(f"{where}{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="a2bench", description=DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"a2bench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help: str, more: str = "") -> argparse.ArgumentParser:
        # the summary `a2bench -h` lists is also what `a2bench NAME -h` opens with
        return sub.add_parser(name, help=help, description=f"a2bench {name}: {help}.{more}")

    run = command("run", "run a sweep and store its results")
    run.add_argument("suite", help="a suite YAML file, e.g. suites/smoke.yaml")
    run.add_argument("--out", type=at.folder_path, default=None,
                     help="results folder to create (default: results/local/<suite name>-<time>)")
    run.add_argument("--device", default=None, metavar="DEVICE",
                     help="cpu or cuda: overrides the suite's device and applies its section "
                          "for that device")
    run.add_argument("--dtype", default=None, metavar="DTYPE",
                     help="float32, float64, float16 or bfloat16: overrides the suite's dtype")
    run.add_argument("--threads", type=at.positive_int, default=None,
                     help="CPU threads for torch, at most the CPUs the process may run on "
                          "(default on a CPU: the suite's threads:, else the physical cores less "
                          "one, at least 1, so the harness and the OS keep a core; on CUDA: the "
                          "physical cores)")
    run.add_argument("--resume", action="store_true",
                     help="continue a sweep in --out: keep what is stored, run the rest")
    run.add_argument("--case-timeout", type=at.case_timeout, default=300.0, metavar="SECONDS",
                     help="a case running longer is stopped and recorded as timeout (default 300)")
    run.add_argument("--memory-budget", type=at.parse_size, default=None, metavar="SIZE",
                     help="skip cases whose analytic peak exceeds this, e.g. 8GiB or 500MB "
                          "(default: half the available RAM, or 80%% of free GPU memory)")
    run.add_argument("--time-budget", type=at.time_budget, default=1.0, metavar="SECONDS",
                     help="timed sampling per case before giving up on --ci-target (default 1)")
    run.add_argument("--ci-target", type=at.fraction, default=0.02, metavar="FRACTION",
                     help="stop sampling when the median's 95%% CI half-width is below this "
                          "fraction of the median (default 0.02)")
    run.add_argument("--processes", type=at.positive_int, default=3, metavar="P",
                     help="run the suite P times, each pass in a fresh worker process, and pool "
                          "each case's samples (default 3: the process is the unit of "
                          "replication, and compare tests timings only with 3 or more)")
    run.add_argument("--interleave", action=argparse.BooleanOptionalAction, default=True,
                     help="CPU: time each pass's cases together, in shuffled chunks of about "
                          "50 ms, so every size of a scaling sweep samples the same moments "
                          "of a machine whose speed drifts (default on; --time-budget of calls "
                          "per case and pass; --ci-target is not used)")
    run.add_argument("--budget", type=at.budget, default=None, metavar="SECONDS",
                     help="auto sizes (h: auto, w: auto or t: auto): the wall time of the whole "
                          "run (default 180 on a CPU, 240 on CUDA)")
    run.add_argument("--target", type=at.positive_float, default=0.05, metavar="HALF_WIDTH",
                     help="auto sizes: stop spending the budget once every latency exponent's "
                          "95%% interval has this half-width (default 0.05)")
    run.add_argument("--seed", type=at.seed_int, default=None, metavar="INT",
                     help="seed of the random case order within each pass (default: drawn, and "
                          "on --resume the one the folder recorded)")
    run.add_argument("--calibration-time", type=at.calibration_time, default=0.5, metavar="SECONDS",
                     help="least duration of one timing when measuring the GEMM and bandwidth "
                          "ceilings, at the start and end of the sweep (default 0.5)")
    run.add_argument("--warm-cache", action="store_true",
                     help="CUDA: do not flush the L2 cache between timed iterations")
    run.add_argument("--malloc-reuse", action="store_const", const=True, default=None,
                     help="CPU: the measuring worker keeps freed memory (glibc "
                          "MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set high), as "
                          "CUDA's caching allocator does, so a tensor past 32 MiB stops paying "
                          "its page faults on every call; recorded as environment.json "
                          "allocator. Default: on for a suite with auto sizes, else off")
    run.add_argument("--no-malloc-reuse", dest="malloc_reuse", action="store_const",
                     const=False, help="CPU: glibc's defaults even for a suite with auto sizes")
    run.add_argument("--no-counters", action="store_true", help="skip fvcore and FlopCounterMode")
    run.add_argument("--no-progress", action="store_true", help="no progress (bar or log lines)")
    run.add_argument("--executor", choices=EXECUTORS, default="local",
                     help="local (default): every case on this machine; slurm: the cases as "
                          "Slurm job arrays through submitit, one exclusive node per job, and "
                          "one merged results set per partition in --out")
    run.add_argument("--partition", type=at.partitions, default=None, metavar="P[,P...]",
                     action=at.Once,
                     help="Slurm partitions to run the whole suite on, one results set each in "
                          "--out/<partition> (default: the cluster's default partition)")
    run.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                     help="any other submitit or sbatch parameter, repeatable: account=lab, "
                          "qos=high, constraint=h100, time=120 (minutes), gpus_per_node=2, ...")
    run.add_argument("--cases-per-job", type=at.positive_int, default=None, metavar="K",
                     help="Slurm: cases each job runs in turn (default: the suite spread over "
                          "at most 16 jobs per partition, at least 4 cases a job)")
    run.add_argument("--split", choices=SPLITS, default=None,
                     help="Slurm: findings (default): the cases one finding compares (a fit, "
                          "one block against another at a shape) in one job, so on one node, K "
                          "or more a job; cases: K a job in suite order, more jobs at once, but "
                          "the latency of a finding over several nodes decides nothing")

    pln = command("plan", "print the sizes a2bench would choose for a suite's auto "
                          "axes (h: auto, w: auto or t: auto), running no case")
    pln.add_argument("suite", help="a suite YAML file with auto sizes")
    pln.add_argument("--budget", type=at.budget, default=None, metavar="SECONDS",
                     help="the run's wall time to plan for (default 180 on a CPU, 240 on CUDA)")
    pln.add_argument("--device", default=None, metavar="DEVICE",
                     help="cpu or cuda: overrides the suite's device")
    pln.add_argument("--dtype", default=None, metavar="DTYPE", help="as for run")
    pln.add_argument("--target", type=at.positive_float, default=0.05, metavar="HALF_WIDTH",
                     help="as for run: the half-width the plan's rounds aim at (default 0.05)")
    pln.add_argument("--threads", type=at.positive_int, default=None, help="as for run")
    pln.add_argument("--processes", type=at.positive_int, default=3, metavar="P", help="as for run")
    pln.add_argument("--time-budget", type=at.time_budget, default=1.0, metavar="SECONDS",
                     help="as for run")
    pln.add_argument("--memory-budget", type=at.parse_size, default=None, metavar="SIZE",
                     help="as for run, e.g. 8GiB or 500MB")
    pln.add_argument("--calibration-time", type=at.calibration_time, default=0.5, metavar="SECONDS",
                     help="as for run: the plan calibrates as the run will, so that it counts "
                          "the run's start-up (default 0.5)")

    lst = command("list", "show registered blocks and shipped suites")
    lst.add_argument("--long", action="store_true",
                     help="each suite's whole description (default: its first clause)")

    aud = command("audit", "every FLOP counter against the exact model, block by block, with "
                           "what each one missed or added",
                  " Each block runs once per shape, forward, float32, on the CPU. Every count is "
                  "in MACs (multiply-accumulates): FlopCounterMode's 2 per MAC halved; fvcore, "
                  "ptflops and thop report MACs.")
    aud.add_argument("--suite", default=None, metavar="SUITE",
                     help="audit this suite's blocks at up to 3 of its sizes each (default: "
                          "every registered block at three shapes)")
    aud.add_argument("--out", type=at.folder_path, default=None,
                     help="folder for audit.csv and audit.md (default: "
                          "results/local/audit-<time>)")

    rem = command("remodel", "rewrite stored runs' model columns (MACs, bytes, "
                             "peak) from today's cost models; nothing re-measured")
    rem.add_argument("dirs", nargs="+", type=at.folder_path, help="one or more results folders")

    rep = command("report", "fit scaling exponents and write a comparison report")
    rep.add_argument("dirs", nargs="+", type=at.folder_path, help="one or more results folders")
    rep.add_argument("--out", type=at.folder_path, default=None,
                     help="report folder to write (default: the first results folder's report/)")

    cmp = command("compare", "gate HEAD against BASE: exit 1 on a significant "
                             "slowdown or a changed exact metric")
    cmp.add_argument("base", type=at.folder_path, help="results folder of the base commit")
    cmp.add_argument("head", type=at.folder_path, help="results folder of the head commit")
    cmp.add_argument("--threshold", type=at.positive_float, default=10.0, metavar="PCT",
                     help="slowdown in percent that fails the gate when significant (default 10)")
    cmp.add_argument("--normalize", action="store_true",
                     help="divide each case's latency by the reference kernel timed beside it")
    cmp.add_argument("--exact-only", action="store_true",
                     help="compare only the exact metrics (MACs, analytic bytes); cannot flake")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    stdout, sys.stdout = sys.stdout, StdoutGuard(sys.stdout)  # its errors told from a file's
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra:  # named with the command they were given to, not as a2bench's own
            raise UsageError(f"a2bench {args.command}: unrecognized arguments: {' '.join(extra)} "
                             f"(see a2bench {args.command} --help)")
        return {"run": cmd_run, "plan": cmd_plan, "list": lambda a: cmd_list(a.long),
                "audit": cmd_audit, "remodel": cmd_remodel, "report": cmd_report,
                "compare": cmd_compare}[args.command](args)
    except InputError as e:
        print(f"a2bench: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("a2bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StdoutLost as e:  # its reader left (`| head`), or it is full (`> /dev/full`)
        output_lost(e)
        return 1
    except OSError as e:  # a path the system refused where no check looked (a name too long)
        where = f"{e.filename}: " if e.filename else ""
        print(f"a2bench: error: {where}{os_problem(e, 'a file or folder', 'use')}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        sys.stdout = stdout


def cmd_report(args: argparse.Namespace) -> int:
    folders.refuse_unreadable(args.dirs)  # before pandas and scipy load: a typo said at once
    from a2bench.report import build_report
    print(*build_report(args.dirs, args.out or args.dirs[0] / "report").lines, sep="\n")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    folders.refuse_unreadable([args.base, args.head], ("base", "head"))  # before pandas loads
    from a2bench.compare import run_compare  # its status is the verdict's, the pipe closed or not
    return run_compare(args.base, args.head, threshold_pct=args.threshold,
                       normalize=args.normalize, exact_only=args.exact_only)


def cmd_remodel(args: argparse.Namespace) -> int:
    folders.refuse_unreadable(args.dirs)  # before torch loads (its cost models)
    from a2bench.run.remodel import remodel_all
    for r in remodel_all(args.dirs):  # each run's line as it is done
        print(r.line())
    return 0


def cmd_list(long: bool = False) -> int:
    from a2bench.listing import listing

    print("\n".join(listing(long)))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    import pandas as pd  # here, not at the top: a run's workers import this module (spawn)

    from a2bench import audit
    from a2bench.formatting import plural
    from a2bench.plugins import load_plugins
    from a2bench.run.store import folder_problem, fresh_folder

    load_plugins()
    cases, note = ((audit.default_cases(), None) if args.suite is None
                   else audit.cases_of_suite(args.suite))
    if note:  # what the suite's cases became: forward, float32, eager, on the CPU
        print(f"a2bench: {note}", file=sys.stderr)
    counted = audit.counted_blocks(cases)
    if all(c.block in counted for c in cases):
        raise UsageError(f"nothing to audit: {', '.join(counted)} "
                         f"{'gives' if len(counted) == 1 else 'give'} no cost(), and the audit "
                         "sets each counter beside a cost model; expected a block with one")
    out = args.out or fresh_folder("audit")
    if problem := folder_problem(out, run=False) or audit.folder_problem(out):
        raise UsageError(f"--out {out}: {problem}")
    print(f"a2bench: auditing {plural(sum(c.block not in counted for c in cases), 'case')} with "
          f"{', '.join(audit.COUNTER_LABELS.values())}", file=sys.stderr)
    result = audit.run_audit(cases)
    for line in audit.notes(result):  # a counter not run said once; a case over the budget
        print(f"a2bench: {line}", file=sys.stderr)
    audit.write(result, out)
    print(audit.UNITS)
    print(pd.DataFrame(audit.table(result)).to_string(index=False))
    print()
    for line in audit.verdict_lines(result):
        print(line)
    print(f"\nAudit: {out / 'audit.md'} (and audit.csv)")
    for failed in result.failed:  # a broken block: the rest are written, the status says so
        print(f"a2bench: error: {failed.line()}", file=sys.stderr)
    return EXIT_BAD_INPUT if result.failed else 0


def cmd_plan(args: argparse.Namespace) -> int:
    from a2bench.plugins import load_plugins
    from a2bench.run.listener import ConsoleListener
    from a2bench.run.options import RunOptions
    from a2bench.run.summary import budget_line, noise_line, plan_notes, plan_table
    from a2bench.run.sweep import Sweep, SweepError
    from a2bench.suite import load_suite

    load_plugins()
    suite = load_suite(args.suite, device=args.device, dtype=args.dtype)
    if not suite.auto:
        raise UsageError(f"{args.suite}: no auto sizes to plan (expected h: auto with w: auto, "
                         "or t: auto, under params)")
    options = RunOptions(out=Path("."), suite=str(args.suite), device=args.device,
                         dtype=args.dtype, target=args.target,
                         budget=args.budget, threads=args.threads, processes=args.processes,
                         time_budget=args.time_budget, memory_budget=args.memory_budget,
                         calibration_time=args.calibration_time)
    try:
        plan = Sweep(suite, [], options, ConsoleListener()).plan()
    except SweepError as e:
        print(f"a2bench: error: {e}", file=sys.stderr)
        return 1
    print(plan_table(plan))
    print(noise_line(plan))  # what the pilot measured of the machine's noise, and what of it
    for line in plan_notes(plan):  # what the planner passed over, and why (as a run says)
        print(line)
    rest = ("; the rest of the budget narrows the intervals" if plan.feasible
            and plan.predicted_wall_s < plan.budget_s else "")
    print(f"\nPredicted wall time {plan.predicted_wall_s:.0f} s of a {plan.budget_s:g} s budget "
          f"(calibration and start-up {plan.startup_s + plan.fixed_s:.0f} s){rest}. A run times "
          "its own probes, so its windows' ends may move by a size.")
    if plan.feasible and plan.predicted_wall_s > plan.budget_s:
        print(f"Over the budget by {plan.predicted_wall_s - plan.budget_s:.0f} s: a run times "
              "every block's window whatever it costs (--budget sizes the plan, it is no cap).")
    if not plan.feasible:  # the answer is no: a script can test it before it runs the sweep
        print(budget_line(plan))
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from a2bench.plugins import load_plugins
    from a2bench.run.interrupts import as_interrupts
    from a2bench.run.listener import ConsoleListener
    from a2bench.run.options import RunOptions, refuse_out
    from a2bench.run.store import fresh_folder
    from a2bench.sinfo import refuse_partitions
    from a2bench.suite import expand, load_suite

    if args.resume and args.out is None:
        raise UsageError("--resume: expected --out DIR, the results folder of the sweep to "
                         "continue (a run without --out goes to a new folder)")
    if args.executor == "slurm" and args.out is None:
        raise UsageError("--executor slurm: expected --out DIR on a filesystem the nodes share "
                         "(a run without --out goes under this folder's results/local)")
    given = args.out is not None
    if given:  # before the plugins and the suite's blocks load torch: 3 s of CPU
        refuse_out(early := RunOptions.from_args(args))
        refuse_partitions(early)  # and before a2bench.slurm loads pandas, scipy and submitit
    load_plugins()
    suite = load_suite(args.suite, device=args.device, dtype=args.dtype)
    args.out = args.out or fresh_folder(suite.name)
    options = early if given else RunOptions.from_args(args)  # from the arguments alone
    cases = expand(suite)
    if not given:  # a new folder, named for the suite
        refuse_out(options, suite.name)
    if args.executor == "slurm":
        from a2bench.slurm import run_on_slurm

        if suite.auto:  # the plan calibrates on the machine that measures: one machine
            raise UsageError(f"{args.suite}: auto sizes run on the local executor (the plan "
                             "measures the machine it runs on); plan them with a2bench plan on "
                             "a node and list the sizes for --executor slurm")
        with as_interrupts() as caught:  # a kill stops the driver as Ctrl-C does
            return run_on_slurm(suite, cases, options, caught)
    # pandas and scipy load at the sweep's first fit and table, not with these (8d14ed1)
    from a2bench.run.summary import no_ok_line, print_sweep
    from a2bench.run.sweep import Sweep, SweepError, SweepResult

    try:
        with as_interrupts() as caught:  # a kill or a closed terminal stops it as Ctrl-C does
            result = Sweep(suite, cases, options, ConsoleListener(options.progress)).run()
    except SweepError as e:
        print(f"a2bench: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # in a calibration, before the cases: as a stop between them
        result = SweepResult(out=args.out, interrupted=True, saved=options.stored())
    if result.interrupted:
        print(f"a2bench: {options.stopped_line(result.saved)}", file=sys.stderr)
        return caught.exit_status(EXIT_INTERRUPTED)
    print_sweep(result)
    if line := no_ok_line(result):
        print(f"a2bench: error: {line}", file=sys.stderr)
        return 1  # a script or CI job that runs a sweep must not read it as a success
    return 0


if __name__ == "__main__":
    sys.exit(main())
