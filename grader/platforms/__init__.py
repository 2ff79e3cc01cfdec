"""Where courses already run: the files each platform runs the grader from, and what runs inside its job.

* :mod:`grader.platforms.bundles`: ``grader autograder gradescope|prairielearn|classroom`` (the zip, the question
  and image, the template repository), from a spec and the audited kit wheel.
* :mod:`grader.platforms.run`: ``grader autograder run PLATFORM``, inside the platform's job: one submission
  checked in the box, the platform's results document always written.
* :mod:`grader.platforms.moodle`: ``grader export --to moodle-assignment``: Moodle's grading worksheet filled in
  and its feedback files zip.

The documents themselves are built in :mod:`grader.outputs.platform_results`; docs/platforms.md has the upload
steps.
"""
