"""Entry point of the check child process (see ``grader.sandbox``). Not for direct use."""
from __future__ import annotations

import json
import os
import sys
import traceback


def main() -> None:
    job = json.loads(sys.stdin.read())
    result = os.fdopen(job["result_fd"], "w")
    # From here on, whatever anyone prints goes to the capture file, never to the result pipe.
    sys.stdin = open(os.devnull)
    from grader.report import Report
    from grader.spec import load_spec

    spec = load_spec(job["spec"])
    try:
        from grader.run import check_submission

        report = check_submission(spec, job["path"], job["student"])
    except BaseException as exc:  # noqa: BLE001 - the report must reach the parent whatever the student did
        report = Report(assignment=spec.name, student=job["student"],
                        fatal=f"internal error while checking: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    result.write(json.dumps(report.to_dict()))
    result.flush()
    os._exit(0)  # skip interpreter shutdown: student objects may hang it


if __name__ == "__main__":
    main()
