"""The one base of every error a user can fix.

Public interface:

* :class:`GraderError`: a problem the user can fix (a bad spec, a missing folder, an unavailable isolation level,
  an instructor-only command in the student kit). Its message says what to do. The command line prints it and
  exits with 2; nothing else is caught there, so a bug is never disguised as a usage error.
"""


class GraderError(Exception):
    """A problem the user can fix; the message says what to do."""
