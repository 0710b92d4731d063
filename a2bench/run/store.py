"""The results folder: results.jsonl (append-only, fsynced), results.csv, environment.json.

results.jsonl is the source of truth: one JSON object per finished case, written and fsynced as
soon as the case ends. results.csv is derived from it and rewritten atomically. No torch here.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from a2bench.errors import InputError, os_problem
from a2bench.folders import link_problem
from a2bench.measurement import SCHEMA, Measurement, record_problem
from a2bench.run.durable import atomic_write, fsync_folder, write_csv
from a2bench.run.lock import LOCK, held_here, live_writer
from a2bench.run.passes import merge_passes
from a2bench.run.resume import python_call, slurm_flags, typed_suite, without

JSONL = "results.jsonl"
SLURM_SWEEP = ".slurm.json"  # a Slurm sweep's top folder (slurm.layout.SWEEP)
CSV = "results.csv"
ENVIRONMENT = "environment.json"


class StoreError(InputError):
    """A results folder that cannot be used as asked; the message is one line for the user."""


LOCAL = Path("results/local")


def fresh_folder(name: str) -> Path:
    """Where a run or audit with no --out goes: results/local/<name>-<time>, a new folder per
    second (`make run` leaves its folder to this, and `make report` reads the newest)."""
    return LOCAL / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


# How a run's last session ended (environment.json's `ended`, or what its roofline says).
FINISHED, INTERRUPTED, STOPPED = "finished", "interrupted", "stopped"


def last_session(env: dict[str, Any]) -> dict[str, Any]:
    """The environment of a run's last session: its entry in resumed_in, or the run's own."""
    return (env.get("resumed_in") or [env])[-1]


def resume_line(env: dict[str, Any], folder: Path, slurm: bool) -> str:
    """The command that resumes a run: as it was started where the run recorded its flags
    (environment.json's run_flags and plugins), else with a reminder to add them."""
    # the last session's flags: a resume may have changed them (ci_gate.sh adds a pass a session
    # with --processes), and the first session's would resume to its own end
    flags = last_session(env).get("run_flags", env.get("run_flags"))
    suite = typed_suite(env, None if slurm else folder) or "SUITE"
    if env.get("started_from") == "python":
        return python_call(suite, str(folder), list(map(str, flags or [])))
    sweep = slurm_flags(Path(folder) / SLURM_SWEEP) if slurm else None
    if sweep is not None and isinstance(flags, list):  # the job's own, less those it restates
        flags = [*sweep, *without(list(map(str, flags)), [w for w in sweep if w[:2] == "--"])]
    elif slurm or not isinstance(flags, list):  # a Slurm job records its shard's flags only
        return (f"a2bench run {suite} --out {folder}"
                + (" --executor slurm" if slurm else "") + " --resume (and the options it ran "
                "with)")
    words = ["a2bench", "run", suite, "--out", str(folder), "--resume",
             *map(str, flags)]
    plugins = f"A2BENCH_PLUGINS={shlex.quote(env['plugins'])} " if env.get("plugins") else ""
    return plugins + " ".join(shlex.quote(w) for w in words)


def over_sessions(env: dict[str, Any]) -> dict[str, Any]:
    """A resumed run's environment with its ceilings the best over every session's calibrations
    (a resume calibrates again, into its entry in resumed_in), and each session's roofline in
    `roofline_sessions`, first to last. The top level had held the first session's alone: a run
    interrupted before its end calibration read "not measured" and used that one ceiling,
    while the resumed session's start and end, and the drift it warned of, went unread."""
    sessions = [env, *(env.get("resumed_in") or [])]
    if not any(s.get("roofline") for s in sessions[1:]):
        return env

    def best(records: list[dict[str, Any]]) -> dict[str, Any]:
        out = dict(records[0])
        for key in ("gemm_flops_per_s", "bandwidth_bytes_per_s"):
            values = [r[key] for r in records if isinstance(r.get(key), (int, float))]
            if values:
                out[key] = max(values)
        return out

    joined = dict(env)
    rooflines = [s["roofline"] for s in sessions if s.get("roofline")]
    joined["roofline"] = best([r for r in rooflines if r.get("dtype") == rooflines[0].get("dtype")])
    by_dtype = [s.get("rooflines") or {} for s in sessions]
    joined["rooflines"] = {d: best([r[d] for r in by_dtype if r.get(d)])
                           for d in dict.fromkeys(d for r in by_dtype for d in r)}
    joined["roofline_sessions"] = [s.get("roofline") or {} for s in sessions]
    return joined


def node_values(env: Mapping[str, Any], key: str) -> dict[str, Any]:
    """What each node said of `key` (threads, cores, CPU), for a Slurm partition whose nodes
    differ (slurm.merge keeps them in `per_host`); one entry, keyed "", where they agree."""
    nodes = (env.get("per_host") or {}).get(key)
    return dict(nodes) if nodes else {"": env.get(key)}


def ending(env: dict[str, Any]) -> str:
    """How the last session of a run ended: `finished`; `interrupted` (Ctrl-C, or a time
    limit's SIGINT: it stored what it had and stopped); `stopped` (no end recorded: it is still
    running, or its process died, or it was interrupted before runs recorded `ended`); or ""
    for a run older than the end-of-sweep calibration, which cannot tell."""
    last = last_session(env)
    if last.get("ended"):
        return str(last["ended"])
    roof = last.get("roofline") or {}
    if "start" not in roof:
        return ""
    # Every finished sweep calibrates again at its end, or records why it could not.
    return FINISHED if roof.get("end") or roof.get("end_error") else STOPPED


def planned_passes(env: dict[str, Any]) -> int | None:
    """The case passes a run's last session set out to have stored (case_passes_planned)."""
    planned = last_session(env).get("case_passes_planned")
    return planned if isinstance(planned, int) else None


def stored_ending(env: dict[str, Any], stored: int) -> str:
    """ending(), but `finished` for a run that stored every case pass it planned though it
    recorded no end (stopped in its closing calibration; a Slurm set cancelled then): none of
    its cases is missing. What the report and compare both read."""
    how = ending(env)
    planned = planned_passes(env)
    if how in (INTERRUPTED, STOPPED) and planned is not None and stored >= planned:
        return FINISHED
    return how


def stopped_past_its_plan(env: dict[str, Any], stored: int) -> str:
    """Where a run that stored every case pass it planned but recorded no end stopped (its CSV
    may lag; --resume rewrites it), or "". An auto run plans its first round alone."""
    if ending(env) not in (INTERRUPTED, STOPPED) or stored_ending(env, stored) != FINISHED:
        return ""
    return ("in a narrowing round or before its closing calibration" if "auto_sizes" in env
            else "after its last case, before its closing calibration")


def folder_problem(out: Path, run: bool = True) -> str | None:
    """Why `out` cannot be a folder to write into (it is a file, a file stands where one of its
    parents would go, or the nearest folder that exists takes no new folder: no permission, a
    read-only or virtual file system), or None. Asked before anything runs, so a bad out costs
    nothing and makes no folder: the write test makes an empty folder and removes it. A folder,
    or a run's file in it, that it may not read is said so: a resume had calibrated, then
    counted "0 results are saved" of the 4 it could not read. `run=False`: a folder for files
    other than a run's (the audit's), where a run's names that no run wrote are no matter."""
    try:
        if out.is_dir():
            os.listdir(out)
            for name in (JSONL, ENVIRONMENT):  # what a resume reads, then writes
                if (out / name).is_file():
                    open(out / name, "rb").close()  # noqa: SIM115 (opened to be refused)
        return _folder_problem(out, run)
    except (OSError, RuntimeError) as e:  # RuntimeError: a loop of links, before Python 3.13
        name = getattr(e, "filename", None)
        where = f"{name}: " if name and Path(name) != out else ""
        return where + os_problem(e, "a folder (and run files)", "read and write")


def _folder_problem(out: Path, run: bool = True) -> str | None:
    if problem := link_problem(out):
        return problem
    if out.exists() and not out.is_dir():
        return ("is a file; expected a folder" + (" for the run (new, or one with no other "
                                                  "results)" if run else ""))
    # a user's results.csv or environment.json is no matter where no run writes (run=False)
    if run and out.is_dir() and (foreign := foreign_results(out)):
        return (f"holds {' and '.join(foreign)}, which no a2bench run wrote there; expected a "
                "new or empty folder, or a run's own")
    if run and (out / JSONL).is_file() and (damage := environment_damage(out / ENVIRONMENT)):
        # beside a run's results it is that run's, damaged: "which no a2bench run wrote" had
        # sent the user away from their results; `{}` stays refused, since a resume would file
        # its session under an empty first one (no suite, seed or calibration)
        return (f"its {ENVIRONMENT}, beside the results.jsonl of the run that wrote it, is "
                f"damaged ({damage}); expected the file as a2bench run wrote it: restore it "
                "from a copy (it holds the sweep's suite, seed and calibration, which "
                "results.jsonl does not), or choose another folder")
    where = next((p for p in (out, *out.parents) if p.exists()), None)
    if where is None:
        return None
    if not where.is_dir():
        return f"{where} is a file; expected a folder there"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".a2bench-write-test-", dir=where))
    except OSError as e:
        return f"cannot be made in {where} ({e.strerror}); expected a folder that can be written"
    return None


# What a resumed sweep must share with the one it continues, or one results set would hold cases
# timed two ways: environment.json's key, and how each value reads as the flags that set it.
RESUMED_SETTINGS: dict[str, Any] = {
    "time_budget_s": lambda v: f"--time-budget {v:g}",
    "ci_target": lambda v: f"--ci-target {v:g}",  # read by per-case timing only (see below)
    "warm_cache": lambda v: "--warm-cache" if v else "no --warm-cache",
    "timing_schedule": lambda v: "--no-interleave" if v == "per case" else "--interleave",
    "malloc_reuse": lambda v: "--malloc-reuse" if v else "--no-malloc-reuse",
}


def resume_problem(out: Path, suite: str, cases: Iterable[tuple[Any, ...]] | None = None,
                   settings: Mapping[str, Any] | None = None) -> str | None:
    """Why the sweep stored in `out` cannot go on as a sweep of `suite`, or None: the folder
    records another suite, other settings (RESUMED_SETTINGS), results of cases the suite no
    longer has (`cases`: the keys of every case it now has; its file was edited, or --dtype
    differs), or a line that is not a result. Each would mix two sweeps in one results set.
    Asked before the calibration, so a wrong --out costs nothing; a folder that holds nothing
    yet has nothing to disagree with."""
    try:
        env = load_environment(out)
    except StoreError as e:  # a key of the wrong type (folder_problem refused the rest): its
        return str(e)        # line names the key, where "not the JSON object" had named none
    recorded = env.get("suite")
    if recorded and recorded != suite:
        return (f"holds a sweep of suite {recorded!r}, not {suite!r}; expected the suite it "
                "began with to resume it, or another --out for this one")
    now = settings or {}
    for key, flags in RESUMED_SETTINGS.items():
        if key == "ci_target" and env.get("timing_schedule") != "per case":
            continue  # interleaved timing spends --time-budget and never reads it
        if key in env and key in now and env[key] != now[key]:
            return (f"its sweep ran with {flags(env[key])}, this one would run with "
                    f"{flags(now[key])}; expected the options it began with to resume it, or "
                    "another --out")
    try:
        records, _ = read_jsonl(out / JSONL)
    except StoreError as e:
        return str(e)
    held = len({(m.case.key(), m.process) for m in records})
    if (listed := csv_passes(out / CSV)) is not None and listed > held:
        # results.csv is written after each record's line: one that counts more has outlived
        # lines lost from results.jsonl, whose rows the resume's rewrite had dropped unsaid
        return (f"its {CSV} counts {listed} case passes but its {JSONL} holds {held}: records "
                f"lost from {JSONL} (an edit, a power loss, a copy cut short), whose rows a "
                f"resume would drop from {CSV}; expected {JSONL} whole: restore it from a copy, "
                f"or, to measure the missing passes again, remove {CSV} (a2bench rewrites it "
                f"from {JSONL}) and resume")
    if cases is not None:
        keys = set(cases)
        if foreign := [m for m in records if m.case.key() not in keys]:
            n_cases = len({m.case.key() for m in foreign})  # records are case passes
            return (f"holds {len(foreign)} case pass{'es' if len(foreign) > 1 else ''} of "
                    f"{n_cases} case{'s' if n_cases > 1 else ''} "
                    f"this suite does not have (the first: {foreign[0].case.label()}); "
                    "expected the suite's file as its sweep began, and the same --device and "
                    "--dtype, to resume it, or another --out")
    return None


def csv_passes(path: Path) -> int | None:
    """The case passes a results.csv counts (each row's `processes`, one where that is empty),
    or None where there is none or it cannot be read as a CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return sum(int(row.get("processes") or 1) for row in csv.DictReader(f))
    except (OSError, ValueError, csv.Error):  # UnicodeDecodeError is a ValueError
        return None


def holds_results(out_dir: Path) -> bool:
    return any((out_dir / name).exists() for name in (JSONL, CSV))


def held_sweep(out: Path, suite: str | None, resume: str = "--resume",
               other: str = "--out") -> str:
    """What a new sweep of `suite` into `out`, which holds one, is told: "pass --resume" only
    where a resume could go on with it. Another suite's had been told to pass --resume, which
    then refused it for its suite; a finished one, to continue what had nothing left."""
    try:
        env = load_environment(out)
    except StoreError:  # a damaged environment.json: a resume names what is wrong with it
        env = {}
    recorded = env.get("suite")
    if recorded and suite and recorded != suite:
        return f"already holds a sweep of suite {recorded!r}, not {suite!r}; choose another {other}"
    if ending(env) == FINISHED:
        return (f"already holds a finished sweep of suite {recorded!r}; choose another {other} "
                f"for a new run ({resume} runs only the cases or passes it lacks)")
    return f"already holds a sweep; pass {resume} to continue it, or choose another {other}"


def holds_sweep(out_dir: Path) -> bool:
    """Whether a run began in `out_dir`: its results, or its environment.json alone (a run
    killed before its first result, whose environment a new run would be filed under)."""
    return holds_results(out_dir) or run_environment(out_dir / ENVIRONMENT)


def run_environment(path: Path) -> bool:
    """Whether `path` is an environment.json a run wrote: an object naming its suite."""
    return path.is_file() and environment_damage(path) is None


def environment_damage(path: Path) -> str | None:
    """What keeps `path` from being an environment.json a run wrote (an object naming its
    suite; `{}` is not one), or None where it is one or there is no file."""
    if not path.exists():
        return None
    try:
        env = json.loads(path.read_bytes())
    except OSError as e:
        return f"not readable: {e.strerror}"
    except json.JSONDecodeError as e:
        return "empty" if not e.doc.strip() else (  # JSON's "... starting at" ends in "at"
            f"not JSON: {e.msg.removesuffix(' at')} at line {e.lineno} column {e.colno}")
    except ValueError:  # bytes that are not UTF-8 text
        return "not UTF-8 text"
    if not isinstance(env, dict):  # as JSON names it: Python's "NoneType" means nothing there
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        return f"{kinds.get(type(env), 'a number')}, not an object"
    return None if "suite" in env else (("an empty object" if not env else "an object")
                                        + " without suite, the key a2bench run writes first")


def foreign_results(out_dir: Path) -> list[str]:
    """The files in `out_dir` with a run's names that no run wrote: a results.csv without the
    results.jsonl it is drawn from, an environment.json that names no suite. A run told to
    --resume there had replaced the user's results.csv, and merged into their JSON."""
    names = []
    if (out_dir / CSV).exists() and not (out_dir / JSONL).exists():
        names.append(CSV)
    if not (out_dir / JSONL).exists() and environment_damage(out_dir / ENVIRONMENT):
        names.append(ENVIRONMENT)  # beside results.jsonl it is a run's: folder_problem
    return names


def read_jsonl(path: Path) -> tuple[list[Measurement], int]:
    """Every complete record, and the byte offset where the complete lines end.

    A line counts once its newline is written; a tail without one is a write cut short by a
    crash, and is dropped (its case runs again on resume).
    """
    try:
        data = path.read_bytes() if path.exists() else b""
    except OSError as e:  # a traceback, and a resume had counted "0 results are saved"
        raise StoreError(f"{path}: {os_problem(e, 'a results file')}") from None
    complete_end = data.rfind(b"\n") + 1
    records: list[Measurement] = []
    lines = data[:complete_end].splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if why := record_problem(d):
                raise ValueError(why)
            records.append(Measurement.from_json(d))
        except (ValueError, KeyError, TypeError) as e:
            # JSON's own "line 1 column 1" beside the file's line read as a second place
            why = (f"no field {e}" if isinstance(e, KeyError)
                   else f"not JSON: {e.msg.removesuffix(' at')} at character {e.pos + 1}"
                   if isinstance(e, json.JSONDecodeError) else str(e))
            if newer := _newer(path, lines):
                raise StoreError(newer) from None
            raise StoreError(f"{path}: line {number} is not a valid result ({why}); "
                             "expected one JSON object per line, as a2bench run writes: repair "
                             "that line, or delete it (its record lost: one case pass) and "
                             "results.csv (rewritten from the records), and a2bench run --resume "
                             "on this folder measures it again") from None
    return records, complete_end


def _newer(path: Path, lines: list[bytes]) -> str | None:
    """What to say of a results file whose every record a newer a2bench wrote (its schema past
    SCHEMA), or None: nothing there is damaged, and "repair that line, or delete it" had been
    said of its first line."""
    schemas = []
    for line in filter(bytes.strip, lines):
        try:
            schemas.append(json.loads(line).get("schema"))
        except (ValueError, AttributeError):  # not JSON, or no object
            return None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > SCHEMA for s in schemas):
        return None
    return (f"{path}: written by a newer a2bench (its {len(schemas)} records are schema "
            f"{max(schemas)}; this one reads schemas 1 to {SCHEMA}); expected a file this a2bench "
            "reads: read it with the a2bench that wrote it, or update this one; nothing in it "
            "is damaged")


def load_passes(out_dir: str | Path, by: str = "a2bench run") -> list[Measurement]:
    """Every stored record, one per case and pass (--processes runs a case in several workers);
    `by`: what writes such a folder, as the caller's user knows it (a2bench.Results names the
    Python API too)."""
    try:
        return _load_passes(Path(out_dir), by)
    except (OSError, RuntimeError) as e:  # a folder it may not read; a name over 255 bytes
        raise StoreError(f"{e.filename or out_dir}: {os_problem(e, 'a results folder')}"
                         ) from None


def _load_passes(out_dir: Path, by: str) -> list[Measurement]:
    if problem := link_problem(out_dir, "a results folder"):
        raise StoreError(f"{out_dir}: {problem}")
    path = out_dir / JSONL
    if not path.is_file() and (Path(out_dir) / SLURM_SWEEP).is_file():
        parts = sorted(p.name for p in Path(out_dir).iterdir()  # shards: read unmerged
                       if p.is_dir() and ((p / JSONL).is_file() or (p / "shards").is_dir()))
        raise StoreError(f"{out_dir}: a Slurm sweep's folder; its results are in each "
                         f"partition's folder, {out_dir}/<partition>"
                         + (f" (here: {', '.join(parts)})" if parts else " (none merged yet)"))
    if not path.is_file() and (who := live_writer(Path(out_dir))):  # calibrating, or on a case:
        # a Slurm driver's folder is said above (its results are in its partitions')
        raise StoreError(f"{out_dir}: {who} is writing this folder now and has stored no "
                         "result yet; expected results to read: try again once a case ends")
    # an empty results.jsonl (a power loss or kill between its creation and its first line)
    # is as a missing one: it had read "no ok results (0 cases, statuses: none)"
    records = read_jsonl(path)[0] if path.is_file() else None
    if not records and run_environment(Path(out_dir) / ENVIRONMENT):
        # a2bench's folder with no results: a run stopped before its first (resume it), or one
        # that recorded its end and lost the file since, which no resume of it had explained
        env = load_environment(out_dir)  # StoreError, one line, where it is damaged
        again = resume_line(env, Path(out_dir), env.get("executor") == "slurm")
        if ending(env) == FINISHED:
            lost = "is missing (removed, or not copied with the folder)" if records is None \
                else "holds no result (emptied: a power loss, or a copy cut short)"
            raise StoreError(f"{out_dir}: the run here recorded that it finished, but its {JSONL} "
                             f"{lost}; restore it, or measure every case again with: {again}")
        raise StoreError(f"{out_dir}: the run here stored no result before it stopped "
                         f"({ending(env) or 'no end recorded'}); resume it with: {again}")
    if records is None and not held_here(out_dir) and (
            left := [n for n in (LOCK, ENVIRONMENT + ".tmp") if (out_dir / n).is_file()]):
        # a run killed in its start-up (kill -9, a power loss) leaves its lock's line: "expected
        # a folder written by a2bench run" had been said of one (run.options.left_by_a_kill)
        raise StoreError(f"{out_dir}: a run here was stopped before it stored anything (it left "
                         f"{' and '.join(left)}, and no {JSONL}); expected results to read: run "
                         "the sweep again into this folder, without --resume")
    if records is None:
        raise StoreError(f"{out_dir}: no {JSONL} here (expected a folder written by {by})")
    return records


def load(out_dir: str | Path) -> list[Measurement]:
    """One measurement per case, passes pooled (for analysis and reports)."""
    return merge_passes(load_passes(out_dir))


# What the readers of environment.json (analysis, report, compare, resume) take each key to be,
# as `a2bench run` writes it: a hand-edited or damaged file is one line, not a traceback deep
# in a report.
_OBJECT, _NUMBER = (dict, "an object"), ((int, float), "a number")
ENVIRONMENT_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    **{k: _OBJECT for k in ("roofline", "rooflines", "rooflines_by_host", "overhead", "blocks",
                            "auto_sizes", "allocator", "reduced_precision", "cuda_flags",
                            "cpu_caches", "caches_getconf", "caches", "optional_counters",
                            "per_host")},
    **{k: _NUMBER for k in ("threads", "interleave_chunk_s", "gpu_memory_bytes",
                            "gpu_free_bytes", "time_budget_s")},
    **{k: (str, "a string") for k in ("suite_path", "timing_schedule", "ended")},
    "warnings": (list, "a list of strings"),
}


def load_environment(out_dir: str | Path) -> dict[str, Any]:
    """A results folder's environment.json ({} where there is none). StoreError, one line,
    where it is not the JSON object `a2bench run` writes (ENVIRONMENT_TYPES)."""
    path = Path(out_dir) / ENVIRONMENT
    if not path.is_file():
        return {}
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:  # not damaged: "restore it from a copy" had sent the user away
        raise StoreError(f"{path}: {os_problem(e, 'an environment.json')}") from None
    except ValueError as e:  # JSONDecodeError: a hand-edited or truncated file
        raise StoreError(f"{path}: not valid JSON ({e}); expected the file as a2bench run "
                         "wrote it: restore it from a copy (it holds the sweep's suite, seed and "
                         "calibration)") from None
    if not isinstance(env, dict):
        raise StoreError(f"{path}: holds a JSON {type(env).__name__}; expected an object, as "
                         "a2bench run writes")
    for key, (kind, what) in ENVIRONMENT_TYPES.items():
        value = env.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)
                                  and kind is not dict):
            raise StoreError(f"{path}: {key} is {value!r:.40}; expected {what}, as a2bench run "
                             "writes it")
    for key, value in (("overhead.cases", (env.get("overhead") or {}).get("cases")),
                       ("resumed_in", env.get("resumed_in"))):  # each session's environment
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(c, dict) for c in value)):
            raise StoreError(f"{path}: {key} is {value!r:.40}; expected a list of objects, as "
                             "a2bench run writes it")
    # what over_sessions reads of each session: its ceilings
    for i, session in enumerate(env.get("resumed_in") or ()):
        rooflines = session.get("rooflines")
        values = [("roofline", session.get("roofline")), ("rooflines", rooflines)]
        if isinstance(rooflines, dict):
            values += [(f"rooflines.{d}", r) for d, r in rooflines.items()]
        for key, value in values:
            if value is not None and not isinstance(value, dict):
                raise StoreError(f"{path}: resumed_in[{i}].{key} is {value!r:.40}; expected an "
                                 "object, as a2bench run writes it")
    return env


class ResultsWriter:
    """Appends finished cases durably; keeps results.csv in step."""

    def __init__(self, out_dir: Path, resume: bool,
                 order: Sequence[tuple[Any, ...]] | None = None):
        """`order`: case keys in the order results.csv lists them (the suite's order).

        Cases run in a shuffled order, so results.jsonl is in running order; the CSV keeps the
        suite's, so two runs of one suite list their rows alike. Keys not in it come last.
        """
        self.dir = out_dir
        self.jsonl = out_dir / JSONL
        self.order = {key: i for i, key in enumerate(order or ())}
        self._session: int | None = None  # where this session's environment is: top or resumed_in
        if holds_results(out_dir) and not resume:
            raise StoreError(f"{out_dir}: already holds results; pass --resume to continue that "
                             "sweep, or choose another --out")
        out_dir.mkdir(parents=True, exist_ok=True)
        self.records, complete_end = read_jsonl(self.jsonl)
        if self.jsonl.exists() and self.jsonl.stat().st_size != complete_end:
            # Drop only the torn fragment; every complete line stays byte for byte.
            with open(self.jsonl, "r+b") as f:
                f.truncate(complete_end)
                os.fsync(f.fileno())
        if self.records:
            # results.csv in step with what is stored: a run killed between a record's fsync
            # and the CSV's replace left it a row short (or a case's pooled row a pass short),
            # and a resume with nothing left to run never rewrote it (its readers read it so)
            self.write_csv()

    def done_keys(self) -> set[tuple[tuple[Any, ...], int]]:
        """(case key, pass) of every stored record."""
        return {(m.case.key(), m.process) for m in self.records}

    def failed(self) -> dict[tuple[Any, ...], Measurement]:
        """Each case with a stored pass that did not end ok: its first such record."""
        out: dict[tuple[Any, ...], Measurement] = {}
        for m in self.records:
            if m.status != "ok":
                out.setdefault(m.case.key(), m)
        return out

    def append(self, m: Measurement) -> None:
        line = json.dumps(m.to_json(), allow_nan=False) + "\n"
        new = not self.jsonl.exists()
        with open(self.jsonl, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if new:  # the file's name in its folder, durable too
            fsync_folder(self.dir)
        self.records.append(m)
        self.write_csv()

    def write_csv(self) -> None:
        merged = merge_passes(self.records)
        last = len(self.order)
        merged.sort(key=lambda m: self.order.get(m.case.key(), last))  # stable: others keep theirs
        write_csv(self.dir / CSV, merged)

    def write_environment(self, env: dict[str, Any]) -> None:
        path = self.dir / ENVIRONMENT
        if path.exists():  # a resumed sweep: keep the first environment, add this one
            first = json.loads(path.read_text())
            first.setdefault("resumed_in", []).append(env)
            self._session = len(first["resumed_in"]) - 1
            env = first
        atomic_write(path, json.dumps(env, indent=2, default=str) + "\n")

    def update_session(self, **fields: Any) -> None:
        """Update this session's environment: the top level, or its entry in resumed_in."""
        path = self.dir / ENVIRONMENT
        env = json.loads(path.read_text()) if path.exists() else {}
        target = env if self._session is None else env["resumed_in"][self._session]
        target.update(fields)
        atomic_write(path, json.dumps(env, indent=2, default=str) + "\n")

    def add_to_environment(self, **fields: Any) -> None:
        path = self.dir / ENVIRONMENT
        env = json.loads(path.read_text()) if path.exists() else {}
        env.update(fields)
        atomic_write(path, json.dumps(env, indent=2, default=str) + "\n")
