"""What a sweep tells the person watching it: notes, progress and stages, as events.

A Sweep calls its listener and prints nothing itself, so the same sweep runs quietly inside a
Slurm job, with a progress bar from the CLI, and from a notebook through the Python API.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

from a2bench.case import Case
from a2bench.measurement import Measurement


class SweepListener:
    """Receives a sweep's events; every method does nothing unless a subclass says otherwise."""

    def note(self, text: str) -> None:
        """One line worth telling the user (what runs, a counter that stays empty)."""

    def warning(self, text: str) -> None:
        """One line that questions the results (noise, drift)."""

    def begin(self, total: int, done: int, passes: int = 1, first: int = 0,
              planned_s: float | None = None) -> None:
        """The passes start: `total` (case, pass) pairs over passes `first` to `passes` - 1
        (counted from 0), `done` of them already stored; `planned_s`: the wall time a plan
        gave all `total` (an auto run's). A later begin (an auto run's narrowing round: one
        more pass, `first` = `passes` - 1) adds to the same sweep, before its one end."""

    def case(self, case: Case, m: Measurement | None) -> None:
        """A case finished in one pass (None: its pass was already stored). The runner calls it
        once per case in every pass, in the order the pass ends them."""

    def stage(self, text: str) -> None:
        """What the sweep is doing now, between cases."""

    def end(self) -> None:
        """The passes are over (finished or interrupted), an auto run's rounds with them."""


def clock_text(seconds: float, up: bool = False) -> str:
    """mm:ss as tqdm writes it; `up`: rounded up (a time left under a second is not 00:00)."""
    return tqdm.format_interval(max(math.ceil(seconds) if up else seconds, 0.0))


class ConsoleListener(SweepListener):
    """Notes and warnings on stderr, prefixed `a2bench:`, and progress unless disabled: a tqdm
    bar on a terminal or in a notebook; elsewhere (a log file, CI, a Slurm job's output) one
    line at most every LOG_EVERY_S and one per stage, since a bar's carriage returns make a log
    one long line. Both say the time since the first begin and, where known, the time left.

    The time left is not tqdm's: an interleaved pass prepares and times its cases with the
    count standing still, then ends them all in a burst, and a rate read off the count swung
    from 18 min to 6 s within one run. Once a pass has ended, the time left is the case passes
    left at that wall time per case pass, counted down on the clock. Before, an auto run's plan
    gives the wall time per case pass (the passes it priced, from rates this run measured):
    its interleaved first pass had shown no time left for a third of the run. Else the
    average since the start where the count flows (cases timed one by one); where a stage held
    it (an interleaved pass), not known: the average would follow the burst, and the only
    estimate there, the stage's "about 3 s", is its timed calls alone (its pass took 17 s).

    An auto run's narrowing rounds go on in the same display, and end() comes once, after the
    last: a round that ends every case pass begun so far is not the end (a log had said
    "(100%)" at the end of each round)."""

    LOG_EVERY_S = 30.0

    def __init__(self, progress: bool = True, clock: Callable[[], float] = time.monotonic,
                 stream: TextIO | None = None):
        self.progress, self._clock, self._stream = progress, clock, stream
        self._bar: _Bar | None = None
        self._log = False  # plain progress lines (a log), not a bar
        self._began: float | None = None  # the first begin: later rounds continue its display
        self._total = self._done = self._first_done = self._passes = 0
        self._said_at = 0.0
        self._held = False  # a stage held the count since the first begin: no average
        self._staged = ""  # the last stage said as a note (no display): said once
        self._last = ""  # the last case pass that ran, as the log's last line says it
        # the pass under way: its case calls so far, of how many, its results and its start
        self._calls = self._per_pass = self._ran = 0
        self._pass_t = 0.0
        self._per_case_s: float | None = None  # wall time per case pass of the last pass
        self._mark_t = self._mark_left = 0.0  # when that was measured, and the seconds left

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def note(self, text: str) -> None:
        self._print(f"a2bench: {text}")

    def warning(self, text: str) -> None:
        self._print(f"a2bench: warning: {text}")

    def _print(self, line: str) -> None:
        if self._bar is None:
            print(line, file=self.stream)
            return
        self._bar.clear()  # a note between an auto run's rounds: above the bar, not through it
        print(line, file=self.stream)
        self._bar.refresh()

    def begin(self, total: int, done: int, passes: int = 1, first: int = 0,
              planned_s: float | None = None) -> None:
        now = self._clock()
        if self._began is None:
            self._began, self._first_done = now, done
        self._total, self._done, self._passes = self._total + total, self._done + done, passes
        self._calls, self._ran, self._pass_t = 0, 0, now
        self._per_pass = max(total // max(passes - first, 1), 1)
        if planned_s and self._per_case_s is None:  # until a pass measures its own
            self._per_case_s = planned_s / max(total, 1)
        self._count_down_from(now)
        if not self.progress or self._log:
            return
        if self._bar is not None:  # a narrowing round: the same bar, its total grown
            self._bar.total = self._total
            self._bar.refresh()
            return
        if not interactive(self.stream):
            self._log, self._said_at = True, now
            return
        # drawn once its clock and time left are this listener's (delay: not in tqdm's init)
        bar = _Bar(total=self._total, initial=self._done, unit="case", file=self.stream,
                   dynamic_ncols=True, smoothing=0, delay=1.0,
                   bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
        bar.left_s, bar.delay = self.left_s, 0.0
        # tqdm's own clock, as its tests set it: a later round's elapsed goes on from the first
        bar._time = self._clock
        bar.start_t, bar.last_print_t = self._began, now
        bar.refresh()
        self._bar = bar

    def case(self, case: Case, m: Measurement | None) -> None:
        now = self._clock()
        self._calls += 1
        if m is not None:
            self._done += 1
            self._ran += 1
        if self._calls >= self._per_pass:  # a pass ended: its wall time per case pass run
            if self._ran:
                self._per_case_s = (now - self._pass_t) / self._ran
                self._count_down_from(now)
            self._calls, self._ran, self._pass_t = 0, 0, now
        if m is None:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"{case.label()}: {m.status}", refresh=False)
            self._bar.update(1)
        which = f"pass {m.process + 1}, " if self._passes > 1 or m.process else ""
        if which and m.process < self._passes:
            which = f"pass {m.process + 1} of {self._passes}, "
        self._last = f"{which}last {case.label()}: {m.status}"
        # the last case pass's line is end()'s: a round may follow (an auto run's)
        if self._log and self._done < self._total and now - self._said_at >= self.LOG_EVERY_S:
            self._say(self._last)

    def stage(self, text: str) -> None:
        if not self.progress:
            return
        self._held = self._held or self._began is not None
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
        elif self._log:  # a pass's interleaved timing ends no case for a while: said
            self._say(text)
        elif text != self._staged:  # no display yet (calibration, auto-size probes)
            self._staged = text
            self.note(text)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._log and self._last and self._done >= self._total:  # all ran: the last line
            self._say(self._last)
        self._log = False

    def left_s(self) -> float | None:
        """Seconds left, 0 when all is done, None where not known (nothing ended yet, or the
        pass under way has run longer than the last one took)."""
        left = self._total - self._done
        if left <= 0:
            return 0.0
        now = self._clock()
        if self._per_case_s is not None:
            counted = self._mark_left - (now - self._mark_t)
            return counted if counted > 0 else None
        ran = self._done - self._first_done
        return left * self._elapsed(now) / ran if ran and not self._held else None

    def _elapsed(self, now: float) -> float:
        return 0.0 if self._began is None else now - self._began

    def _count_down_from(self, now: float) -> None:
        if self._per_case_s is not None:
            self._mark_t, self._mark_left = now, (self._total - self._done) * self._per_case_s

    def _say(self, text: str) -> None:
        now = self._clock()
        self._said_at = now
        left = self.left_s()
        self.note(f"{self._done}/{self._total} case passes "
                  f"({self._done / max(self._total, 1):.0%}) in "
                  f"{clock_text(self._elapsed(now))}"
                  + (f", about {clock_text(left, up=True)} left" if left else "") + f"; {text}")


class _Bar(tqdm):
    """A tqdm bar whose time left is its listener's (ConsoleListener.left_s): the rate it is
    given is the one that leaves that much."""

    left_s: Callable[[], float | None] | None = None

    @property
    def format_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = super().format_dict
        if self.left_s is not None and d.get("total"):
            left = self.left_s()
            # 0 (not None) shows '?': tqdm would fall back to the count's average
            left = left and math.ceil(left)  # under a second left is not 00:00, as in a log
            d["rate"] = (d["total"] - d["n"]) / left if left else (0 if left is None else None)
        return d


def interactive(stream: TextIO | None = None) -> bool:
    """Whether `stream` (stderr) shows a bar as a bar: a terminal, or a notebook (its stream
    redraws). A terminal of 0 columns (`script` with no terminal of its own) is none: tqdm
    draws it an empty bar, so the run showed no progress at all."""
    stream = stream or sys.stderr
    if "ipykernel" in sys.modules:
        return True
    if not stream.isatty():
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (OSError, ValueError):  # no size to read: a terminal all the same
        return True
