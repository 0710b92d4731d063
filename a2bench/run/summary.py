"""The text a finished sweep prints: one row per case, in the suite's order."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from a2bench.formatting import mebibytes, millions, milliseconds
from a2bench.measurement import Measurement


def summary_table(records: Sequence[Measurement]) -> str:
    rows = []
    for m in records:
        c = m.case
        rows.append({
            "block": c.block,
            "shape": f"{c.t}x{c.h}x{c.w}" if c.t > 1 else f"{c.h}x{c.w}",
            "b": c.batch,
            "c": c.channels,
            "params": " ".join(f"{k}={v}" for k, v in c.params),
            # how it ran, where that is not the default forward float32 eager
            "run as": " ".join(x for x in (c.dtype if c.dtype != "float32" else "",
                                           "train" if c.train else "",
                                           "compiled" if c.compile else "") if x),
            "N": c.positions,
            "MMACs": millions(m.macs_analytic),
            "latency ms": milliseconds(m.latency_s) if m.latency_s else "",
            "IQR ms": milliseconds(m.latency_iqr_s),
            "peak MiB": mebibytes(m.peak_bytes),
            "model MiB": mebibytes(m.peak_bytes_analytic),
            "status": m.status,
        })
    if not rows:
        return "(no cases)"
    table = pd.DataFrame(rows)
    if not table["run as"].any():
        table = table.drop(columns=["run as"])
    return table.to_string(index=False)
