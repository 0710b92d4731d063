"""Runs a list of Cases in a worker process, guarding memory and time, saving as it goes.

The runner decides what runs: cases already stored are skipped (resume), cases whose analytic peak
exceeds the memory budget are recorded as skipped without running, a worker that dies or hangs is
replaced and its case recorded as error, oom or timeout, and a case that failed in one pass is
recorded, not run, in the later ones (its pooled result is that failure). Measuring happens in
the worker; this process imports torch only through the registry, whose block files hold the
cost models.

A counted block (no cost(); macs_source "counted") has no analytic peak: its trace on the meta
device stands in for the budget where it can be traced, and its analytic fields stay empty. A
modelled block's record is checked against the counters (Measurement.checked_against_counters:
model_mismatch).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from a2bench.case import Case
from a2bench.catalog import cost_of, expected_cost, spec
from a2bench.measure.chunks import INTERLEAVE_CHUNK_S, batch_chunk_s, timed_s
from a2bench.measurement import Measurement
from a2bench.run.oom import killed_for_memory, oom_kills
from a2bench.run.stops import (
    KILLED_FROM_OUTSIDE,
    USERSPACE,
    CasePass,
    KilledFromOutside,
    Stopped,
    killed_twice,
)
from a2bench.run.store import ResultsWriter
from a2bench.run.worker import Settings, interleavable, now, serve

WORKER_START_TIMEOUT_S = 120.0
DOING = {"case": "running the case", "prepare": "preparing the case",
         "interleave": "timing the pass's cases interleaved"}  # for a lost worker's reason


class WorkerLost(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def killed(doing: str, for_memory: bool | None) -> WorkerLost | Stopped:
    """What a worker killed by SIGKILL leaves, by whether the kernel's out-of-memory kill count
    rose meanwhile (run.oom; None: it cannot be read, and the OOM killer is the likely one).

    A kill from anyone else (kill -9, scancel --signal=KILL, a watchdog) says nothing of the case,
    and no stored status would let --resume run it again: the store's done_keys holds every
    stored (case, pass) whatever its status, and any status but ok is the case's failure to
    store.failed() (its later passes copy it) and to passes.merge_passes (its pooled row); a
    status of its own would need each of them, and every reader of statuses, to pass it over.
    So it is a stop, as SIGTERM is: the case gets no record, the sweep stops and says why, and
    --resume runs the case. Going on would leave a hole that a finished run does not show,
    beside a killer that may take the runner next (scancel signals every process of the job).
    A userspace out-of-memory killer kills so too: the same case pass killed so in the session
    before as well is stored as oom by run_cases (run.stops), or --resume would never end."""
    what = f"{KILLED_FROM_OUTSIDE} while {doing}"
    if for_memory is False:
        return KilledFromOutside(f"{what}, not by the kernel's out-of-memory killer (the oom_kill "
                                 "count of its memory cgroup did not rise) but by a user, a "
                                 "scheduler or a watchdog; the sweep stops, and --resume runs "
                                 f"what it left; {USERSPACE}", doing)
    if for_memory:
        return WorkerLost("oom", f"{what} (the kernel's out-of-memory killer: the oom_kill "
                                 "count of its memory cgroup rose)")
    return WorkerLost("oom", f"{what} (most likely the kernel's out-of-memory killer)")


# The longest one poll() for a worker's answer: multiprocessing's takes at most 2**31 - 1 ms
# (about 24.8 days), and past it had raised OverflowError after the run began.
POLL_S = 86400.0


def answered(conn: Connection, timeout: float) -> bool:
    """Whether `conn` has an answer within `timeout` seconds (any, even inf), waited a day at
    a time (POLL_S): a pass's interleaved timing waits twice its timing budget, which a long
    --time-budget over many cases takes past what one poll() takes."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if conn.poll(max(0.0, min(left, POLL_S))):
            return True
        if left <= POLL_S:
            return False


@contextlib.contextmanager
def _child_ignores_sigint() -> Iterator[None]:
    """A process started inside ignores SIGINT from its first instruction (an ignored signal
    stays ignored across exec; a blocked one does not), so a Ctrl-C to the terminal's process
    group while the worker still imports, before serve ignores SIGINT itself, prints no
    traceback of its own. For the milliseconds of the start this thread blocks SIGINT, so a
    Ctrl-C then is held and reaches the runner once its handler is back; where another thread
    (torch's, say) takes it instead, it is ignored, and a second Ctrl-C stops the sweep."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set a handler (and only it gets SIGINT)
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@contextlib.contextmanager
def _main_without_a_file() -> Iterator[None]:
    """A `__main__` whose file is none (`python - < x.py` names it '<stdin>') is started as a
    notebook's is, without its file: spawn had made the worker run that path, which failed
    (FileNotFoundError, its traceback, then "worker died"). The blocks it registered go by
    value (plugins.for_worker), as a notebook's do."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if (main is None or not isinstance(path, str) or getattr(main, "__spec__", None) is not None
            or os.path.isfile(os.path.join(mp.process.ORIGINAL_DIR or "", path))):
        yield  # (spawn's own test: a module run by name, or a file it can run again)
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class Worker:
    """A spawned process (spawn, not fork: CUDA cannot be re-initialised in a forked child)."""

    def __init__(self, settings: Settings):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, settings), daemon=True)
        # the kernel's OOM kill count before the worker starts, and again before each request:
        # whether it rose tells a SIGKILL of the OOM killer from anyone else's (killed())
        self.oom_kills = oom_kills()
        with _child_ignores_sigint(), _main_without_a_file():
            self.process.start()
            LIVE.add(self)  # with SIGINT held: no Ctrl-C between the start and the record
        # LIVE before the wait: a worker stopped as it starts goes with the sweep (kill_all); it
        # had outlived it and died on the closed pipe with a traceback
        try:
            child.close()
            kind, reply = self._receive(WORKER_START_TIMEOUT_S, "starting the worker")
            if kind == "failure":  # the blocks it was sent did not load (worker.serve)
                raise WorkerLost(reply["status"], reply["reason"])
        except BaseException:  # a Ctrl-C in the wait: no caller holds this worker to stop it
            self.kill()  # (a replacement's between passes had printed a BrokenPipeError)
            raise

    def _receive(self, timeout: float, doing: str) -> tuple[str, Any]:
        conn: Connection = self.conn
        if not answered(conn, timeout):
            self.kill()
            raise WorkerLost("timeout", f"no answer after {timeout:g} s while {doing}")
        try:
            return conn.recv()
        except (EOFError, ConnectionError, OSError):
            self.process.join(5)
            code = self.process.exitcode
            if code == -signal.SIGTERM:
                raise Stopped(f"worker terminated by SIGTERM while {doing}") from None
            if code == -signal.SIGKILL:
                raise killed(doing, killed_for_memory(self.oom_kills, oom_kills())) from None
            raise WorkerLost("error", f"worker died (exit code {code}) while {doing}") from None

    def request(self, kind: str, payload: Any, timeout: float) -> tuple[str, Any]:
        self.oom_kills = oom_kills()  # (an earlier OOM kill of another process is no sign)
        self.conn.send((kind, payload))
        return self._receive(timeout, DOING.get(kind, kind))

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


# Every worker this process started and has not dropped: a second Ctrl-C can land while the
# first one's stop joins a worker, and the sweep then stops the ones it left (kill_all)
LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()


def kill_all() -> None:
    """Stop every worker still running (a sweep stopped twice over)."""
    for worker in list(LIVE):
        if worker.process.is_alive():
            worker.kill()


@dataclass
class SweepReport:
    ran: int = 0
    reused: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    timed_s: float = 0.0
    interrupted: bool = False
    stopped: str = ""  # why, where the worker was stopped from outside (Stopped), not the sweep
    killed_at: tuple[Case, int] | None = None  # the case pass a kill from outside stopped on
    worker: Worker | None = None  # the last pass's worker, alive, when asked to keep it


ProgressHook = Callable[[Case, Measurement | None], None]
StageHook = Callable[[str], None]


def predicted_bytes(case: Case, threads: int = 1) -> int | None:
    """What the case needs to run (Cost.runnable_bytes: the analytic peak with the kernels it is
    expected to run at `threads` torch threads, catalog.expected_cost, and on CUDA room for the
    allocator's fragmentation) plus the input. A counted block has no memory model: its trace
    without storage stands in (measure/traced.py: the live peak and its weights), and where
    it cannot be traced, None (it runs unchecked; its worker says what failed)."""
    block = spec(case.block)
    if block.has_cost:
        need: int | None = expected_cost(case, threads).runnable_bytes
    else:
        traced = _TRACED.setdefault(block, {})
        if case.key() not in traced:
            traced[case.key()] = None if EXPIRED in traced else _traced_bytes(case, traced)
        need = traced[case.key()]
    if need is None:
        return None
    return need + case.batch * case.channels * case.positions * case.dtype_bytes


# A counted block's traced bytes, once per case: the runner asks for them when it picks a
# pass's interleaved cases, when it runs each case and when it notes each record. Kept per
# spec object, so a block registered again under its name is traced again.
_TRACED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], int | None]] = \
    weakref.WeakKeyDictionary()


EXPIRED = ("trace expired",)  # in a block's _TRACED: one of its traces ran out of time


def _traced_bytes(case: Case, traced: dict[tuple[Any, ...], int | None]) -> int | None:
    from a2bench.measure.traced import NotTraceable, TraceExpired, trace

    try:
        return trace(case).runnable_bytes
    except TraceExpired:  # its other sizes would wait as long: they run unchecked too, and
        traced[EXPIRED] = None  # --case-timeout ends a step that hangs in the worker
        return None
    except NotTraceable:
        return None


def over_budget(need: int, budget: int) -> str:
    """A skipped case's reason: its predicted peak (predicted_bytes) past the memory budget."""
    return f"predicted peak {need} bytes exceeds the memory budget of {budget} bytes"


# over_budget's words, read back (remodel writes today's figure in)
OVER_BUDGET = re.compile(r"predicted peak (\d+) bytes exceeds the memory budget of (\d+) bytes")


def within_budget(case: Case, budget: int, threads: int = 1) -> bool:
    need = predicted_bytes(case, threads)
    return need is None or need <= budget


COUNTED_NOTE = "no cost model: MACs counted"


def modelled(m: Measurement, process: int, **fields: Any) -> Measurement:
    """The record as stored: the exact model and the block's declared counter differences
    filled in (or macs_source "counted" for a block without one), whatever became of the
    case, checked against the counters, and which pass it was."""
    case = m.case
    block = spec(case.block)
    if not block.has_cost:
        budget = ("the memory budget checked against its trace without storage"
                  if predicted_bytes(case) is not None else
                  "the memory budget not checked (it cannot be traced without storage)")
        note = "; ".join(filter(None, (m.reason, f"{COUNTED_NOTE}, {budget}"))) \
            if m.status == "ok" else m.reason
        return replace(m, macs_source="counted", reason=note, process=process, **fields)
    m = m.with_cost(cost_of(case, m.backend), block.declared(case, m.backend))
    m = m.checked_against_counters()
    return replace(m, process=process, **fields)


def pass_order(cases: Sequence[Case], seed: int | None, process: int) -> list[Case]:
    """The order pass `process` runs the cases in: shuffled from the seed, or as given (None).

    A fixed order puts each case at the same moment of every pass, so a drift of the machine
    (clocks, heat, other load) over the sweep lands on the cases as a trend along the suite,
    which a scaling fit cannot tell from the blocks' own. A shuffle turns it into noise.
    """
    order = list(cases)
    if seed is not None:
        random.Random(seed * 1000003 + process).shuffle(order)
    return order


def overhead_cases(cases: Sequence[Case]) -> list[Case]:
    """Each distinct case at the smallest legal shape, everything else kept.

    That is t = h = w = 1, or the smallest square map the block accepts (a block that pools 2x2
    needs even sides); a block with no legal map up to 8x8 has no overhead entry.
    """
    out = []
    for c in cases:
        for side in range(1, 9):
            small = replace(c, t=1, h=side, w=side)
            if not spec(c.block).problems(small.to_dict()):
                out.append(small)
                break
    return list(dict.fromkeys(out))


def measure_overhead(cases: Sequence[Case], device: str, dtype: str, settings: Settings,
                     timeout: float, worker: Worker | None = None
                     ) -> tuple[dict[str, Any], Worker | None]:
    """The per-call overhead record of environment.json, and the worker left alive (if any).

    One request per entry, so a block that crashes or hangs at this shape costs its own entry
    an "error" and nothing else; a lost worker is replaced for the next entry.
    """
    out: dict[str, Any] = {"empty_module_s": None, "cases": []}
    for case in [None, *overhead_cases(cases)]:
        payload = {"device": device, "dtype": dtype, "case": case.to_dict() if case else None}
        try:
            if worker is None or not worker.alive():
                worker = Worker(settings)
            kind, reply = worker.request("overhead", payload, timeout)
            error = None if kind == "overhead" else reply["reason"]
        except WorkerLost as lost:
            worker, reply, error = None, {}, lost.reason
        if case is None:
            if error:
                out["error"] = f"empty module: {error}"
            else:
                out["empty_module_s"] = reply["median_s"]
        else:
            out["cases"].append({**case.to_dict(),
                                 **({"error": error} if error else reply)})
    return out, worker


def run_cases(cases: Sequence[Case], writer: ResultsWriter, settings: Settings,
              memory_budget: int, case_timeout: float,
              on_case: ProgressHook | None = None, worker: Worker | None = None,
              processes: int = 1, seed: int | None = None,
              keep_worker: bool = False, interleave: bool = False,
              on_stage: StageHook | None = None,
              interleave_by: Callable[[Case], Any] | None = None,
              planned_s: Mapping[tuple[Any, ...], float] | None = None,
              killed_before: CasePass | None = None) -> SweepReport:
    """Runs every (case, pass) not yet in the writer's store; a given worker is used first.

    With several processes the suite is run that many times, each pass in a fresh worker, so
    a case's samples come from several processes and several moments of the run. With a seed
    each pass runs the cases in its own random order (pass_order); without, in the given one.
    With keep_worker, a sweep that was not interrupted hands its last worker back, alive, in
    the report (the CLI calibrates the ceilings again in it instead of starting another).
    With interleave, each pass first times its pending eager CPU cases together in the pass's
    worker (_time_together); each case then runs as usual, with those samples, for its memory
    and counters. What that stage did not time is timed on its own in its turn.
    `interleave_by` splits that stage: the cases of one key are timed together, the keys one
    after another (in the pass's order). `planned_s` (an auto run's predicted call per case
    key) times each such batch in chunks as long as its slowest planned call
    (measure/chunks.py); without it, chunks of INTERLEAVE_CHUNK_S. `killed_before`: the case
    pass the session before was stopped on by a kill from outside (run.stops), stored as oom
    where one kills its worker again.
    """
    report = SweepReport()
    done = writer.done_keys()
    fresh: set[tuple[Any, ...]] = set()  # (case, pass) recorded by this call
    # A case with a failed pass fails when its passes are pooled (passes.merge_passes), whatever
    # the others give, so it is not run again: a broken block costs one pass, not every one.
    # It also keeps checks that only the counting pass makes (the output's shape, a counted
    # block's MACs) from leaving "ok" records beside that pass's error.
    failed = writer.failed()

    def record(case: Case, m: Measurement, process: int, started: str) -> None:
        m = modelled(m, process, started_at=started, host=socket.gethostname())
        writer.append(m)
        if m.status != "ok":
            failed.setdefault(case.key(), m)
        done.add((case.key(), process))
        fresh.add((case.key(), process))
        report.ran += 1
        report.statuses[m.status] = report.statuses.get(m.status, 0) + 1
        report.timed_s += m.timed_s or 0.0
        if on_case:
            on_case(case, m)

    ran_in_pass = False
    try:
        for process in range(processes):
            if ran_in_pass and worker is not None:
                worker.kill()  # a fresh process for every pass
                worker = None
            ran_in_pass = False
            order = pass_order(cases, seed, process)
            together = [c for c in order if (c.key(), process) not in done
                        and c.key() not in failed and interleavable(c)
                        and within_budget(c, memory_budget, settings.threads)] if interleave else []
            batches: dict[Any, list[Case]] = {}
            for c in together:
                batches.setdefault(interleave_by(c) if interleave_by else None, []).append(c)
            for batch in batches.values():
                if len(batch) > 1:
                    chunk = (batch_chunk_s((planned_s.get(c.key(), 0.0) for c in batch),
                                           settings.time_budget_s)
                             if planned_s else INTERLEAVE_CHUNK_S)
                    worker = _time_together(
                        batch, worker, settings, case_timeout, chunk_seed(seed, process),
                        lambda case, m, started, p=process: record(case, m, p, started),
                        pass_stage(on_stage, process, processes), chunk_s=chunk,
                        again=killed_before, process=process)
                    ran_in_pass = True
            for case in order:
                if (case.key(), process) in done:
                    if (case.key(), process) not in fresh:
                        report.reused += 1
                        if on_case:
                            on_case(case, None)
                    continue
                need = predicted_bytes(case, settings.threads)
                started = now()
                if need is not None and need > memory_budget:
                    m = Measurement(case, "skipped", threads=settings.threads, finished_at=now(),
                                    reason=over_budget(need, memory_budget))
                elif case.key() in failed:
                    m = not_run_again(failed[case.key()], settings)
                else:
                    if worker is None or not worker.alive():
                        worker = replacement(settings)
                    # counts are exact: later passes need not count again
                    try:
                        m = _run_one(worker, case, settings, case_timeout, count=process == 0)
                    except KilledFromOutside as e:
                        m = _failed(case, settings, "oom",
                                    killed_twice(e, case, process, killed_before))
                    ran_in_pass = True
                record(case, m, process, started)
    except KeyboardInterrupt as e:
        report.interrupted = True
        report.stopped = str(e) if isinstance(e, Stopped) else ""
        report.killed_at = e.at if isinstance(e, KilledFromOutside) else None
        # and any worker `worker` never held: one stopped as it started, which only the
        # traceback keeps in LIVE (a weak set), so here, while it is handled
        kill_all()
    finally:
        if worker is not None and (report.interrupted or not keep_worker or not worker.alive()):
            worker.kill()
            worker = None
    report.worker = worker
    return report


WORKERS_FAILED = "a new measuring worker did not start, twice"


class WorkersFailed(Exception):
    """No replacement worker starts: the machine, not a case (a2bench.run.sweep says so in
    one line, with what is saved and the line that resumes)."""


def replacement(settings: Settings) -> Worker:
    """A new worker for one that was lost, started at most twice. A worker killed or hung while
    it started had stopped the whole sweep with a traceback; one start that fails is tried
    again, and two stop the sweep (WorkersFailed): blaming the case would fail it for good on
    --resume, and every case after it would wait out two start timeouts."""
    try:
        return Worker(settings)
    except WorkerLost:
        try:
            return Worker(settings)
        except WorkerLost as e:
            raise WorkersFailed(f"{WORKERS_FAILED}: {e.reason}") from None


def not_run_again(earlier: Measurement, settings: Settings) -> Measurement:
    """A later pass's record of a case that already failed: its status, and why it did not run."""
    first_line = earlier.reason.splitlines()[0] if earlier.reason else "no reason given"
    return Measurement(earlier.case, earlier.status, threads=settings.threads, finished_at=now(),
                       reason=f"not run again: pass {earlier.process + 1} gave {earlier.status} "
                              f"({first_line})")


def chunk_seed(seed: int | None, process: int) -> int:
    """The seed of pass `process`'s interleaved chunk order (drawn from the run's seed)."""
    return random.Random((seed or 0) * 1000003 + process).getrandbits(32)


Record = Callable[[Case, Measurement, str], None]


def _time_together(cases: Sequence[Case], worker: Worker | None, settings: Settings,
                   case_timeout: float, seed: int, record: Record,
                   on_stage: StageHook | None,
                   chunk_s: float = INTERLEAVE_CHUNK_S, again: CasePass | None = None,
                   process: int = 0) -> Worker | None:
    """Prepares each case in the worker (build, first call, chunk sizing: under the case
    timeout, and a case that fails there is recorded as it would be on its own), then times the
    prepared ones interleaved. Returns the worker, or None where it was lost: whatever it had
    prepared or timed is then timed case by case in the pass's loop. `again`, `process`: as
    run_cases' killed_before, for a case whose worker is killed from outside as it prepares."""
    if on_stage:
        on_stage(f"preparing {len(cases)} cases to time together")
    expected: list[tuple[float, float | None]] = []  # (seconds, per call) of each prepared
    for case in cases:
        started = now()
        if worker is None or not worker.alive():
            # a lost worker took the cases it had prepared with it
            worker, expected = replacement(settings), []
        try:
            kind, reply = worker.request("prepare", {"case": case.to_dict()}, case_timeout)
        except (WorkerLost, KilledFromOutside) as lost:
            status, reason = (("oom", killed_twice(lost, case, process, again))
                              if isinstance(lost, KilledFromOutside)
                              else (lost.status, lost.reason))
            record(case, _failed(case, settings, status, reason), started)
            worker = None
            continue
        if kind == "prepared":
            expected.append((reply["expected_s"], reply.get("per_call_s")))
        else:
            record(case, _failed(case, settings, reply["status"], reply["reason"]), started)
    seconds = interleaved_s(expected, settings.time_budget_s, chunk_s)
    if worker is None or seconds == 0.0:
        return worker
    if on_stage:
        cases_ = "case" if len(expected) == 1 else "cases"  # some failed as they prepared
        on_stage(f"timing {len(expected)} {cases_} interleaved, about {seconds:.0f} s")
    try:
        worker.request("interleave", {"seed": seed, "chunk_s": chunk_s},
                       2 * seconds + case_timeout)
    except WorkerLost:
        return None
    return worker


def pass_stage(on_stage: StageHook | None, process: int, processes: int) -> StageHook | None:
    """The stage hook of pass `process`: its texts name the pass where there are several (a log
    that reads "timing 34 cases interleaved" twice cannot tell the passes apart)."""
    if on_stage is None or processes == 1:
        return on_stage
    return lambda text: on_stage(f"pass {process + 1} of {processes}: {text}")


def interleaved_s(prepared: Sequence[tuple[float, float | None]], budget_s: float,
                  chunk_s: float = INTERLEAVE_CHUNK_S) -> float:
    """The seconds of calls an interleaved stage times: each prepared case's (seconds, per
    call) as the worker estimated them, its calls cut into chunks of chunk_s where that is not
    the worker's own chunk length (an auto run's window: chunks.batch_chunk_s)."""
    if chunk_s == INTERLEAVE_CHUNK_S or any(c is None for _, c in prepared):
        return sum(s for s, _ in prepared)
    return sum(timed_s(c or 0.0, budget_s, chunk_s) for _, c in prepared)


def _failed(case: Case, settings: Settings, status: str, reason: str) -> Measurement:
    return Measurement(case, status, reason, threads=settings.threads, finished_at=now())


def _run_one(worker: Worker, case: Case, settings: Settings, timeout: float,
             count: bool = True) -> Measurement:
    try:
        kind, payload = worker.request(
            "case", {"case": case.to_dict(), "count": count,
                     "memory": count or settings.memory_every_pass}, timeout)
    except WorkerLost as lost:
        return _failed(case, settings, lost.status, lost.reason)
    if kind == "measurement":
        return Measurement.from_json(payload)
    return _failed(case, settings, payload["status"], payload["reason"])

