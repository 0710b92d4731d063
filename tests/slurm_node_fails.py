"""A plugin that loads on the login node and fails on a compute node (inside a Slurm job): what
a node without the plugin's dependency looks like. Used by tests/test_slurm.py."""

import os

if os.environ.get("SLURM_JOB_ID"):
    raise ImportError("this node cannot import the plugin's dependency")
