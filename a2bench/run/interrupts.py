"""SIGTERM and SIGHUP to a running sweep, read as Ctrl-C is.

A sweep stops on KeyboardInterrupt between cases: what is stored stays, the environment records
the stop, and the command prints how to resume. A `kill`, a closed terminal or a scheduler's
time limit sends SIGTERM or SIGHUP instead, which ended the process at once with nothing said
(exit -15): the data was kept, but no line said so or how to go on.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@dataclass
class Caught:
    signum: int = 0  # the signal that stopped the sweep, 0 for none (or Ctrl-C)

    def exit_status(self, interrupted: int) -> int:
        """The shell's convention, 128 + the signal; `interrupted` (130) for Ctrl-C."""
        return 128 + self.signum if self.signum else interrupted


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait while a sweep records its stop: a second Ctrl-C there
    had left "0 results saved" said of three and no end recorded. Only the main thread can set
    handlers; elsewhere (a sweep started from a thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, *SIGNALS)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A Ctrl-C within the block comes when it ends, to the handler there was before: for the
    import of numpy and torch, whose C extensions load once per process (one interrupted as it
    loaded had been an ImportError that blamed the install, and had left numpy unloadable in
    that notebook until it restarted: "cannot load module more than once per process")."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        # None: a handler set outside Python, which signal cannot set back; Python's own stands
        signal.signal(signal.SIGINT, signal.default_int_handler if before is None else before)
        if came:
            signal.raise_signal(signal.SIGINT)


@contextlib.contextmanager
def as_interrupts() -> Iterator[Caught]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt in this process (the main
    thread's; a sweep's workers keep their own handlers); the previous handlers come back."""
    caught = Caught()

    def stop(signum: int, frame: FrameType | None) -> None:
        caught.signum = signum
        raise KeyboardInterrupt

    before = {s: signal.signal(s, stop) for s in SIGNALS}
    try:
        yield caught
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
