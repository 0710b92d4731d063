"""Execution: everything that measures cases and writes a results folder.

options (RunOptions), sweep (Sweep, one local sweep), runner and worker (the measuring process
and its guard), store (the results folder), calibration (the ceilings), listener (what a sweep
tells its user) and summary (its printed table). Importing this package imports none of them, so
analysis can read a results folder through run.store without loading the rest.
"""
