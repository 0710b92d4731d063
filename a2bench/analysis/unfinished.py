"""How far a run got: a sentence for each run whose sweep did not store every pass it planned,
or did not record its end, with the line that goes on, or the live run writing it. The report
prints it beside the run's verdict, and a2bench.Results.verdict() carries it (an interrupted
run had read "inconclusive" there with no word of the stop).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from a2bench.analysis.load import Run
from a2bench.run.lock import live_writer
from a2bench.run.store import (
    FINISHED,
    INTERRUPTED,
    STOPPED,
    ending,
    resume_line,
    stopped_past_its_plan,
)


def unfinished(runs: Sequence[Run]) -> dict[str, str]:
    """Run label -> a sentence, for each run whose sweep did not reach its end (Run.ended), with
    how to go on: its verdicts read only the cases stored so far."""
    from a2bench.slurm.merge import environment_problem  # as analysis.load reads stored_set

    out = {}
    for r in runs:
        # a run writes it before its first record: a damaged folder (a `{}` had read "no
        # environment.json", and a `{"a": 1}` as a run with no end recorded)
        if problem := environment_problem(r.path, r.environment):
            out[r.label] = (f"{problem}, so whether its sweep finished cannot be told "
                            "(a2bench run writes it before its first record); its verdicts read "
                            "the cases stored")
            continue
        planned = r.planned_passes
        if r.ended == FINISHED and planned is not None and r.passes < planned:
            # a finished sweep stores every pass it planned: a line lost (a crash tore the
            # last one, which reading drops) or removed, which its end does not show
            out[r.label] = (f"finished, but {r.passes} of {planned} case passes are stored (a "
                            "record lost, such as a torn last line, which is dropped when read); "
                            "its verdicts read the ones stored, and --resume runs the missing "
                            "ones")
        # every pass it planned stored, and no end: its CSV may lag, which had gone unsaid
        where = stopped_past_its_plan(r.environment, r.passes)
        if r.ended not in (INTERRUPTED, STOPPED) and not where:
            continue
        env, folder = r.environment, r.path.resolve()
        slurm = env.get("executor") == "slurm"
        folder = folder.parent if slurm else folder  # a partition's folder is under the --out
        # as typed from here: a published report names no one's home folder
        if folder.is_relative_to(Path.cwd().resolve()):
            folder = folder.relative_to(Path.cwd().resolve())
        passes = (f"{r.passes}" + (f" of {planned}" if planned is not None else "")
                  + " case pass" + ("" if r.passes == 1 and planned is None else "es"))
        again = ("; resume it with: " + resume_line(env, folder, slurm)
                 if env.get("suite_path") else "")
        # an auto run's narrowing rounds add passes past those it planned
        stored = (f"all {planned} case passes it planned" + (
            f" and {r.passes - planned} of its narrowing rounds'"
            if "auto_sizes" in env and planned is not None and r.passes > planned else ""))
        if who := live_writer(folder):  # --resume would be refused: it is being written
            out[r.label] = (f"unfinished: {who} is writing {folder} now, {passes} stored so "
                            "far; its verdicts read only those: report again once it ends"
                            if not where else
                            f"unfinished: {who} is writing {folder} now, with {stored} "
                            "stored; report again once it ends")
            continue
        if where:
            from a2bench.slurm.merge import ending_now

            if ending_now(r.path, recorded=True) != FINISHED:  # not ended since it was read
                how = "interrupted" if ending(env) == INTERRUPTED else "no end recorded"
                out[r.label] = (
                    f"unfinished: {how}, though {stored} are stored (it stopped {where}); its "
                    "verdicts read them all, but its results.csv may lag results.jsonl and its "
                    "end-of-sweep checks (the GEMM ceiling measured again, the noise warnings) "
                    "were not made" + again.replace("resume it", "finish it", 1))
            continue
        ended = r.ended if r.ended == INTERRUPTED else ended_now(r)
        if ended == FINISHED:
            out[r.label] = (f"unfinished when read: its sweep finished while it was read, "
                            f"{passes} read; its verdicts read only those: report again to "
                            "read them all")
            continue
        how = ("interrupted" if ended == INTERRUPTED else
               "no end recorded (it stopped before its end, or it is still running)")
        out[r.label] = (f"unfinished: {how} after {passes}; its verdicts read only the cases "
                        f"stored so far{again}")
    return out


def ended_now(r: Run) -> str:
    """How the run's sweep ended, read again from its folder now (slurm.merge.ending_now): the
    environment `r` holds was read before its lock was probed. `r.ended` where the folder
    cannot be read again."""
    from a2bench.slurm.merge import ending_now  # as unfinished() imports merge

    return ending_now(r.path) or r.ended
