"""The ``grader`` command: check student CNN submissions against their assignment's layer table."""

__version__ = "0.1.0"
