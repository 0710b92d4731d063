"""The one error type the CLI turns into a single line and exit status 2."""


class InputError(ValueError):
    """Bad input from the user (a file, a field, a flag); the message is the line shown."""
