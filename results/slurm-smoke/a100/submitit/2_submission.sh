#!/bin/bash

# Parameters
#SBATCH --error=/work/main/results/slurm-smoke/a100/submitit/%j_0_log.err
#SBATCH --exclusive
#SBATCH --job-name=a2bench-smoke
#SBATCH --mem=0
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --open-mode=append
#SBATCH --output=/work/main/results/slurm-smoke/a100/submitit/%j_0_log.out
#SBATCH --partition=a100
#SBATCH --signal=USR2@90
#SBATCH --time=60
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /work/main/results/slurm-smoke/a100/submitit/%j_%t_log.out --error /work/main/results/slurm-smoke/a100/submitit/%j_%t_log.err /work/main/.venv/bin/python3 -u -m submitit.core._submit /work/main/results/slurm-smoke/a100/submitit
