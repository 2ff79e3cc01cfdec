"""The ``grader`` tool: check student CNN submissions against their assignment's layer table.

In a notebook::

    import grader
    grader.check(MyCNN, assignment="mycnn")          # the live class: shapes, params, batch, output
    grader.check(MyCNN, "mycnn", lang="ko")          # the same report in Korean
    grader.check_files(".", assignment="mycnn")      # best.pt and the curves: the quiz

Importing this package is cheap (no torch): the command line starts fast.
"""

__version__ = "0.2.0"


def check(model_class, assignment, lang: str | None = None):
    """Check a live model class against an assignment, its report in ``lang`` ("en", "ko"; None: the current
    language) (see :func:`grader.notebook.check`)."""
    from grader.notebook import check as run

    return run(model_class, assignment, lang=lang)


def check_files(path=".", assignment="mycnn", model_class=None, lang: str | None = None):
    """Check the quiz files in ``path``, the report in ``lang`` (see :func:`grader.notebook.check_files`)."""
    from grader.notebook import check_files as run

    return run(path, assignment, model_class, lang=lang)
