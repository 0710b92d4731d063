"""A suite on a Slurm cluster: its cases as job arrays through submitit, merged per partition.

`a2bench run SUITE --out DIR --executor slurm --partition h100,a100` lays DIR out as

    DIR/.slurm.json                      the sweep: suite, partitions, seed, cases per job
    DIR/<partition>/results.jsonl, .csv  every case of that partition, merged from its shards
    DIR/<partition>/environment.json     its nodes, ceilings and shards
    DIR/<partition>/shards/<i>/          what job i wrote: a results folder of its own
    DIR/<partition>/jobs.json            shard -> Slurm job id, for --resume to re-attach
    DIR/<partition>/submitit/            submitit's pickles, batch files and job logs

so `a2bench report DIR/*` sets the partitions (GPU types) side by side, as it sets any folders.

Why this shape:
- A job is one exclusive node (`--exclusive`, and a GPU on a CUDA suite), so no two timed cases
  share a machine; within the job the cases run one after another through `run.sweep.Sweep`, the
  local executor's own code, on a shard that is an ordinary results folder (fsynced per case).
- The shard is the unit of resumption: a requeued job (preempted, or past its time limit) and a
  resubmitted one go on in the same folder, so finished cases are kept and none runs twice.
- The merged files are derived and rewritten atomically; the shards stay the source of truth.
- A job that fails without a result for some of its cases (an error, out of memory) gets those
  cases recorded from here, with Slurm's state in the reason; one that was stopped (cancelled,
  out of time, its node lost) leaves them to --resume (faults.left_to_resume).

One job per module, each importing only those above it in this list:
    errors   SlurmError
    layout   the names in DIR, reading its JSON files
    options  --slurm KEY=VALUE as submitit parameters; one partition's parameters
    job      ShardTask and ShardJob (what an array task runs), the split into shards
    faults   Slurm's job states; the records of the cases an ended job lacks
    merge    a partition's results from its shards
    cluster  submitit and Slurm's commands: submit, sacct (Watch), a job's failure
    driver   SlurmDriver (plan, submit, watch, finish) and run_on_slurm, the CLI's entry

The names below are re-exported for the tests and scripts, and ShardTask and ShardJob also for
unpickling: a sweep begun before this package pickled its tasks as `a2bench.slurm.ShardTask`.
"""

from a2bench.sinfo import cluster_partitions, default_partition
from a2bench.slurm.cluster import (
    Watch,
    error_line,
    executor,
    job_failure,
    sacct_states,
    sbatch_text,
    submit,
)
from a2bench.slurm.driver import POLL_ENV, Plan, Shard, SlurmDriver, run_on_slurm
from a2bench.slurm.errors import SlurmError
from a2bench.slurm.faults import (
    ACTIVE,
    GONE,
    base_state,
    expected,
    fault_reason,
    fault_status,
    record_faults,
)
from a2bench.slurm.job import (
    MAX_JOBS_PER_PARTITION,
    MIN_CASES_PER_JOB,
    SPLITS,
    ShardJob,
    ShardTask,
    default_per_job,
    finding_groups,
    split,
    split_by_finding,
    task_options,
)
from a2bench.slurm.layout import JOBS, SHARDS, SUBMITIT, SWEEP, read_json, shard_folder
from a2bench.slurm.merge import merge_environments, merge_partition, shard_records
from a2bench.slurm.options import (
    ALIASES,
    DEFAULT_TIMEOUT_MIN,
    GENERIC,
    minutes,
    parameters,
    parse_options,
    parse_value,
)

__all__ = [
    "ACTIVE", "ALIASES", "DEFAULT_TIMEOUT_MIN", "GENERIC", "GONE", "JOBS",
    "MAX_JOBS_PER_PARTITION", "MIN_CASES_PER_JOB", "POLL_ENV", "SHARDS", "SUBMITIT", "SWEEP",
    "Plan", "Shard", "ShardJob", "ShardTask", "SlurmDriver", "SlurmError", "Watch",
    "base_state", "cluster_partitions", "default_partition", "default_per_job", "error_line",
    "executor", "expected", "fault_reason", "fault_status", "job_failure", "merge_environments",
    "merge_partition", "minutes", "parameters", "parse_options", "parse_value", "read_json",
    "record_faults", "run_on_slurm", "sacct_states", "sbatch_text", "shard_folder",
    "shard_records", "split", "split_by_finding", "finding_groups", "SPLITS", "submit",
    "task_options",
]
