"""The errors a user is shown as one line: InputError (the CLI exits 2) and CaseError (a case
stored as `error`, the sweep going on)."""


class InputError(ValueError):
    """Bad input from the user (a file, a field, a flag); the message is the line shown."""


class CaseError(Exception):
    """A case the block cannot run as written; the message is the one line that says what to
    fix (stored as the case's reason with status error, the sweep going on)."""
