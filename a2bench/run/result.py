"""SweepResult: what one sweep did, as Sweep.run returns it and a2bench.Results holds it.

Apart from a2bench.run.sweep, which imports the blocks (and torch), so the Python API can name
it at its top level: typing.get_type_hints(a2bench.Results) had raised NameError, the class
imported only for the type checker, and `import a2bench` stays free of torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from a2bench.measurement import Measurement


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did. `records` are the stored results merged over passes, in suite order."""

    out: Path
    records: tuple[Measurement, ...] = ()
    ran: int = 0
    reused: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    timed_s: float = 0.0  # inside timed regions
    wall_s: float = 0.0  # worker start-up and calibration included
    interrupted: bool = False
    saved: int = 0  # results in the folder when it stopped
    stopped: str = ""  # why, where a worker was stopped from outside (runner.Stopped)

    @property
    def harness_overhead(self) -> float:
        """Wall time over time inside timed regions: what the harness costs around the work."""
        return self.wall_s / self.timed_s if self.timed_s else float("nan")
