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
        # plain progress lines (a log): case passes in all, done, and when the last was said
        self._log = False
        self._total = self._done = 0
        self._said_at = 0.0

    def note(self, text: str) -> None:
        print(f"a2bench: {text}", file=sys.stderr)

    def warning(self, text: str) -> None:
        print(f"a2bench: warning: {text}", file=sys.stderr)

    def begin(self, total: int, done: int) -> None:
        if self.progress and not interactive():
            self._log, self._total, self._done = True, total, done
            self._said_at = time.monotonic()
            return
        self._bar = tqdm(total=total, initial=done, unit="case", disable=not self.progress,
                         file=sys.stderr, dynamic_ncols=True)

    def case(self, case: Case, m: Measurement | None) -> None:
        if m is not None and self._bar is not None:
            self._bar.set_postfix_str(f"{case.label()}: {m.status}", refresh=False)
            self._bar.update(1)
        if m is not None and self._log:
            self._done += 1
            if time.monotonic() - self._said_at >= self.LOG_EVERY_S or self._done == self._total:
                self._said_at = time.monotonic()
                self.note(f"{self._done}/{self._total} case passes "
                          f"({self._done / self._total:.0%}); last {case.label()}: {m.status}")

    def stage(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._log = False


def interactive() -> bool:
    """Whether stderr shows a bar as a bar: a terminal, or a notebook (its stream redraws)."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules
