"""The box: run a job with student code in it and report what happened, as facts. Mechanism only: nothing here
knows about specs, reports, checks or grades, and nothing here imports them.

Modules, one concern each (each lists its public interface in its docstring):

* :mod:`~grader.sandbox.limits`: :class:`Limits`, the isolation levels and what this machine offers.
* :mod:`~grader.sandbox.outcome`: :class:`Outcome` (what a job did) and :class:`Gap` (what was not applied).
* :mod:`~grader.sandbox.linux`: the Linux calls: namespaces, mounts, capabilities, uid, rlimits, environment.
* :mod:`~grader.sandbox.view`: the file system a job sees.
* :mod:`~grader.sandbox.cgroup`: the process-count limit and the kill handle.
* :mod:`~grader.sandbox.workdir`: the job's copy of the submission and its fingerprints.
* :mod:`~grader.sandbox.channel`: the result channel's frames, read with a bound.
* :mod:`~grader.sandbox.full` and :mod:`~grader.sandbox.process`: one job class per isolation level, with the same
  methods: ``start``, ``poll``, ``stop``, ``outcome`` (and ``abandon``, ``fd``).
* :mod:`~grader.sandbox.zygote`: a fork server that has never held another job's data.
* :mod:`~grader.sandbox.facts`: the English templates of the few facts the box states in a sentence (marked for the
  catalog; :func:`grader.batch.verdict.fact_words` words them in the reader's language).
"""
