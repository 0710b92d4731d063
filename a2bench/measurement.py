"""What one case produced: an immutable record that serialises to one JSON line. No torch here."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from a2bench.case import Case, case_problem
from a2bench.cost import Cost

STATUSES = ("ok", "skipped", "error", "oom", "timeout")
# Schema 2 (this one) nests a case's block parameters under case.params; schema 1 (records with
# no "schema" key) held m, n and reduction as case fields. Both read back to the same Case.
SCHEMA = 2

# The interface of results.csv: these names and this order come first; others follow.
CSV_COLUMNS = (
    "block", "device", "dtype", "threads", "batch", "channels", "m", "n", "t", "h", "w",
    "reduction", "positions", "macs_analytic", "flops_analytic", "macs_fvcore", "macs_torch",
    "latency_s", "latency_iqr_s", "peak_bytes", "peak_bytes_analytic", "status", "reason",
    "first_call_s", "timed_runs", "processes", "latency_ci_low_s", "latency_ci_high_s",
    "peak_rss_bytes", "elementwise_analytic", "activation_bytes_analytic", "fvcore_skipped",
    "torch_skipped", "reference_s", "timed_s", "wall_s", "finished_at",
    "largest_activation_bytes_analytic", "backend", "macs_fvcore_declared", "macs_torch_declared",
    "mode", "compile", "saved_bytes_analytic", "ran_dtypes", "fallback_ops",
    "macs_thop", "macs_ptflops", "parameters", "parameters_analytic",
    "started_at", "host", "macs_source", "model_mismatch", "peak_allowance_bytes_analytic",
    "compile_max_abs_error", "macs_counted",
)
MACS_SOURCES = ("model", "counted")  # the block's cost(), or the counters (a counted block)


@dataclass(frozen=True)
class Measurement:
    case: Case
    status: str
    reason: str = ""
    threads: int | None = None
    macs_analytic: int | None = None
    flops_analytic: int | None = None
    elementwise_analytic: int | None = None
    peak_bytes_analytic: int | None = None
    activation_bytes_analytic: int | None = None
    largest_activation_bytes_analytic: int | None = None  # absent from records written before
    macs_fvcore: int | None = None
    macs_torch: int | None = None
    fvcore_skipped: str = ""
    torch_skipped: str = ""
    latency_s: float | None = None
    latency_iqr_s: float | None = None
    latency_ci_low_s: float | None = None
    latency_ci_high_s: float | None = None
    first_call_s: float | None = None
    timed_runs: int | None = None
    samples_s: tuple[float, ...] = field(default=())
    peak_bytes: int | None = None
    peak_rss_bytes: int | None = None
    process: int = 0  # which pass over the suite (each pass runs in a fresh worker process)
    processes: int = 1  # how many passes a merged record pools
    reference_s: float | None = None  # median of the reference kernel timed just before the case
    timed_s: float | None = None  # seconds spent inside timed regions, for the harness overhead
    wall_s: float | None = None
    finished_at: str = ""
    backend: str = ""  # the kernel that ran, where the block picks one at run time (SDPA)
    # MACs the block's spec declares each counter reports above the model (below: negative),
    # for a reason it states; 0 where the counter should equal the model.
    macs_fvcore_declared: int | None = None
    macs_torch_declared: int | None = None
    # Train mode: the activation bytes autograd keeps from the forward pass for the backward.
    saved_bytes_analytic: int | None = None
    # The floating dtypes the operators' outputs actually had (space-separated), and the
    # operators whose output was float32 although the case runs in a reduced precision.
    ran_dtypes: str = ""
    fallback_ops: str = ""
    # The optional counters (pip install a2bench[audit]), in MACs; empty where not installed
    # (environment.json's optional_counters says why) or in train mode (forward pass only).
    macs_thop: int | None = None
    macs_ptflops: int | None = None
    # Parameter elements: counted on the built module, and the model's count where it has one.
    parameters: int | None = None
    parameters_analytic: int | None = None
    # When the runner took the case up (ISO 8601, like finished_at; a fresh worker's start falls
    # inside) and on which machine: with finished_at, what shows that no two timed cases of a
    # sharded sweep shared a node.
    started_at: str = ""
    host: str = ""
    # Where the case's MACs come from: "model" (the block's cost(); the *_analytic fields) or
    # "counted" (a block without cost(): FlopCounterMode's count, fvcore's beside it; no
    # analytic field and no memory model). Empty in records written before it existed.
    macs_source: str = ""
    # The model's MACs disagree with every counter that counted the case, beyond the block's
    # declared differences (the reason says by how much); None where not checked (a counted
    # block, a pass that did not count, counters off).
    model_mismatch: bool | None = None
    # How far above peak_bytes_analytic the measured peak may lie, for the device allocator's
    # sake or a kernel the model holds at its least (Cost.peak_allowance_bytes: on the CPU 0
    # but for oneDNN's AMX kernels; None in records written before).
    peak_allowance_bytes_analytic: int | None = None
    # A compiled case: the largest |compiled - eager| over the block's output on the case's
    # input (the first pass; None for an eager case and in later passes).
    compile_max_abs_error: float | None = None
    # a2bench's own count: FlopCounterMode's with its blind spots for fused attention closed
    # (measure.counters: the CPU flash kernel by torch's SDPA formula, the fused inference path
    # of nn.MultiheadAttention counted with it off). A counted block's MACs; beside a model, one
    # more count it is checked against. None where FlopCounterMode did not count, and in records
    # written before it existed.
    macs_counted: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def with_cost(self, cost: Cost, declared: dict[str, int] | None = None) -> Measurement:
        declared = declared or {}
        return replace(
            self,
            macs_fvcore_declared=declared.get("fvcore", 0),
            macs_torch_declared=declared.get("torch", 0),
            macs_analytic=cost.macs,
            flops_analytic=cost.flops,
            elementwise_analytic=cost.elementwise,
            peak_bytes_analytic=cost.peak_bytes,
            peak_allowance_bytes_analytic=cost.peak_allowance_bytes,
            activation_bytes_analytic=cost.activation_bytes,
            largest_activation_bytes_analytic=cost.largest_activation_bytes,
            saved_bytes_analytic=getattr(cost, "saved_bytes", None),
            parameters_analytic=getattr(cost, "parameters", None),
            macs_source="model",
        )

    def checked_against_counters(self) -> Measurement:
        """The record with model_mismatch set, and the reason told, where the model's MACs
        (with the declared differences) disagree with both counters, FlopCounterMode and
        fvcore; unchecked (None) unless both counted the case (fvcore counts no train case).

        One counter off the model may be the counter's blind spot (a fused kernel it has no
        formula for, a backward it counts another way); both against it is the model leaving
        something out (a projection, a product)."""
        if self.status != "ok" or self.macs_analytic is None:
            return self
        counted = {name: (macs, declared or 0) for name, macs, declared in (
            ("FlopCounterMode", self.macs_torch, self.macs_torch_declared),
            ("fvcore", self.macs_fvcore, self.macs_fvcore_declared)) if macs is not None}
        if len(counted) < 2:
            return self
        # a2bench's count closes FlopCounterMode's blind spots for fused attention: a model that
        # holds the attention a fused kernel hides from both counters matches it, undeclared.
        if self.macs_counted is not None and self.macs_counted != self.macs_torch:
            counted["a2bench's count (macs_counted)"] = (self.macs_counted, 0)
        off = {n: macs - (self.macs_analytic + d) for n, (macs, d) in counted.items()
               if macs != self.macs_analytic + d}
        if len(off) < len(counted):
            return replace(self, model_mismatch=False)
        said = ", ".join(f"{n} {macs}" + (f" (declared {d:+d})" if d else "")
                         for n, (macs, d) in counted.items())
        # one part of the "; "-joined reason, which remodel drops whole when it re-checks
        why = (f"model_mismatch: cost() gives {self.macs_analytic} MACs, the counters {said}: "
               "fix the cost model, or declare the difference in counter_difference")
        return replace(self, model_mismatch=True,
                       reason="; ".join(filter(None, (why, self.reason))))

    def to_json(self) -> dict[str, Any]:
        d = {"schema": SCHEMA, **asdict(self)}
        d["case"] = self.case.to_json()
        d["samples_s"] = list(self.samples_s)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Measurement:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["case"] = Case.from_dict(d["case"])
        kw["samples_s"] = tuple(d.get("samples_s") or ())
        return cls(**kw)

    def to_row(self) -> dict[str, Any]:
        """CSV_COLUMNS in order, then the case's other block parameters (see csv_columns)."""
        row = self.case.to_dict()
        row["positions"] = self.case.positions
        for f in fields(self):
            if f.name not in ("case", "samples_s"):
                row[f.name] = getattr(self, f.name)
        extra = [name for name, _ in self.case.params if name not in CSV_COLUMNS]
        return {c: row.get(c) for c in (*CSV_COLUMNS, *extra)}


# What a stored field's annotation lets it hold, and how an error names it.
_KINDS = {"int": "an integer", "float": "a finite number", "str": "a string",
          "bool": "true or false"}


def _is(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):  # JSON's true is not a count
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, str)


def _value_problem(annotation: Any, value: Any) -> str | None:
    """What a field annotated `annotation` (the dataclass's, a string under postponed
    annotations) expects, where `value` is not it; None where it is."""
    kinds = [k.strip() for k in str(annotation).split("|")]
    if value is None and "None" in kinds:
        return None
    kind = kinds[0]
    if kind.startswith("tuple["):  # samples_s: a list of numbers
        if isinstance(value, list) and all(_is("float", v) for v in value):
            return None
        return "a list of finite numbers"
    if kind not in _KINDS or _is(kind, value):
        return None
    if "None" not in kinds:
        return _KINDS[kind]
    return "true, false or null" if kind == "bool" else f"{_KINDS[kind]} or null"


TIMES = ("latency_s", "samples_s", "reference_s", "first_call_s")  # positive when stored


def record_problem(d: Any) -> str | None:
    """What is wrong with one stored line's JSON value, as Measurement.from_json reads it:
    "field: expected ..., got ..." for the first field whose value is not of its type, None
    where every one is. A line edited by hand, or a disk's corruption, is then said where it
    is read (store.read_jsonl), not met as a TypeError deep in an analysis."""
    if not isinstance(d, dict):
        return f"expected a JSON object, got {type(d).__name__}"
    schema = d.get("schema", 1)
    if isinstance(schema, bool) or not isinstance(schema, int) or not 1 <= schema <= SCHEMA:
        # a newer a2bench's fields would be dropped on a rewrite (remodel) and misread here
        return (f"schema: {schema!r} is not a format this a2bench reads (1 to {SCHEMA}): "
                "read it with the a2bench that wrote it")
    # a field without a default: a record missing "status" had read as Measurement's TypeError
    for f in fields(Measurement):
        if f.default is MISSING and f.default_factory is MISSING and f.name not in d:
            return f"no field {f.name!r}"
    if not isinstance(d["case"], dict):
        return f"case: expected an object of the case's fields, got {d.get('case')!r}"
    if why := case_problem(d["case"]):
        return f"case.{why}"
    for f in fields(Measurement):
        if f.name != "case" and f.name in d and (why := _value_problem(f.type, d[f.name])):
            return f"{f.name}: expected {why}, got {d[f.name]!r}"
    # a call takes time: a zero or negative one is damage, which a fit would drop or a ratio
    # print negative without a word
    for name in TIMES:
        values = d.get(name)
        if any(v <= 0 for v in (values if isinstance(values, list) else [values])
               if v is not None):
            return f"{name}: expected positive seconds, got {values!r:.60}"
    return None


def csv_columns(records: Iterable[Measurement]) -> tuple[str, ...]:
    """results.csv's header: the fixed interface, then every other block parameter by name."""
    extra = sorted({name for m in records for name, _ in m.case.params} - set(CSV_COLUMNS))
    return (*CSV_COLUMNS, *extra)
