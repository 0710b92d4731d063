"""What the auto planner would choose for one block of a stored auto run, at other time shares.

    .venv/bin/python scripts/replan.py RUN BLOCK [SHARE_S ...] [NAME=VALUE ...]

RUN is a folder written by an auto-sized `a2bench run` (on any device): its environment.json
keeps what the planner measured there (each block's per-call overhead and rate, the caches,
the memory budget, the GEMM ceiling, the per-case time budget) and its results.jsonl how many
passes ran. The plan is recomputed here from those figures alone (run.plan.plan_group, no
device needed), once per share of the budget, so a GPU call's --budget can be sized before
device time is spent. NAME=VALUE changes the block's template (channels=256, m=128): the
run's overhead and rate are then kept as an estimate, which a new run measures again.

Example (docs/gpu.md): on the H200's train-mode run the non-local order has no plan at
m = n = 64 however long its share, and 6 sizes, N 29584 … 94864, from a 45 s share at
m = n = 128:

    .venv/bin/python scripts/replan.py results/gpu-nvidia-h200-auto-training nonlocal_right \
        30 45 m=128 n=128
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

SHARES = (10.0, 20.0, 30.0, 45.0, 60.0, 90.0)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: scripts/replan.py RUN BLOCK [SHARE_S ...] [NAME=VALUE ...]",
              file=sys.stderr)
        return 2
    run, block = Path(argv[0]), argv[1]
    sets = [a.split("=", 1) for a in argv[2:] if "=" in a]
    try:
        shares = [float(a) for a in argv[2:] if "=" not in a] or list(SHARES)
        changed = {k: int(v) if v.isdigit() else v for k, v in sets}
        env = json.loads((run / "environment.json").read_text())
        groups = [g for g in env["auto_sizes"]["groups"] if g["block"] == block]
    except (OSError, ValueError, KeyError) as e:
        print(f"replan: {run}: not an auto run's folder, or a bad share ({e}); expected the "
              "folder of an auto-sized `a2bench run` and shares in seconds", file=sys.stderr)
        return 2
    if not groups:
        print(f"replan: {run}: no auto group of block {block!r}", file=sys.stderr)
        return 2
    # after the refusals above: the planner loads torch and scipy, whose imports (3 s of CPU)
    # each refusal had paid first
    from a2bench.case import Case
    from a2bench.run import plan as pl
    from a2bench.run.autosize import candidate_points
    from a2bench.run.store import load_passes

    passes = len({m.process for m in load_passes(run)})
    caches = env["auto_sizes"].get("caches_used") or {}
    roof = env.get("roofline") or {}
    machine = pl.Machine(env["roofline"]["device"] if roof else "cpu", caches, None,
                         int(env["memory_budget_bytes"]), roof.get("gemm_flops_per_s"),
                         float(env["time_budget_s"]), passes)
    for g in groups:
        fields = {k: v for k, v in changed.items() if k in g["template"]}
        params = {**g["template"]["params"], **{k: v for k, v in changed.items()
                                                 if k not in g["template"]}}
        template = Case.from_dict({**g["template"], **fields, "params": params})
        axis = tuple(g["axis"].split("x")) if g["axis"] != "hxw" else ("h", "w")
        points = candidate_points(template, axis, machine)
        print(f"{template.label()}: overhead {g['overhead_s'] * 1e3:.3g} ms, rate "
              f"{g['rate_flops_per_s']:.3g} FLOP/s, {passes} passes")
        # the stretch where the run's pilot found the rate to hold, and its fastest rate
        # (a changed template has not been probed: no stretch is known for it)
        low, high = (g.get("limits") or (0.0, None)) if not changed else (0.0, None)
        limits = (float(low), math.inf if high is None else float(high))
        for share in shares:
            p = pl.plan_group(template, axis, points, g["overhead_s"], g["rate_flops_per_s"],
                              bool(g.get("rate_measured", True)), machine, share, limits,
                              fast_rate=g.get("fastest_rate_flops_per_s"))
            if not p.feasible:
                print(f"  share {share:g} s: no plan ({p.note})")
                continue
            sizes = [c.positions for c in p.choices]
            print(f"  share {share:g} s: {len(sizes)} sizes, N {sizes[0]} … {sizes[-1]}, "
                  f"predicted {p.predicted_wall_s:.0f} s, ±{p.promised_half_width:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
