"""The command line's value types: each parses one flag's text or says, in one line, what it
expected (argparse turns the ArgumentTypeError into the CLI's one-line bad-input error)."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any


def parse_size(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in units or \
            float(match.group(1)) * units[match.group(2).upper()] < 1:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: expected a positive number of bytes, at least 1, e.g. 8GiB "
            "or 500MB")
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
    if not (value > 0 and math.isfinite(value)):  # inf would wait forever: a budget, a timeout
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def seconds(limit: float) -> Callable[[str], float]:
    """A positive number of seconds, at most `limit`: --case-timeout 3e6 had been taken, and the
    run died after its start with an OverflowError (a worker's answer is awaited at most
    2**31 ms, about 24.8 days)."""
    about = f"{limit / 86400:.3g} days" if limit >= 86400 else f"{limit / 3600:.2g} hours"

    def parse(text: str) -> float:
        value = positive_float(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"expected at most {limit:,.0f} seconds (about "
                                             f"{about}), got {text!r}")
        return value

    return parse


# The most seconds each option takes: a case, a pass's interleaved timing and a calibration wait
# about these for a worker's answer, and longer than 2**31 ms (24.8 days) had overflowed the
# wait (runner.answered now waits a day at a time); past them a value is a slip (3e6 for 3e3).
MAX_SECONDS = {"case_timeout": 1e6, "time_budget": 1e6, "budget": 1e6, "calibration_time": 1e4}
case_timeout, time_budget, budget, calibration_time = (seconds(MAX_SECONDS[name]) for name in (
    "case_timeout", "time_budget", "budget", "calibration_time"))


def fraction(text: str) -> float:
    """A share of something, above 0 and below 1 (0.02 for 2 %)."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (0.02 for 2 %), "
                                         f"got {text!r}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


class Once(argparse.Action):
    """An option given once: a second --partition had replaced the first unsaid."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option: str | None = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option} given twice; expected it once (a list is "
                         f"{option} {self.metavar})")
        setattr(namespace, self.dest, values)


def partitions(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(","))
    if not all(re.fullmatch(r"[A-Za-z0-9_.-]+", p) for p in names) or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(
            f"invalid partition list {text!r}: expected distinct Slurm partition names separated "
            "by commas, e.g. h100,a100")
    return names


def folder_path(text: str) -> Path:
    """A folder's path; an empty one (a shell variable left unset) is refused: Path("") is the
    current folder, and `--out ""` had written a run's files into it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder's path, got an empty one")
    return Path(text)
