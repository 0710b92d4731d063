"""What a sweep tells the person watching it: notes, progress and stages, as events.

A Sweep calls its listener and prints nothing itself, so the same sweep runs quietly inside a
Slurm job, with a progress bar from the CLI, and from a notebook through the Python API.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from a2bench.case import Case
from a2bench.measurement import Measurement


class SweepListener:
    """Receives a sweep's events; every method does nothing unless a subclass says otherwise."""

    def note(self, text: str) -> None:
        """One line worth telling the user (what runs, a counter that stays empty)."""

    def warning(self, text: str) -> None:
        """One line that questions the results (noise, drift)."""

    def begin(self, total: int, done: int) -> None:
        """The passes start: `total` (case, pass) pairs, `done` of them already stored."""

    def case(self, case: Case, m: Measurement | None) -> None:
        """A case finished in one pass (None: it left no result, e.g. timed with others)."""

    def stage(self, text: str) -> None:
        """What the sweep is doing now, between cases."""

    def end(self) -> None:
        """The passes are over (finished or interrupted)."""


class ConsoleListener(SweepListener):
    """Notes and warnings on stderr, prefixed `a2bench:`, and progress unless disabled: a tqdm
    bar on a terminal or in a notebook; elsewhere (a log file, CI, a Slurm job's output) one
    line at most every LOG_EVERY_S, since a bar's carriage returns make a log one long line."""

    LOG_EVERY_S = 30.0

    def __init__(self, progress: bool = True):
        self.progress = progress
        self._bar: tqdm | None = None
        self._lines: list[float] | None = None  # [total, done, last printed] for plain lines

    def note(self, text: str) -> None:
        print(f"a2bench: {text}", file=sys.stderr)

    def warning(self, text: str) -> None:
        print(f"a2bench: warning: {text}", file=sys.stderr)

    def begin(self, total: int, done: int) -> None:
        if self.progress and not _interactive():
            self._lines = [total, done, time.monotonic()]
            return
        self._bar = tqdm(total=total, initial=done, unit="case", disable=not self.progress,
                         file=sys.stderr, dynamic_ncols=True)

    def case(self, case: Case, m: Measurement | None) -> None:
        if m is not None and self._bar is not None:
            self._bar.set_postfix_str(f"{case.label()}: {m.status}", refresh=False)
            self._bar.update(1)
        if m is not None and self._lines is not None:
            total, done, last = self._lines
            self._lines[1] = done = done + 1
            if time.monotonic() - last >= self.LOG_EVERY_S or done == total:
                self._lines[2] = time.monotonic()
                self.note(f"{done:.0f}/{total:.0f} case passes ({done / total:.0%}); last "
                          f"{case.label()}: {m.status}")

    def stage(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._lines = None


def _interactive() -> bool:
    """Whether stderr shows a bar as a bar: a terminal, or a notebook (its stream redraws)."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules
