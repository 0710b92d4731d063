"""Interleaved timing (a2bench run --interleave): the chunk plan, the shuffled deal, failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from cli_here import cli_here

from a2bench.case import Case
from a2bench.measure import timing
from a2bench.measure.chunks import INTERLEAVE_CHUNK_S, MIN_CHUNKS, batch_chunk_s, chunk_plan
from a2bench.measure.timing import Prepared, time_cpu_interleaved
from a2bench.run import runner
from a2bench.run.worker import Settings

FAST = ("--processes", "1",
        "--threads", "1", "--time-budget", "0.1", "--no-counters", "--no-progress",
        "--calibration-time", "0.01")


class NullWriter:
    """A results writer that stores nothing (the runner's batching alone is under test)."""

    def done_keys(self) -> set:
        return set()

    def failed(self) -> dict:
        return {}

    def append(self, m) -> None:
        pass


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(("per_call", "budget", "plan"), [
    (0.001, 1.0, (50, 20)),  # fast calls: 50 a chunk, 20 chunks of 50 ms
    (0.2, 1.0, (1, 5)),  # one call a chunk
    (0.4, 1.0, (1, MIN_CHUNKS)),  # a call longer than a third of the budget: still 3 moments
    (0.0, 1.0, (1, MIN_CHUNKS)),  # no estimate
])
def test_chunk_plan_spends_about_the_budget(per_call, budget, plan):
    assert chunk_plan(per_call, budget) == plan


def logged(log: list[str], key: str, grad: bool = False, per_call: float = 0.05,
           fail_on: int | None = None) -> Prepared:
    """A forward that logs its key (and whether autograd was on); chunks of one call each."""
    calls = []

    def forward() -> None:
        calls.append(key)
        if fail_on is not None and len(calls) == fail_on:
            raise RuntimeError(f"{key} fails on call {fail_on}")
        log.append(f"{key}{'+' if torch.is_grad_enabled() else '-'}")

    return Prepared(forward, grad, first_call_s=0.123, per_call_s=per_call)


def test_every_case_is_dealt_over_the_whole_stretch_in_a_seeded_order():
    log: list[str] = []
    prepared = {k: logged(log, k) for k in "abc"}
    timings, failed = time_cpu_interleaved(prepared, threads=1, budget_s=0.5, seed=7)
    assert not failed
    # 0.5 s of 50 ms calls: 10 chunks of one call each, every chunk a sample
    assert [log.count(f"{k}-") for k in "abc"] == [10, 10, 10]
    assert all(len(t.samples_s) == 10 and t.first_call_s == 0.123 for t in timings.values())
    assert all(t.timed_s >= sum(t.samples_s) * 0.999 for t in timings.values())
    # interleaved, not one case after another: each case has calls in both halves of the
    # stretch, and the case changes far more often than the 2 times a blocked order would
    for k in "abc":
        assert f"{k}-" in log[:15] and f"{k}-" in log[15:]
    assert sum(x != y for x, y in zip(log, log[1:], strict=False)) > 10
    again: list[str] = []
    time_cpu_interleaved({k: logged(again, k) for k in "abc"}, 1, 0.5, seed=7)
    other: list[str] = []
    time_cpu_interleaved({k: logged(other, k) for k in "abc"}, 1, 0.5, seed=8)
    assert again == log and other != log


def test_matched_chunks_time_every_case_at_the_slowest_call_s_timescale():
    """An auto run's window: every chunk lasts about its slowest planned call, so a fast size
    is sampled at the same timescale as the slowest (measure/chunks.py)."""
    assert batch_chunk_s([0.01, 0.2], 1.0) == 0.2
    assert batch_chunk_s([0.001, 0.01], 1.0) == INTERLEAVE_CHUNK_S  # never shorter
    assert batch_chunk_s([0.01, 2.0], 1.0) == pytest.approx(1 / MIN_CHUNKS)  # nor longer

    def run(chunk_s: float) -> tuple[list[str], dict]:
        log: list[str] = []
        prepared = {"fast": logged(log, "fast", per_call=0.01),
                    "slow": logged(log, "slow", per_call=0.1)}
        timings, _ = time_cpu_interleaved(prepared, 1, 0.5, seed=2, chunk_s=chunk_s)
        return log, timings

    log, timings = run(INTERLEAVE_CHUNK_S)  # 50 ms chunks: 5 fast calls each, 10 chunks
    assert log.count("fast-") == 50 and len(timings["fast"].samples_s) == 10
    log, timings = run(0.1)  # 100 ms chunks: 10 fast calls each, 5 chunks
    assert log.count("fast-") == 50 and len(timings["fast"].samples_s) == 5
    assert log.count("slow-") == 5 and len(timings["slow"].samples_s) == 5
    # a run of 10 fast calls, uninterrupted, is one chunk
    runs = "".join("f" if x == "fast-" else "s" for x in log).replace("s", " ").split()
    assert runs and {len(r) % 10 for r in runs} == {0}


def test_the_runner_expects_matched_chunks_to_take_longer():
    """The interleaved stage's timeout grows with matched chunks: a fast case then spends 3
    chunks as long as the slowest call, not its own share of the budget."""
    prepared = [(1.0, 0.01), (1.2, 0.4)]  # (expected seconds, per call) as the worker replies
    assert runner.interleaved_s(prepared, 1.0) == pytest.approx(2.2)
    # budget 1 s: fast 3 chunks of 40 calls (1.2 s), slow 3 chunks of one call (1.2 s)
    assert runner.interleaved_s(prepared, 1.0, chunk_s=0.4) == pytest.approx(2.4)
    assert runner.interleaved_s([(1.0, None)], 1.0, 0.4) == 1.0  # a worker that did not say


def test_an_auto_sweep_chunks_each_window_at_its_slowest_planned_call(monkeypatch):
    """The chunk length comes from the plan's predictions, per window, not from the worker's
    estimates (one slow second call in a fresh worker had made a window's chunks 10 s)."""
    from a2bench.measurement import Measurement
    from a2bench.run.autosize import variant

    chunks: dict[int, float] = {}

    def together(batch, worker, settings, case_timeout, seed, record, on_stage,
                 chunk_s=INTERLEAVE_CHUNK_S, **_):  # (again, process: run.stops)
        chunks[batch[0].channels] = chunk_s
        for c in batch:
            record(c, Measurement(c, "ok", threads=1, finished_at="now"), "now")
        return worker

    monkeypatch.setattr(runner, "_time_together", together)
    cases = [Case("se", "cpu", "float32", 1, c, 1, h, h, reduction=2)
             for c in (4, 8) for h in (2, 4)]
    planned = {c.key(): 0.01 * c.channels * c.h for c in cases}  # slowest: c 4 0.16 s, c 8 0.32
    runner.run_cases(cases, NullWriter(), Settings(threads=1), 2**30, 5.0, interleave=True,
                     interleave_by=variant, seed=3, planned_s=planned)
    assert chunks == {4: pytest.approx(0.16), 8: pytest.approx(0.32)}
    chunks.clear()
    runner.run_cases(cases, NullWriter(), Settings(threads=1), 2**30, 5.0, interleave=True,
                     interleave_by=variant, seed=3)
    assert chunks == {4: INTERLEAVE_CHUNK_S, 8: INTERLEAVE_CHUNK_S}


def test_each_case_runs_in_its_own_grad_mode():
    log: list[str] = []
    prepared = {"t": logged(log, "t", grad=True), "f": logged(log, "f", grad=False)}
    time_cpu_interleaved(prepared, threads=1, budget_s=0.15, seed=1)
    assert set(log) == {"t+", "f-"}


def test_a_forward_that_raises_is_left_out_and_the_others_go_on():
    log: list[str] = []
    prepared = {"ok": logged(log, "ok"), "bad": logged(log, "bad", fail_on=2)}
    timings, failed = time_cpu_interleaved(prepared, threads=1, budget_s=0.25, seed=3)
    assert list(timings) == ["ok"] and len(timings["ok"].samples_s) == 5
    assert "fails on call 2" in str(failed["bad"])
    assert log.count("bad-") == 1  # dealt no more chunks once it failed


def test_prepare_cpu_times_the_first_call_and_sizes_the_chunks():
    a = torch.randn(128, 128)
    p = timing.prepare_cpu(lambda: a @ a, grad=False, threads=1)
    assert p.first_call_s > 0 and 0 < p.per_call_s < 0.05 and not p.grad


@pytest.mark.slow
def test_an_interleaved_sweep_times_every_pass_and_records_it(tmp_path, write_suite):
    path = write_suite("name: il\nblocks: [double_attention, nonlocal_right]\n"
                       "params: {channels: [8], m: [4], n: [4], h: [4, 8], w: [4, 8]}\n"
                       "zip: [[h, w]]\n")
    out = tmp_path / "out"
    # in this process: test_cli's smoke run is the child that runs an interleaved sweep (the
    # CPU's default) end to end
    result = cli_here("run", str(path), "--out", str(out), "--interleave", *FAST)
    assert result.returncode == 0, result.stderr
    env = json.loads((out / "environment.json").read_text())
    assert env["timing_schedule"] == "interleaved" and env["interleave_chunk_s"] > 0
    got = rows(out)
    assert len(got) == 4 and {r["status"] for r in got} == {"ok"}
    # --time-budget 0.1 in 50 ms chunks: the 3-chunk minimum, in each of the 2 passes
    assert {int(r["timed_runs"]) for r in got} == {MIN_CHUNKS}
    assert all(float(r["latency_s"]) > 0 and float(r["peak_bytes"]) > 0 for r in got)
    # a second pass on resume: only its cases run, interleaved; the stored ones count reused
    more = cli_here("run", str(path), "--out", str(out), *FAST, "--interleave", "--processes",
                    "2", "--resume")
    assert more.returncode == 0, more.stderr
    assert "4 case passes run (4 reused); the 4 cases: ok 4." in more.stdout
    assert {int(r["timed_runs"]) for r in rows(out)} == {2 * MIN_CHUNKS}
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(x["process"] for x in lines) == [0, 0, 0, 0, 1, 1, 1, 1]


class FakeWorker:
    """Answers prepare and interleave as a worker would; "raises" fails, "exits" is lost."""

    started = 0

    def __init__(self, settings):
        FakeWorker.started += 1
        self.requests: list[tuple[str, str]] = []
        self.live = True

    def alive(self) -> bool:
        return self.live

    def kill(self) -> None:
        self.live = False

    def request(self, kind, payload, timeout):
        block = payload["case"]["block"] if "case" in payload else ""
        self.requests.append((kind, block or str(timeout)))
        if block == "exits":
            self.live = False
            raise runner.WorkerLost("error", "worker died (exit code 3) while preparing the case")
        if block == "raises":
            return ("failure", {"status": "error", "reason": "RuntimeError: always fails"})
        if kind == "prepare":
            return ("prepared", {"expected_s": 1.5})
        return ("interleaved", {"timed": 1, "failed": 0})


def test_failures_while_preparing_are_recorded_once_and_the_rest_still_interleaved(monkeypatch):
    monkeypatch.setattr(runner, "Worker", FakeWorker)
    FakeWorker.started = 0
    cases = [Case(b, "cpu", "float32", 1, c, 1, 2, 2, reduction=2)
             for b, c in (("raises", 4), ("se", 4), ("exits", 4), ("se", 8))]
    recorded: list[tuple[str, str, str]] = []
    stages: list[str] = []
    worker = runner._time_together(
        cases, None, Settings(threads=1), case_timeout=5.0, seed=1,
        record=lambda case, m, started: recorded.append((case.block, m.status, m.reason)),
        on_stage=stages.append)
    # what a log says while no case ends: how many are timed (those prepared), for how long
    assert stages == ["preparing 4 cases to time together", "timing 1 case interleaved, about 2 s"]
    # the failure and the lost worker are recorded as they would be on their own
    assert recorded == [("raises", "error", "RuntimeError: always fails"),
                        ("exits", "error", "worker died (exit code 3) while preparing the case")]
    # the first se was prepared in the lost worker; only the last se, prepared in the new one,
    # is timed there, with twice its expected time (plus the case timeout) before giving up
    assert FakeWorker.started == 2 and worker is not None and worker.alive()
    assert worker.requests == [("prepare", "se"), ("interleave", str(2 * 1.5 + 5.0))]


def test_an_auto_sweep_times_each_block_variant_apart_from_the_others(monkeypatch):
    from a2bench.measurement import Measurement
    from a2bench.run.autosize import variant

    batches: list[list[tuple[str, int, int]]] = []

    def together(batch, worker, settings, case_timeout, seed, record, on_stage,
                 chunk_s=INTERLEAVE_CHUNK_S, **_):  # (again, process: run.stops)
        batches.append(sorted((c.block, c.channels, c.h) for c in batch))
        for c in batch:
            record(c, Measurement(c, "ok", threads=1, finished_at="now"), "now")
        return worker

    monkeypatch.setattr(runner, "_time_together", together)
    cases = [Case("se", "cpu", "float32", 1, c, 1, h, h, reduction=2)
             for c in (4, 8) for h in (2, 4)]
    runner.run_cases(cases, NullWriter(), Settings(threads=1), 2**30, 5.0, interleave=True,
                     interleave_by=variant, seed=3)
    assert sorted(batches) == [[("se", 4, 2), ("se", 4, 4)], [("se", 8, 2), ("se", 8, 4)]]
    batches.clear()  # without a key, one stage for the whole pass, as a listed suite runs
    runner.run_cases(cases, NullWriter(), Settings(threads=1), 2**30, 5.0, interleave=True, seed=3)
    assert len(batches) == 1 and len(batches[0]) == 4


def test_each_pass_names_itself_in_its_stages(monkeypatch):
    """A log of several passes said "timing the cases interleaved" once a pass, none of them
    named: the stages of a pass say which it is, of how many."""
    from a2bench.measurement import Measurement

    def together(batch, worker, settings, case_timeout, seed, record, on_stage,
                 chunk_s=INTERLEAVE_CHUNK_S, **_):  # (again, process: run.stops)
        on_stage(f"timing {len(batch)} cases interleaved")
        for c in batch:
            record(c, Measurement(c, "ok", threads=1, finished_at="now"), "now")
        return worker

    monkeypatch.setattr(runner, "_time_together", together)
    cases = [Case("se", "cpu", "float32", 1, 4, 1, h, h, reduction=2) for h in (2, 4)]
    for processes, said in ((2, ["pass 1 of 2: timing 2 cases interleaved",
                                 "pass 2 of 2: timing 2 cases interleaved"]),
                            (1, ["timing 2 cases interleaved"])):
        stages: list[str] = []
        runner.run_cases(cases, NullWriter(), Settings(threads=1), 2**30, 5.0, interleave=True,
                         processes=processes, on_stage=stages.append)
        assert stages == said


def test_a_later_pass_probes_memory_only_where_the_settings_ask(monkeypatch):
    """Settings.memory_every_pass False (an auto run): the first pass probes the peaks, the
    later ones only time; the pooled record keeps the first pass's peaks."""
    from a2bench.measurement import Measurement
    from a2bench.run.store import merge_passes

    asked: list[tuple[int, bool]] = []

    class Answering(FakeWorker):
        def request(self, kind, payload, timeout):
            asked.append((payload["count"], payload["memory"]))
            c = Case.from_dict(payload["case"])
            peak = 1000 if payload["memory"] else None
            m = Measurement(c, "ok", threads=1, finished_at="now", peak_bytes=peak,
                            samples_s=(0.1,), latency_s=0.1)
            return ("measurement", m.to_json())

    class Writer:
        records: list = []

        def done_keys(self) -> set:
            return set()

        def failed(self) -> dict:
            return {}

        def append(self, m) -> None:
            self.records.append(m)

    monkeypatch.setattr(runner, "Worker", Answering)
    case = Case("se", "cpu", "float32", 1, 4, 1, 2, 2, reduction=2)
    for every, want in ((False, [(True, True), (False, False)]),
                        (True, [(True, True), (False, True)])):
        asked.clear()
        writer = Writer()
        writer.records = []
        runner.run_cases([case], writer, Settings(threads=1, memory_every_pass=every), 2**30,
                         5.0, processes=2)
        assert asked == want
        (pooled,) = merge_passes(writer.records)
        assert pooled.peak_bytes == 1000 and pooled.processes == 2


def test_a_case_measured_without_the_memory_probe_has_no_peaks():
    from a2bench.run.worker import measure_case

    case = Case("se", "cpu", "float32", 1, 8, 1, 4, 4, reduction=2)
    settings = Settings(threads=1, time_budget_s=0.02)
    without = measure_case(case, settings, count=False, memory_probe=False)
    assert without.status == "ok" and without.latency_s > 0
    assert without.peak_bytes is None and without.peak_rss_bytes is None
    assert measure_case(case, settings, count=False).peak_bytes > 0


def test_a_worker_keeps_every_batch_timed_interleaved_until_its_case_finishes():
    """An auto run times each variant's batch in turn, then finishes the cases: the second
    batch's timings must not replace the first's (those cases were timed again, alone)."""
    from a2bench.run.worker import State, _handle

    settings = Settings(threads=1, time_budget_s=0.05)
    state = State()
    batches = [[Case("se", "cpu", "float32", 1, c, 1, h, h, reduction=2) for h in (2, 4)]
               for c in (4, 8)]
    for batch in batches:
        for case in batch:
            assert _handle("prepare", {"case": case.to_dict()}, settings, state)[0] == "prepared"
        kind, reply = _handle("interleave", {"seed": 1}, settings, state)
        assert kind == "interleaved" and reply["timed"] == 2
    assert set(state.pretimed) == {c.key() for b in batches for c in b}
    first = batches[0][0]
    kept = state.pretimed[first.key()]
    kind, m = _handle("case", {"case": first.to_dict(), "count": False, "memory": False},
                      settings, state)
    assert kind == "measurement" and tuple(m["samples_s"]) == kept.samples_s
    assert first.key() not in state.pretimed


def test_an_interleaved_case_s_wall_time_holds_its_preparation_and_its_chunks():
    """wall_s is the wall time the worker spent on the case: an interleaved case's build, first
    call and chunks ran before its "case" request, and its wall_s had read under its timed_s."""
    from a2bench.run.worker import State, _handle

    settings = Settings(threads=1, time_budget_s=0.05)
    state = State()
    case = Case("se", "cpu", "float32", 1, 4, 1, 4, 4, reduction=2)
    _handle("prepare", {"case": case.to_dict()}, settings, state)
    prepared_s = state.prepared[case.key()].spent_s
    _handle("interleave", {"seed": 1}, settings, state)
    pretimed = state.pretimed[case.key()]
    assert prepared_s > 0 and pretimed.spent_s >= prepared_s + pretimed.timed_s
    kind, m = _handle("case", {"case": case.to_dict(), "count": False, "memory": False},
                      settings, state)
    assert kind == "measurement" and m["timed_s"] == pretimed.timed_s > 0
    assert m["wall_s"] >= pretimed.spent_s
