"""Sweep: one sweep of a suite's cases on this machine, from the first worker to the summary.

It starts the measuring worker, calibrates the ceilings, measures the per-call overhead, runs the
passes, calibrates again at the end, writes environment.json and the results as it goes, and
returns a SweepResult. The CLI's local executor, each Slurm job and the Python API run this same
object, so a case measured anywhere goes through one path. It prints nothing: what the user
should see goes to its SweepListener.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from a2bench.case import Case
from a2bench.catalog import blocks
from a2bench.errors import InputError
from a2bench.formatting import saved_text
from a2bench.measure.chunks import INTERLEAVE_CHUNK_S
from a2bench.measurement import Measurement
from a2bench.plugins import ENV_VAR as PLUGINS_VAR
from a2bench.plugins import for_worker
from a2bench.run.autosize import REUSED_MMAP_THRESHOLD, AutoSizes, variant
from a2bench.run.calibration import (
    Calibration,
    calibrate,
    ceilings,
    drift_warnings,
    end_calibration_s,
    end_sizes,
)
from a2bench.run.floor import memory_floor_problem, memory_plan_problem
from a2bench.run.interrupts import held
from a2bench.run.listener import SweepListener
from a2bench.run.lock import holding
from a2bench.run.options import RunOptions, auto_flags_problem, slurm_folder_problem
from a2bench.run.plan import Plan
from a2bench.run.result import SweepResult
from a2bench.run.resume import python_call
from a2bench.run.runner import (
    Stopped,
    SweepReport,
    Worker,
    WorkerLost,
    WorkersFailed,
    kill_all,
    measure_overhead,
    run_cases,
)
from a2bench.run.stops import CasePass, killed_at, stopped_on
from a2bench.run.store import (
    FINISHED,
    ResultsWriter,
    ending,
    holds_sweep,
    last_session,
    load_environment,
    load_passes,
    merge_passes,
    resume_problem,
)
from a2bench.run.summary import (
    model_warnings,
    no_window_line,
    one_size_warning,
    uncounted_warnings,
)
from a2bench.run.threads import allowed_cpus, run_threads
from a2bench.run.worker import Settings
from a2bench.suite import Suite

NOISY_IQR_RATIO = 0.10  # a case whose IQR is above this share of its median is noisy
BUSY_PERCENT = 20  # other load before the sweep that is worth a warning
# Read by glibc when the spawned worker starts; the mmap threshold alone is not enough (freed
# memory at the heap top would still go back to the OS and fault in again).
MALLOC_REUSE_ENV = {"MALLOC_MMAP_THRESHOLD_": str(REUSED_MMAP_THRESHOLD),
                    "MALLOC_TRIM_THRESHOLD_": str(REUSED_MMAP_THRESHOLD)}


# What a write raises where the folder has no room left: a full disk, a quota, a read-only mount
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
# A file of the run's own it may not write (read-only, immutable, another user's; a folder in
# its place): one line as for a full disk, where a resume had ended in a PermissionError
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EISDIR)


class SweepError(Exception):
    """The sweep could not start measuring (its worker did not start); the message says why."""


WORKER_FAILED = "could not start a measuring worker"


def default_budget(device: str, env: dict[str, Any]) -> int:
    """The memory a case's analytic peak may take before it is skipped: 80 % of the GPU's free
    memory, or half the available RAM (the rest is the harness's and the OS's)."""
    if device == "cuda" and env.get("gpu_free_bytes"):
        return int(0.8 * env["gpu_free_bytes"])
    return int(0.5 * psutil.virtual_memory().available)


def noise_warnings(records: Sequence[Measurement], env: dict[str, Any]) -> list[str]:
    out = []
    ok = [m for m in records if m.status == "ok" and m.latency_s]
    noisy = [m for m in ok if (m.latency_iqr_s or 0) > NOISY_IQR_RATIO * m.latency_s]
    if ok and len(noisy) >= max(2, 0.2 * len(ok)):
        out.append(f"noisy run: IQR above {NOISY_IQR_RATIO:.0%} of the median on "
                   f"{len(noisy)} of {len(ok)} cases; close other programs or raise --time-budget")
    busy = env.get("cpu_busy_percent")
    if busy is not None and busy > BUSY_PERCENT:
        out.append(f"other load present: the CPU was {busy:.0f}% busy before the sweep started")
    return out


def overhead_left(overhead: dict[str, Any] | None) -> bool:
    """Whether a resume times the per-call overhead: none stored, or an entry lost (a worker
    killed while timing it), which had stayed lost for good and moved its block's window."""
    return overhead is None or bool(overhead.get("error") or any(
        "error" in e for e in overhead.get("cases") or []))


class Sweep:
    """One sweep: `Sweep(suite, cases, options).run()` measures the cases into options.out."""

    def __init__(self, suite: Suite, cases: Sequence[Case], options: RunOptions,
                 listener: SweepListener | None = None, caller: str = "cli"):
        self.flags = options.flags()  # as given, before the defaults below resolve
        self.caller = caller  # "python": a2bench.sweep, whose resume line is a call
        self._writer: ResultsWriter | None = None  # once the sweep has a folder to write
        # the case pass the session before was stopped on by a kill from outside (run.stops)
        self.killed_before: CasePass | None = None
        if options.malloc_reuse is None:  # auto sizes reach past the mmap threshold (options)
            options = options.replace(malloc_reuse=suite.auto and suite.device == "cpu")
        self.suite, self.cases, self.options = suite, list(cases), options
        self.listener = listener or SweepListener()
        self.threads, self.threads_source = run_threads(suite, options.threads)
        self.settings = Settings(threads=self.threads, ci_target=options.ci_target,
                                 time_budget_s=options.time_budget,
                                 warm_cache=options.warm_cache, counters=options.counters,
                                 # an auto run's budget goes to timing (Settings)
                                 memory_every_pass=not suite.auto,
                                 # the suite's own: another block of this process's that a
                                 # worker cannot load had stopped every sweep
                                 extra_blocks=for_worker(suite.blocks))

    @contextlib.contextmanager
    def _allocator(self) -> Iterator[None]:
        """glibc's settings for this sweep's workers (--malloc-reuse), put back after it, so a
        later sweep in this process (the Python API, the tests) starts from the defaults."""
        saved = {k: os.environ.get(k) for k in MALLOC_REUSE_ENV}
        if self.options.malloc_reuse:
            os.environ.update(MALLOC_REUSE_ENV)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def run(self) -> SweepResult:
        try:  # the lock's own file too: a full disk there had been a traceback
            with holding(self.options.out, "a2bench run"), self._allocator():
                return self._run()
        except KeyboardInterrupt as e:  # one _run did not stop at, or a second while it stopped:
            if isinstance(e, Stopped):  # a worker stopped from outside (calibration, overhead)
                self.listener.note(str(e))
            why = str(e) if isinstance(e, Stopped) else ""
            with held():            # its workers go, and a sweep with a folder records the stop
                kill_all()
                if self._writer is None:  # a resume stopped as it starts keeps what it holds
                    return SweepResult(out=self.options.out, interrupted=True,
                                       saved=self.options.stored(), stopped=why)
            return self._stopped(self._writer, why)
        except OSError as e:
            if e.errno not in (*NO_ROOM, *NOT_WRITABLE):
                raise
            raise SweepError(self._no_room(e)) from None
        except WorkersFailed as e:
            o = self.options
            raise SweepError(f"{e}; {saved_text(o.stored())} in {o.out}; once the machine "
                             f"starts workers again, resume with: {self._resume_line()}"
                             ) from None

    def _resume_line(self, resume: bool = True) -> str:
        """The line that goes on: a2bench.sweep's call for a sweep started from Python."""
        if self.caller != "python":
            return self.options.resume_command(resume)
        call = python_call(str(self.suite.path), str(self.options.out), self.flags)
        return call if resume else call.replace(", resume=True", "")

    def _no_room(self, e: OSError) -> str:
        """A full disk (or quota, or a folder gone read-only) in one line: where, what is kept
        and how to go on. It had been three chained tracebacks, with no resume line."""
        o = self.options
        saved = self.options.stored()
        then = (f"resume with: {self._resume_line()}" if holds_sweep(o.out)
                else f"run it again with: {self._resume_line(resume=False)}")
        room = "make it writable" if e.errno in NOT_WRITABLE else "make room"
        return (f"{(e.strerror or str(e)).lower()} writing {e.filename or o.out}; "
                f"{saved_text(saved)} in {o.out}, each whole; {room}, then {then}")

    def _run(self) -> SweepResult:
        started = time.perf_counter()
        suite, o = self.suite, self.options
        if problem := slurm_folder_problem(o.out):
            raise InputError(f"--out {o.out}: {problem}")
        self._check_device()
        self._check_traceable()
        self._check_costs()
        self._check_modules()
        # an auto suite's sizes are those its folder stored (AutoSizes.begin), not yet known
        keys = None if suite.auto else [c.key() for c in self.cases]
        if o.resume and (problem := resume_problem(o.out, suite.name, keys, self._timing())):
            raise InputError(f"--out {o.out}: {problem}")
        self._check_threads()
        if o.resume:
            self._check_resumed_threads()
            if keys is not None and (done := self._nothing_left(keys, started)) is not None:
                return done
        # Said first: the calibration and the overhead take seconds before any case starts.
        self.listener.note(f"{suite.name}: measuring this {suite.device}'s GEMM and copy "
                           "ceilings, then the harness's per-call overhead, before the cases")
        if not suite.auto and (one := one_size_warning(self.cases)):
            self.listener.note(f"{suite.name}: {one}")
        # A Ctrl-C (or SIGTERM) from here on stops the sweep in run(), whatever it interrupts
        worker, env = self._start()
        starts = {d: self._calibrate(worker, d) for d in suite.dtypes}
        if not worker.alive():
            worker = None
        stored = load_environment(o.out) if o.resume else {}
        self.killed_before = stopped_on(last_session(stored))  # read before this session's
        seed = self._seed(stored)
        interleaved = self._timing()["timing_schedule"] == "interleaved"
        budget = o.memory_budget or default_budget(suite.device, env)
        overhead: dict[str, Any] | None = stored.get("overhead")
        auto: AutoSizes | None = None
        if suite.auto:
            auto = AutoSizes.begin(self, env, starts, budget, stored, started, worker)
            worker, overhead = auto.prober.worker, auto.overhead or overhead
            self.cases = self.cases + auto.cases
            if not self.cases:  # no window anywhere and no listed case: nothing to time, and
                # a resume would plan (or keep) the same nothing; it had told the user to resume
                if worker is not None:
                    worker.kill()
                # the memory budget what stops it: said as `a2bench plan` says it (exit 2)
                if auto.plan is not None and (problem := memory_plan_problem(
                        auto.plan, auto.machine, o.memory_budget)):
                    raise InputError(problem)
                raise SweepError(no_window_line(suite.path, auto.record))
        writer = ResultsWriter(o.out, resume=o.resume, order=[c.key() for c in self.cases])
        env.update(self._environment(budget, seed, starts))
        if auto is not None:
            env["auto_sizes"] = auto.record
        writer.write_environment(env)
        self._writer = writer  # a stop from here on is recorded in its environment
        # an entry lost before (a worker killed while timing it) is timed again on a resume:
        # it had stayed lost for good, and its block's window moved without it
        failed = overhead is not None and overhead_left(overhead)
        if overhead is None or failed:
            overhead, worker = measure_overhead(self.cases, suite.device, suite.dtype,
                                                self.settings, o.case_timeout, worker)
        if "overhead" not in stored or failed:
            writer.add_to_environment(overhead=overhead)

        wanted = {(c.key(), p) for c in self.cases for p in range(o.processes)}
        writer.update_session(case_passes_planned=len(wanted))  # what "unfinished" falls short of
        reused = len(writer.done_keys() & wanted)
        passes = f" x {o.processes} processes" if o.processes > 1 else ""
        cases = "case" if len(self.cases) == 1 else "cases"
        whose = " (the suite's)" if self.threads_source == "suite" else ""
        self.listener.note(f"{suite.name}: {len(self.cases)} {cases}{passes} ({reused} already "
                           f"stored) on {suite.device}, {self.threads} "
                           f"thread{'s' if self.threads != 1 else ''}{whose}, order seed "
                           f"{seed}, results in {o.out}")
        # an auto run's plan priced its passes (a worker each): the time left before one ends
        planned = None if auto is None else o.processes * auto.worker_start_s + sum(
            g.get("predicted_wall_s") or 0.0 for g in auto.record.get("groups") or [])
        self.listener.begin(len(wanted), reused, o.processes, planned_s=planned)
        try:
            report = run_cases(self.cases, writer, self.settings, budget, o.case_timeout,
                               self.listener.case, worker, processes=o.processes, seed=seed,
                               keep_worker=True, interleave=interleaved,
                               on_stage=self.listener.stage,
                               interleave_by=variant if auto is not None else None,
                               planned_s=auto.planned_s() if auto is not None else None,
                               killed_before=self.killed_before)
            if auto is not None and not report.interrupted:  # its rounds: the same display,
                report = auto.narrow(writer, report, seed, interleaved, budget)  # one end
        finally:
            self.listener.end()
        if report.interrupted:
            if report.stopped:  # its worker was stopped from outside, not the sweep: said why
                self.listener.note(report.stopped)
            return self._stopped(writer, report.stopped, report.killed_at)
        self.listener.note("measuring the GEMM ceiling again: one that moved says the machine "
                           "changed under the sweep")
        ends = self._end_ceilings(report, starts)
        session = ceilings(suite.device, suite.dtypes, self.threads, starts, ends)
        writer.update_session(**session, ended="finished")  # a report tells an unfinished run
        return self._finish(writer, env, session["roofline"], report, started)

    def plan(self) -> Plan:
        """`a2bench plan`: calibrate on the device and choose the auto sizes, running no case
        and writing nothing."""
        with self._allocator():
            return self._plan()

    def _plan(self) -> Plan:
        from a2bench.measure.cache_probe import planned_caches
        from a2bench.run.autosize import (
            Prober,
            auto_templates,
            machine_of,
            make_plan,
            measured_llc,
        )
        from a2bench.run.plan import DEFAULT_BUDGET_S

        started, o, suite = time.perf_counter(), self.options, self.suite
        self._check_device()
        self._check_traceable()
        self._check_threads()
        self.listener.stage(f"measuring this {suite.device}'s GEMM and copy ceilings, its caches "
                            "and the per-call overhead, then planning each auto block")
        worker, env = self._start()
        try:
            start, _ = self._calibrate(worker, suite.dtype)
            memory = o.memory_budget or default_budget(suite.device, env)
            before = time.perf_counter()
            llc, _ = measured_llc(worker, suite.device, memory, o.case_timeout)
            worker_start_s = max(time.perf_counter() - before, 1.0)  # as AutoSizes.begin's
            machine = machine_of(suite, env, (start or {}).get("gemm_flops_per_s"), memory,
                                 o.time_budget, o.processes, o.malloc_reuse, llc,
                                 self.settings.memory_every_pass, self.threads)
            self.listener.note("caches planned against: "
                               + planned_caches(env.get("caches") or {}, llc, suite.device)[1])
            templates = [t for t, _ in auto_templates(suite)]
            overhead, worker = measure_overhead(templates, suite.device, suite.dtype,
                                                self.settings, o.case_timeout, worker)
            prober = Prober(worker, self.settings, suite.device, suite.dtype, o.case_timeout)
            # A run calibrates again at its end, and starts a worker per pass: counted as a
            # run counts them (AutoSizes.begin), from a calibration as long as the run's.
            fixed = (end_calibration_s(start, before - started)
                     + o.processes * worker_start_s)
            plan = make_plan(suite, machine, overhead, prober,
                             o.budget or DEFAULT_BUDGET_S.get(suite.device, 180.0), started,
                             fixed, self.listener.stage, o.target)
            if problem := memory_plan_problem(plan, machine, o.memory_budget):
                raise InputError(problem)  # not "budget 180 s too small": no time would do
            return plan
        finally:
            if "prober" in locals():
                prober.close()
            if worker is not None:
                worker.kill()

    # ----------------------------------------------------------------------------- the steps

    def _check_device(self) -> None:
        if problem := auto_flags_problem(self.suite.auto, self.options, self.suite.path):
            raise InputError(problem)
        # before calibrating: a plan would find no size and blame the time budget
        if problem := memory_floor_problem(self.suite, self.options.memory_budget, self.threads):
            raise InputError(problem)
        if self.suite.device != "cuda":
            if self.options.warm_cache:  # it would be recorded as if it had changed the timing
                raise InputError("--warm-cache: expected a CUDA run (--device cuda); only CUDA "
                                 "timing flushes the L2 between calls, which it turns off")
            return
        import torch  # already loaded with the blocks; asking starts no CUDA context

        if not torch.cuda.is_available():
            asked = "--device cuda" if self.options.device else "device: cuda"
            raise InputError(f"{self.suite.path}: {asked}: expected a device this machine has; "
                             "torch sees no CUDA device here (run with --device cpu)")

    def _check_traceable(self) -> None:
        """An auto-sized block without a cost model is planned from a trace without storage
        (measure/traced.py): one that cannot be traced is told so before the calibration."""
        from a2bench.catalog import spec
        from a2bench.suite import auto_templates

        templates = auto_templates(self.suite) if self.suite.auto else []
        if any(not spec(t.block).has_cost for t, _ in templates):
            from a2bench.measure.traced import trace
            from a2bench.run.autosize import first_legal

            for t, axis in templates:
                # at a size the block accepts: a template's 1x1 may break its shape_checks
                if not spec(t.block).has_cost and (legal := first_legal(t, axis)) is not None:
                    trace(legal)  # NotTraceable: one line, exit status 2

    def _check_costs(self) -> None:
        """A block's cost() that raises (catalog.CostError) is one line before the calibration,
        not once the cases have begun: the memory guard reads every model. (An auto suite's
        sizes are not known yet; the plan's first cost() says the same line, before the store
        is written.)"""
        from a2bench.catalog import expected_cost, spec

        for case in self.cases:
            if spec(case.block).has_cost:
                expected_cost(case, self.threads)

    def _check_modules(self) -> None:
        """A block's module() that returns no module (a forgotten return) is one line before
        the calibration, for each block's first case, with nothing written: it had stopped
        the sweep at the overhead's timing, leaving an environment.json that refused the fixed
        block's rerun into the same --out ("already holds a sweep; pass --resume")."""
        from a2bench.measure.traced import check_module
        from a2bench.suite import auto_templates

        templates = [t for t, _ in auto_templates(self.suite)] if self.suite.auto else []
        for case in {c.block: c for c in reversed([*self.cases, *templates])}.values():
            check_module(case)

    def _start(self) -> tuple[Worker, dict[str, Any]]:
        try:
            worker = Worker(self.settings)
            env = worker.request("environment", self.suite.device, 60)[1]
        except WorkerLost as e:
            raise SweepError(f"{WORKER_FAILED}: {e.reason}") from None
        if self.options.counters:  # said once here, not in every case's reason
            for name, state in (env.get("optional_counters") or {}).items():
                if state.get("missing"):
                    self.listener.note(f"macs_{name} stays empty: {state['missing']}")
        return worker, env

    def _calibrate(self, worker: Worker, dtype: str,
                   sizes: tuple[int, ...] | None = None) -> Calibration:
        return calibrate(worker, self.suite.device, dtype, self.options.calibration_time,
                         self.options.case_timeout, sizes)

    def _seed(self, stored: dict[str, Any]) -> int:
        if self.options.seed is not None:
            return self.options.seed
        seed = stored.get("order_seed")  # a resumed sweep goes on in the order it began with
        return seed if isinstance(seed, int) else secrets.randbelow(2**31)

    def _check_threads(self) -> None:
        """Threads asked for (--threads, or the suite's) beyond the CPUs this process may run
        on would only queue behind each other."""
        if self.threads_source != "default" and self.threads > (cpus := allowed_cpus()):
            where = (f"--threads {self.threads}" if self.threads_source == "option" else
                     f"{self.suite.path}: threads {self.threads}")
            raise InputError(f"{where}: expected at most the {cpus} CPUs this process may run "
                             "on" + (" (--threads N overrides the suite's)"
                                     if self.threads_source == "suite" else ""))

    def _check_resumed_threads(self) -> None:
        """A CPU sweep resumed at another thread count would mix two in one fit (its latency
        exponent depends on them): a run begun before its suite said `threads:`, say."""
        stored = load_environment(self.options.out).get("threads")
        if (self.suite.device == "cpu" and isinstance(stored, int) and not isinstance(stored, bool)
                and stored != self.threads):
            chosen = {"option": "--threads", "suite": "the suite's threads:",
                      "default": "the default"}[self.threads_source]
            raise InputError(f"--out {self.options.out}: its sweep ran at {stored} thread"
                             f"{'s' if stored != 1 else ''}, this one would run at "
                             f"{self.threads} ({chosen}); expected --threads {stored} to "
                             "resume it, or another --out")

    def _environment(self, budget: int, seed: int,
                     starts: dict[str, Calibration]) -> dict[str, Any]:
        suite, o = self.suite, self.options
        return dict(
            suite=suite.name, suite_path=str(suite.path), memory_budget_bytes=budget,
            # the suite from the run's folder: a resume line printed elsewhere (resume.py)
            suite_from_out=(os.path.relpath(os.path.abspath(suite.path), os.path.abspath(o.out))
                            if Path(suite.path).is_file() else None),
            case_timeout_s=o.case_timeout, order_seed=seed, **self._timing(),
            # how the sweep was started, for the report's resume line (RunOptions.flags)
            run_flags=self.flags, plugins=os.environ.get(PLUGINS_VAR, "").strip() or None,
            started_from=self.caller,
            interleave_chunk_s=INTERLEAVE_CHUNK_S, calibration_time_s=o.calibration_time,
            # chunks at least as long as the window's slowest call (measure/chunks.py)
            interleave_chunks_matched=suite.auto,
            threads_source=self.threads_source,
            dtype=suite.dtype,
            # What analysis and report know of each block: labels and parameters.
            blocks={b: blocks()[b].describe() for b in suite.blocks},
            **ceilings(suite.device, suite.dtypes, self.threads, starts, {}))

    def _timing(self) -> dict[str, Any]:
        return self.options.timing(self.suite.device)

    def _end_ceilings(self, report: SweepReport,
                      starts: dict[str, Calibration]) -> dict[str, Calibration]:
        """Again at the end, in the last pass's worker (or a fresh one where it died): a ceiling
        that moved says the machine changed under the sweep, and the latencies with it."""
        not_started = "the measuring worker did not start"
        try:
            end_worker = report.worker or Worker(self.settings)
        except WorkerLost as e:
            return {d: (None, f"{not_started}: {e.reason}") for d in self.suite.dtypes}
        try:
            return {d: self._calibrate(end_worker, d, end_sizes(starts.get(d, (None, None))))
                    for d in self.suite.dtypes}
        finally:
            end_worker.kill()

    def _finish(self, writer: ResultsWriter, env: dict[str, Any], roofline: dict[str, Any],
                report: SweepReport, started: float) -> SweepResult:
        merged = merge_passes(writer.records)
        warnings = (noise_warnings(merged, env) + drift_warnings(roofline)
                    + model_warnings(merged) + uncounted_warnings(merged))
        if warnings:
            writer.add_to_environment(warnings=warnings)
            for w in warnings:
                self.listener.warning(w)
        order = {c.key(): i for i, c in enumerate(self.cases)}
        records = sorted((m for m in merged if m.case.key() in order),
                         key=lambda m: order[m.case.key()])
        return SweepResult(out=self.options.out, records=tuple(records), ran=report.ran,
                           reused=report.reused, statuses=dict(report.statuses),
                           warnings=tuple(warnings), timed_s=report.timed_s,
                           wall_s=time.perf_counter() - started, saved=len(writer.records))

    def _nothing_left(self, keys: list[tuple[Any, ...]], started: float) -> SweepResult | None:
        """A resume's result where its folder holds every pass of every case, its run recorded
        that it finished and its per-call overhead is whole: nothing is left to run, so no
        worker starts and nothing is calibrated or written (such a resume had calibrated at
        both ends, 5 s of CPU, and filed a session that ran nothing). None where something is
        left: a run with no end recorded records it, calibrating as it ends."""
        o = self.options
        env = load_environment(o.out)
        if ending(env) != FINISHED or overhead_left(env.get("overhead")):
            return None
        records = load_passes(o.out)
        wanted = {(k, p) for k in keys for p in range(o.processes)}
        if not wanted <= {(m.case.key(), m.process) for m in records}:
            return None
        n = len(wanted)
        self.listener.note(f"{self.suite.name}: {n} case pass{'es' if n != 1 else ''}, all "
                           f"already stored in {o.out}, whose run finished: nothing left to "
                           "run, so nothing is calibrated or started")
        order = {k: i for i, k in enumerate(keys)}
        merged = sorted((m for m in merge_passes(records) if m.case.key() in order),
                        key=lambda m: order[m.case.key()])
        return SweepResult(out=o.out, records=tuple(merged), reused=len(wanted),
                           warnings=tuple(env.get("warnings") or ()), saved=len(records),
                           wall_s=time.perf_counter() - started)

    def _stopped(self, writer: ResultsWriter, why: str = "",
                 at: tuple[Case, int] | None = None) -> SweepResult:
        """The stop recorded in this session's environment, with the case pass a kill from
        outside stopped on (`at`): a second such kill of it in the next session stores it as
        oom (run.stops), where each resume had been killed on it again, for ever."""
        with held():
            writer.update_session(ended="interrupted", **killed_at(at))
            return SweepResult(out=self.options.out, interrupted=True,
                               saved=len(writer.records), stopped=why)
