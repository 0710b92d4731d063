"""What a sweep shows while it runs (ConsoleListener), driven directly: a fake clock and a
stream, no sweep."""

from __future__ import annotations

import fcntl
import io
import os
import struct
import termios

import pytest

from a2bench.case import Case
from a2bench.measurement import Measurement
from a2bench.run.listener import ConsoleListener, interactive

CASES = [Case("se", "cpu", "float32", 1, 8, 1, h, h, reduction=2) for h in (4, 6, 8)]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Terminal(io.StringIO):
    """A stream tqdm draws a bar on (a terminal whose size cannot be read)."""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no file")


def run_pass(listener: ConsoleListener, clock: Clock, p: int, ends: list[float],
             skipped: int = 0) -> None:
    """A pass as an interleaved one goes: `skipped` cases already stored, then as many as
    `ends` end, in a burst at those times."""
    for case in CASES[:skipped]:
        listener.case(case, None)
    for case, t in zip(CASES[skipped:], ends, strict=False):
        clock.t = t
        listener.case(case, Measurement(case, "ok", process=p))


def test_the_time_left_is_the_last_pass_counted_down_not_the_burst():
    """A pass prepares and times its cases with the count still, then ends them in a burst:
    the time left is taken from the wall time of the pass that ended, counted down, so it
    neither follows the burst nor grows while the count stands still."""
    clock, log = Clock(), io.StringIO()
    listener = ConsoleListener(clock=clock, stream=log)
    listener.begin(total=6, done=0, passes=2)
    clock.t = 5.0
    listener.stage("pass 1 of 2: timing 3 cases interleaved, about 4 s")
    for case, t in zip(CASES, (10.0, 10.1, 10.2), strict=True):
        assert listener.left_s() is None  # the stage held the count: a burst is no rate
        clock.t = t
        listener.case(case, Measurement(case, "ok"))
    # pass 1 took 10.2 s for 3 case passes: 3 more take 10.2 s from 10.2 s
    for t, left in ((10.2, 10.2), (15.0, 5.4), (20.0, 0.4)):
        clock.t = t
        assert listener.left_s() == pytest.approx(left)
    clock.t = 12.0
    listener.stage("pass 2 of 2: timing 3 cases interleaved, about 4 s")
    clock.t = 21.0
    assert listener.left_s() is None  # longer than the last pass: not known, not 0
    run_pass(listener, clock, 1, [21.0, 21.1, 21.2])
    listener.end()
    assert log.getvalue().splitlines() == [
        "a2bench: 0/6 case passes (0%) in 00:05; pass 1 of 2: timing 3 cases interleaved, "
        "about 4 s",
        "a2bench: 3/6 case passes (50%) in 00:12, about 00:09 left; pass 2 of 2: timing 3 cases "
        "interleaved, about 4 s",
        "a2bench: 6/6 case passes (100%) in 00:21; pass 2 of 2, last se b1 c8 r2 8x8: ok"]


def test_before_a_pass_ends_an_auto_runs_plan_gives_the_time_left():
    """An auto run's plan priced its passes: counted down until a pass measures its own (its
    interleaved first pass had shown '?' for a third of the run)."""
    clock, log = Clock(), io.StringIO()
    listener = ConsoleListener(clock=clock, stream=log)
    listener.begin(total=6, done=0, passes=2, planned_s=12.0)
    clock.t = 5.0
    listener.stage("pass 1 of 2: timing 3 cases interleaved, about 4 s")
    assert listener.left_s() == pytest.approx(7.0)
    clock.t = 13.0
    assert listener.left_s() is None  # past what the plan gave: not known, not 0
    run_pass(listener, clock, 0, [14.0, 14.1, 14.2])
    assert listener.left_s() == pytest.approx(14.2)  # the pass's own: 3 more at 14.2 s / 3
    assert log.getvalue().splitlines() == [
        "a2bench: 0/6 case passes (0%) in 00:05, about 00:07 left; pass 1 of 2: timing 3 cases "
        "interleaved, about 4 s"]


def test_before_a_pass_ends_the_time_left_is_the_average_since_the_start():
    clock = Clock()
    listener = ConsoleListener(progress=False, clock=clock)
    listener.begin(total=3, done=0)
    run_pass(listener, clock, 0, [4.0])
    assert listener.left_s() == pytest.approx(8.0)  # 2 left at 4 s each
    clock.t = 6.0
    assert listener.left_s() == pytest.approx(12.0)


def test_the_bar_shows_the_listeners_time_left():
    clock, term = Clock(), Terminal()
    listener = ConsoleListener(clock=clock, stream=term)
    listener.begin(total=6, done=0, passes=2)
    run_pass(listener, clock, 0, [10.0, 10.1, 10.2])
    clock.t = 12.0
    listener.stage("pass 2 of 2: preparing 3 cases to time together")
    frame = term.getvalue().split("\r")[-1]
    assert "3/6 [00:12<00:09, pass 2 of 2: preparing 3 cases to time together]" in frame
    clock.t = 20.0  # 0.4 s left: rounded up, as a log line's, not "00:00" with a pass to go
    listener.stage("pass 2 of 2: timing 3 cases interleaved, about 4 s")
    assert "3/6 [00:20<00:01, pass 2 of 2: timing" in term.getvalue().split("\r")[-1]
    listener.end()


def test_a_narrowing_round_continues_the_display():
    """An auto run's later round adds its case passes to the same count (it had begun a new
    0/6 bar after the 48/48 one, and a log said 100 % once per round); the sweep ends the
    display once, after its last round."""
    clock, log, term = Clock(), io.StringIO(), Terminal()
    for stream in (log, term):
        clock.t = 0.0
        listener = ConsoleListener(clock=clock, stream=stream)
        listener.begin(total=6, done=0, passes=2)
        run_pass(listener, clock, 0, [10.0, 10.1, 10.2])
        run_pass(listener, clock, 1, [20.0, 20.1, 20.2])
        clock.t = 20.5
        listener.note("auto sizes: se inconclusive ±0.150; one more pass of their windows' 2 "
                      "cases")
        clock.t = 21.0
        listener.begin(total=2, done=0, passes=3, first=2)  # one more pass of 2 cases
        for p in range(2):  # of its 2 cases, the passes they ran already: as stored
            run_pass(listener, clock, p, [], skipped=2)
        clock.t = 22.0
        # the last pass took 10 s for 3 case passes, and the round has 2
        assert listener.left_s() == pytest.approx(2 * 10.0 / 3 - 1.0)
        run_pass(listener, clock, 2, [25.0, 25.1])
        listener.end()
    lines = log.getvalue().splitlines()
    assert lines[-1] == (  # "of 3", as the round's stages say it: it had said "pass 3"
        "a2bench: 8/8 case passes (100%) in 00:25; pass 3 of 3, last se b1 c8 r2 6x6: ok")
    assert [line for line in lines if "(100%)" in line] == lines[-1:]  # not the round's 6/6
    frames = term.getvalue().replace("\n", "\r").split("\r")
    assert not any("/2 [" in f for f in frames)
    # one bar, grown (no 6/6 bar left behind as a line); the note between the rounds is a
    # line of its own above it, the bar drawn again below
    assert term.getvalue().count("\n") == 2  # the note's line and the bar's close
    assert any(f.startswith("a2bench: auto sizes: se inconclusive") for f in frames)
    assert any("6/8 [00:21<00:07" in f for f in frames)
    assert "8/8 [00:25<00:00" in [f for f in frames if f.strip()][-1]


def test_a_stage_with_no_display_is_a_note_once():
    """Before the passes (the overhead, an auto run's probes, `a2bench plan`) a stage was said
    nowhere: 16-34 s of silence."""
    log = io.StringIO()
    listener = ConsoleListener(stream=log)
    for text in ("measuring the per-call overhead", "measuring the per-call overhead",
                 "planning se b1 c8 r2 hxw auto"):
        listener.stage(text)
    assert log.getvalue().splitlines() == ["a2bench: measuring the per-call overhead",
                                           "a2bench: planning se b1 c8 r2 hxw auto"]
    quiet = io.StringIO()
    ConsoleListener(progress=False, stream=quiet).stage("measuring the per-call overhead")
    assert quiet.getvalue() == ""


def test_a_terminal_of_no_columns_gets_log_lines():
    """`script -q -c ... </dev/null` gives a terminal 0 columns wide: tqdm drew it an empty
    bar, and the run showed no progress at all."""
    main, side = os.openpty()
    with os.fdopen(side, "w") as stream:
        try:
            fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
            assert not interactive(stream)
            listener = ConsoleListener(stream=stream)
            listener.begin(total=1, done=0)
            assert listener._bar is None
            listener.end()
            fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
            assert interactive(stream)
        finally:
            os.close(main)
