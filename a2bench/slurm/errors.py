"""The one error a Slurm sweep raises for the user (its own module, so that every step of the
package can raise it without importing another step)."""

from __future__ import annotations

from a2bench.errors import InputError


class SlurmError(InputError):
    """A Slurm sweep that cannot go on as asked; the message is one line for the user."""
