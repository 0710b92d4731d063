"""Timing fidelity: a2bench's median for one block at three sizes against an independent timer.

    python scripts/gpu_timing_check.py OUT.json [--device cuda|cpu] [--sides 64,128,256]

On CUDA the reference is triton.testing.do_bench (CUDA events, its own L2 flush, median of the
repetitions) on the same module and input, in the same process; on CPU (to check this script
without a GPU) it is torch.utils.benchmark's blocked_autorange. Each size passes when the two
medians agree within 5 %. The JSON holds both medians, their ratio and the verdict; the exit
status is 0 when every size passes, 1 when one does not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TOLERANCE = 0.05


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--block", default="double_attention")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--sides", default="64,128,256",
                        help="square map sides, comma-separated (N = side²)")
    args = parser.parse_args(argv)
    try:
        sides = [int(s) for s in args.sides.split(",")]
    except ValueError:
        print(f"--sides: expected comma-separated integers, got {args.sides!r}", file=sys.stderr)
        return 2

    import torch

    from a2bench.blocks import build
    from a2bench.case import Case
    from a2bench.registry import spec
    from a2bench.worker import Settings, time_forward

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no CUDA device here (use --device cpu)", file=sys.stderr)
        return 2
    settings = Settings(threads=torch.get_num_threads(), time_budget_s=1.0)
    rows = []
    for side in sides:
        shape = {"batch": 1, "channels": args.channels, "t": 1, "h": side, "w": side}
        case = Case(args.block, args.device, "float32", *shape.values(),
                    params=spec(args.block).resolve(shape))
        module, x = build(case)

        def forward(module=module, x=x) -> object:
            return module(x)

        with torch.no_grad():
            ours = time_forward(forward, args.device, settings).median_s
            if args.device == "cuda":
                from triton.testing import do_bench

                theirs = do_bench(forward, warmup=50, rep=300, return_mode="median") / 1e3
                reference = "triton.testing.do_bench (median, ms -> s)"
            else:
                from torch.utils.benchmark import Timer

                timer = Timer("forward()", globals={"forward": forward},
                              num_threads=settings.threads)
                theirs = timer.blocked_autorange(min_run_time=1.0).median
                reference = "torch.utils.benchmark.Timer.blocked_autorange (median)"
        ratio = ours / theirs
        rows.append({"case": case.label(), "positions": case.positions, "a2bench_s": ours,
                     "reference_s": theirs, "ratio": ratio,
                     "agree": abs(ratio - 1) <= TOLERANCE})
        print(f"{case.label()}: a2bench {ours * 1e3:.4f} ms, reference {theirs * 1e3:.4f} ms, "
              f"ratio {ratio:.3f} {'ok' if rows[-1]['agree'] else 'OFF'}")
    result = {"device": args.device, "reference": reference, "tolerance": TOLERANCE,
              "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
              "torch": torch.__version__, "rows": rows,
              "all_agree": all(r["agree"] for r in rows)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["all_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
