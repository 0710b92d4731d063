"""The files beside the report: the CSV tables and summary.json, for scripts and for diffing.

Same names and same columns as a2bench has always written; the numbers are the analysis's,
written with enough digits to read back (6 significant; 15, all a double holds, where counts
must stay exact: ResNet-50's MACs at batch 8 run to 11 digits, a train step's to 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from a2bench import __version__
from a2bench import analysis as an
from a2bench.report.elements import PER_CALL, FigureFile

EXACT = "%.15g"  # counts to the unit (cases.csv had printed a peak of 23855104 B as 2.38551e+07)


# Every table write_tables may write, by name: what a report's --out guards from overwriting
# (report._not_a_report), kept beside the writer so that a new table is named in both at once
TABLES = ("fits.csv", "findings.csv", "crossovers.csv", "pairs.csv", "block_crossovers.csv",
          "complexity.csv", "modes.csv", "compiled.csv", "precision.csv", "trends.csv",
          "context.csv", "cases.csv")


def write_tables(result: an.Analysis, out: Path) -> list[Path]:
    """Write every table of the analysis as CSV into ``out``; returns the paths written."""
    written: list[Path] = []

    def save(table: Any, name: str, float_format: str = "%.6g") -> None:
        table.to_csv(out / name, index=False, float_format=float_format)
        written.append(out / name)

    save(result.fits, "fits.csv")
    save(an.findings_frame(result.findings), "findings.csv")
    save(result.crossovers, "crossovers.csv")
    # the raw samples behind a ratio stay in results.jsonl: the CSV holds the figures
    save(result.pairs.drop(columns=["samples_left", "samples_right"], errors="ignore"),
         "pairs.csv")
    save(result.block_crossovers, "block_crossovers.csv")
    save(result.complexity, "complexity.csv")
    for name, table in (("modes", result.modes), ("compiled", result.compiled),
                        ("precision", result.precision), ("trends", result.trends),
                        ("context", result.context)):
        if len(table):  # MAC and parameter counts stay exact
            save(table, f"{name}.csv", EXACT)
    sizes = an.size_columns(result.data)
    cases = result.data.drop(columns=["samples"]).merge(
        result.roofline[["run", "block", *sizes, "device", "gflops",
                         "fraction_of_peak", "calibration_ok", "intensity", "attainable_gflops",
                         "fraction_of_attainable", "bound"]],
        on=["run", "block", "device", *sizes], how="left")
    save(cases, "cases.csv", EXACT)
    return written
def summary(result: an.Analysis, figures: Sequence[FigureFile]) -> dict[str, Any]:
    """summary.json: the headline, every table as records, each run's environment, the units."""
    return {
        "generated_by": f"a2bench {__version__}",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": [{"label": r.label, "path": str(r.path), "cases": r.rows, "ok": r.ok}
                 for r in result.runs],
        "headline": result.headline,
        "fits": an.records(result.fits),
        "findings": an.records(an.findings_frame(result.findings)),
        "crossovers": an.records(result.crossovers),
        "complexity": an.records(result.complexity),
        "block_crossovers": an.records(result.block_crossovers),
        "roofline": an.records(result.roofline_summary),
        "trends": an.records(result.trends),
        "environment": {r.label: _json_safe(r.environment) for r in result.runs},
        "units": {
            "macs": f"multiply-accumulates {PER_CALL}",
            "latency": f"seconds {PER_CALL} (median of timed runs)",
            "memory": "bytes, peak allocated above the input during one call",
            "exponent": "k in metric = a + b·axis^k, read on the window where the overhead a "
                        "is under 5% and no cache boundary lies inside",
            "overhead": "a, in the metric's unit (seconds for latency)",
            "gflops": "1e9 floating-point operations per second (flops = 2 MACs + elementwise)",
            "intensity": "floating-point operations per byte moved (activations + input)",
            "n_star": "positions N = t*h*w",
        },
        "figures": [f.file for f in figures],
    }


def _json_safe(value: Any) -> Any:
    """An environment.json value with NaN and numpy scalars made plain JSON (analysis.clean)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return an.clean(value)
