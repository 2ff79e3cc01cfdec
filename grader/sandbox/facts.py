"""The sentences the box states its facts in: English templates, marked for the catalog and never translated here
(the box knows nothing of languages, as it knows nothing of grading).

Public interface:

* :func:`N_`: marks a template for the catalog (``python -m grader.i18n.catalog`` extracts every ``N_("...")``);
  it returns the template itself.
* :func:`state`: a template with its fields filled in (``str.format``): the fact, in English.
* one constant per template, and :data:`TEMPLATES`, all of them.

Where a fact reaches a person (a Gap's detail, an Outcome's ``unusable``, a changed file that could not be read, an
:class:`~grader.sandbox.limits.IsolationError`, :func:`~grader.sandbox.process.root_kept`), it is worded in the
reader's language by :func:`grader.batch.verdict.fact_words`, which recognizes these templates in the English text.
The system's own words (an OSError's text, a zip library's message) are no template and stay as they are.
"""
from __future__ import annotations


def N_(message: str) -> str:
    """``message`` itself, marked for the catalog (as :func:`grader.i18n.N_`, which the box does not import)."""
    return message


def state(template: str, **fields: object) -> str:
    """``template`` with ``fields`` filled in: the fact as the box states it (English)."""
    return template.format(**fields)


# grader.sandbox.full
NO_MOUNT_NAMESPACE = N_("no private mount namespace: files the grader's user may read stay readable")
NOT_REDUCED = N_("not reduced to the job's own files ({error})")
NO_PIDS_CGROUP = N_("no pids cgroup here")
COPY_UNREADABLE = N_("(the working copy could not be read after the run)")
# grader.sandbox.process
PLAIN_CHILD = N_("a plain child process with the wall-clock limit")
NOT_ISOLATED = N_("not isolated at the process level")
NO_PROCESS_LIMIT = N_("no process-count limit at the process level")
STILL_UID_0 = N_("still uid 0 (not the machine's own user namespace)")
KEPT_UID_0 = N_("the job kept uid 0: uid 65534 could not read {folder}")
PYTHON_UNREADABLE = N_("uid 65534 cannot read this Python ({folder})")
NOT_INITIAL_NAMESPACE = N_("this is not the machine's own user namespace, so uid 0 cannot be given up")
# grader.sandbox.linux
CAPSET_UNKNOWN = N_("capset is not known on {machine}")
NO_RLIMITS = N_("this platform has no rlimits")
# grader.sandbox.view
DOES_NOT_FIT = N_("the submission does not fit the {mb} MB working folder of the grader")
# grader.sandbox.workdir
NOT_UTF8 = N_("a file name that is not valid UTF-8: {name}")
SPECIAL_FILE = N_("{name} is a special file (a pipe, socket or device), not a file")
TOO_MANY_FILES = N_("{n} files, over the limit of {max}")
TOO_LARGE = N_("over {mb} MB uncompressed")
UNSAFE_PATH = N_("unsafe path in the archive: {name}")
NOT_A_ZIP = N_("{name} is not a usable zip file ({error})")
# grader.sandbox.zygote
ZYGOTE_MESSAGE = N_("a zygote message of {n} bytes")
ZYGOTE_NOT_STARTED = N_("the fork server did not start: {error}")
ZYGOTE_ENDED = N_("the fork server ended")
ZYGOTE_CANNOT_LAUNCH = N_("the fork server could not start the job: {error}")
NO_ANSWER = N_("no answer")
# grader.sandbox.limits
UNKNOWN_LEVEL = N_("unknown isolation level {level}; choose one of: {levels}")
NO_NAMESPACES = N_("the full sandbox needs Linux namespaces, which {system} does not offer here: use --isolation "
                   "process (a plain child process with the wall-clock limit)")
THIS_SYSTEM = N_("this system")

TEMPLATES = (NO_MOUNT_NAMESPACE, NOT_REDUCED, NO_PIDS_CGROUP, COPY_UNREADABLE, PLAIN_CHILD, NOT_ISOLATED,
             NO_PROCESS_LIMIT, STILL_UID_0, KEPT_UID_0, PYTHON_UNREADABLE, NOT_INITIAL_NAMESPACE, CAPSET_UNKNOWN,
             NO_RLIMITS, DOES_NOT_FIT, NOT_UTF8, SPECIAL_FILE, TOO_MANY_FILES, TOO_LARGE, UNSAFE_PATH, NOT_A_ZIP,
             ZYGOTE_MESSAGE, ZYGOTE_NOT_STARTED, ZYGOTE_ENDED, ZYGOTE_CANNOT_LAUNCH, NO_ANSWER, UNKNOWN_LEVEL,
             NO_NAMESPACES, THIS_SYSTEM)
