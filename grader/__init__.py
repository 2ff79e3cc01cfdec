"""The ``grader`` tool: check student CNN submissions against their assignment's layer table.

In a notebook::

    import grader
    grader.check(MyCNN, assignment="mycnn")          # the live class: shapes, params, batch, output
    grader.check_files(".", assignment="mycnn")      # best.pt and the curves: the quiz

Importing this package is cheap (no torch): the command line starts fast.
"""

__version__ = "0.2.0"


def check(model_class, assignment):
    """Check a live model class against an assignment (see :func:`grader.notebook.check`)."""
    from grader.notebook import check as run

    return run(model_class, assignment)


def check_files(path=".", assignment="mycnn", model_class=None):
    """Check the quiz files in ``path`` (see :func:`grader.notebook.check_files`)."""
    from grader.notebook import check_files as run

    return run(path, assignment, model_class)
