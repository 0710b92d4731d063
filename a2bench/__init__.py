"""a2bench: measured cost scaling of double attention, its non-local order and the SE block."""

__version__ = "0.1.0"
