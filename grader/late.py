"""Late submissions: the course's deadline rules, when a submission came in, and what the rule takes off.

**The rules** (docs/grading.md) come from the spec's ``[late]`` table laid over the course file ``course.toml``
beside the assignment folders (its ``[late]`` table for every assignment, then ``[assignments.NAME]`` for one):
the due date with its time zone (``due``, ``timezone``), the rule (``percent_per_day`` or ``percent_per_hour``
off per started day or hour past the due date, none within the first ``grace_minutes``, at most ``max_percent``),
the last accepted time (``last_accepted``: later work gets nothing) and per-student ``extensions`` (a student id
to a new due date, or to ``{ due = ..., last_accepted = ... }``).

**The times** come from where a platform states them (Gradescope's ``submission_metadata.json``, a Moodle
worksheet, Canvas's late mark, an instructor's CSV: :mod:`grader.batch.times`), never silently from a file's
modification time. The due date that counts is, in order: the student's extension in the rules, the platform's
own due date for the student (Gradescope's, with its extensions), the rules' ``due``.

Public interface: :class:`LatePolicy`, :func:`late_policy`, :func:`validate_late_table`, :class:`SubmissionTimes`,
:func:`gradescope_times`, :class:`LateResult`, :func:`late_result`, :func:`parse_time`, :class:`LateError`,
:data:`COURSE_FILE`.
"""
from __future__ import annotations

import difflib
import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grader.errors import GraderError
from grader.i18n import _, n_

MAX_METADATA_BYTES = 4 << 20
COURSE_FILE = "course.toml"  # beside the assignment folders
RULE_NUMBERS = {"percent_per_day": 0.0, "percent_per_hour": 0.0, "grace_minutes": 0.0, "max_percent": 100.0}
LATE_FIELDS = (*RULE_NUMBERS, "due", "timezone", "last_accepted", "extensions")


class LateError(GraderError):
    """The deadline rules or a submission's times cannot be read; the message names the file and the field."""


@dataclass(frozen=True)
class Extension:
    """A student's own due date (and last accepted time, when the extension sets one)."""

    due: datetime
    last_accepted: datetime | None = None


@dataclass(frozen=True)
class LatePolicy:
    """The deadline rules of one assignment, times as aware datetimes; ``source`` names the files they came from."""

    due: datetime | None = None
    last_accepted: datetime | None = None
    percent_per_day: float = 0.0
    percent_per_hour: float = 0.0
    grace_minutes: float = 0.0
    max_percent: float = 100.0
    extensions: dict[str, Extension] = field(default_factory=dict)
    source: str = ""
    timezone: str = ""  # the zone of the times written without an offset ("" when none was named)

    def extension_for(self, student: str) -> Extension | None:
        """``student``'s extension (ids compare without case, as the times CSV's do), or None."""
        if student in self.extensions:
            return self.extensions[student]
        wanted = student.lower()
        return next((e for s, e in self.extensions.items() if s.lower() == wanted), None)

    @property
    def zone(self) -> ZoneInfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None

    @property
    def period(self) -> tuple[str, float, float]:
        """(the unit, its minutes, its percent): a started day or a started hour."""
        if self.percent_per_hour:
            return "hour", 60.0, self.percent_per_hour
        return "day", 24 * 60.0, self.percent_per_day


@dataclass(frozen=True)
class SubmissionTimes:
    """When a submission came in (None: unknown, e.g. Canvas's late mark alone) and, where the platform gives
    them, its due date and last accepted time; ``source`` names where the times come from, for the report."""

    submitted: datetime | None
    due: datetime | None
    late_due: datetime | None
    source: str
    marked_late: bool = False  # the platform says it is late without saying when it came in (Canvas)
    fallback: bool = False  # a guess the instructor asked for (a file's modification time)
    who: tuple[str, ...] = ()  # the submitters' ids the platform gives (Gradescope's sid and email), for extensions


@dataclass(frozen=True)
class LateResult:
    """How late a submission is and what the rule takes off: ``percent`` of the score, ``rule`` in words.
    ``minutes_late`` is None when the time is unknown; ``accepted`` False past the last accepted time."""

    minutes_late: float | None
    percent: float
    rule: str
    accepted: bool = True


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LateError(_("{where}: timezone {name} is not a time zone name like \"Asia/Seoul\" or \"UTC\"",
                          where=where, name=repr(name))) from None


def parse_time(value, where: str, zone: ZoneInfo | None = None) -> datetime:
    """``value`` (a TOML datetime or date, or ISO 8601 text) as an aware datetime: a time without an offset is in
    ``zone``, a date alone is its last second (23:59:59). LateError naming ``where`` otherwise."""
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(23, 59, 59))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise LateError(_not_a_time(value, where)) from None
        if len(value.strip()) == 10:  # a date alone: due at the end of that day
            moment = moment.replace(hour=23, minute=59, second=59)
    else:
        raise LateError(_not_a_time(value, where))
    if moment.tzinfo is None:
        if zone is None:
            raise LateError(_("{where}: {value} has no time zone: add an offset (+09:00) or set timezone = "
                              "\"Asia/Seoul\" beside it", where=where, value=value))
        moment = moment.replace(tzinfo=zone)
    return moment


def _not_a_time(value, where: str) -> str:
    return _("{where}: {value} is not a date and time like 2026-10-07T23:59:00+09:00", where=where, value=repr(value))


def validate_late_table(table, where: str) -> dict:
    """A ``[late]`` table (the spec's, or the course file's) checked key by key: its numbers as floats, its times
    as given (resolved by :func:`late_policy` once the time zone is known); LateError naming ``where`` and the key."""
    if not isinstance(table, dict):
        raise LateError(_("{where} must be a table, e.g. {{ due = 2026-10-07T23:59:00, percent_per_day = 10 }}",
                          where=where))
    unknown = sorted(set(table) - set(LATE_FIELDS))
    if unknown:
        raise LateError(_("{where}: unknown key {key} (known: {known})", where=where, key=repr(unknown[0]),
                          known=", ".join(LATE_FIELDS)))
    checked = dict(table)
    for key in RULE_NUMBERS:
        if key not in table:
            continue
        value = table[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 \
                or (key != "grace_minutes" and value > 100):
            if key == "grace_minutes":
                raise LateError(_("{where}.{key} must be a number of minutes, found {found}", where=where, key=key,
                                  found=repr(value)))
            raise LateError(_("{where}.{key} must be a percent from 0 to 100, found {found}", where=where, key=key,
                              found=repr(value)))
        checked[key] = float(value)
    if checked.get("percent_per_day") and checked.get("percent_per_hour"):
        raise LateError(_("{where}: give percent_per_day or percent_per_hour, not both", where=where))
    if "timezone" in table:
        if not isinstance(table["timezone"], str):
            raise LateError(_("{where}.timezone must be a name like \"Asia/Seoul\", found {found}", where=where,
                              found=repr(table["timezone"])))
        _zone(table["timezone"], f"{where}.timezone")
    zone = ZoneInfo("UTC")  # only to see that each time parses; the real zone is applied by late_policy
    for key in ("due", "last_accepted"):
        if key in table:
            parse_time(table[key], f"{where}.{key}", zone)
    extensions = table.get("extensions", {})
    if not isinstance(extensions, dict):
        raise LateError(_("{where}.extensions must be a table of student = new due date", where=where))
    for student, value in extensions.items():
        _extension(value, f"{where}.extensions.{student}", zone)
    return checked


def _extension(value, where: str, zone: ZoneInfo | None) -> Extension:
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"due", "last_accepted"})
        if unknown or "due" not in value:
            raise LateError(_("{where} must be a date, or a table with due (and last_accepted), found {found}",
                              where=where, found=repr(value)))
        last = value.get("last_accepted")
        extension = Extension(parse_time(value["due"], f"{where}.due", zone),
                              parse_time(last, f"{where}.last_accepted", zone) if last is not None else None)
        if extension.last_accepted is not None and extension.last_accepted < extension.due:
            raise LateError(_("{where}: last_accepted is before its own due date", where=where))
        return extension
    return Extension(parse_time(value, where, zone))


def _course_tables(folder: Path, assignment: str) -> tuple[list[tuple[dict, str]], str | None]:
    """The course file's tables for ``assignment`` ([late], then [assignments.NAME]) and its timezone."""
    path = folder / COURSE_FILE
    if not path.is_file():
        return [], None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LateError(_("{path}: cannot be read as TOML: {error}", path=path, error=exc)) from None
    unknown = sorted(set(data) - {"timezone", "late", "assignments", "language"})  # language: grader.cli_base
    if unknown:
        raise LateError(_("{path}: unknown key {key} (known: timezone, language, late, assignments)", path=path,
                          key=repr(unknown[0])))
    tables = []
    if "late" in data:
        tables.append((validate_late_table(data["late"], f"{path} [late]"), f"{COURSE_FILE} [late]"))
    own = data.get("assignments", {})
    if not isinstance(own, dict):
        raise LateError(_("{path}: assignments must hold one table per assignment, e.g. [assignments.mycnn]",
                          path=path))
    near = difflib.get_close_matches(assignment, [n for n in own if n != assignment], n=1, cutoff=0.8)
    if assignment not in own and near:  # a typo would silently leave the assignment without its due date
        raise LateError(_("{path}: no [assignments.{assignment}] table, but [assignments.{near}]: name the table "
                          "after the assignment's folder", path=path, assignment=assignment, near=near[0]))
    if assignment in own:
        where = f"{COURSE_FILE} [assignments.{assignment}]"
        tables.append((validate_late_table(own[assignment], f"{path} [assignments.{assignment}]"), where))
    zone = data.get("timezone")
    if zone is not None and not isinstance(zone, str):
        raise LateError(_("{path}: timezone must be a name like \"Asia/Seoul\", found {found}", path=path,
                          found=repr(zone)))
    return tables, zone


def late_policy(assignment: str, spec_path: Path, spec_table: dict | None) -> LatePolicy | None:
    """The deadline rules of ``assignment``: the course file beside its folder (``spec_path``'s grandparent), then
    the spec's own ``[late]`` table (``spec_table``), key by key, extensions student by student. None when neither
    gives a rule or a due date."""
    tables, course_zone = _course_tables(Path(spec_path).resolve().parent.parent, assignment)
    if spec_table:
        tables.append((spec_table, f"{Path(spec_path).parent.name}/spec.toml [late]"))
    if not tables:
        return None
    merged: dict = {}
    extensions: dict = {}
    for table, _source in tables:
        merged.update({k: v for k, v in table.items() if k != "extensions"})
        for unit, other in (("percent_per_day", "percent_per_hour"), ("percent_per_hour", "percent_per_day")):
            if table.get(unit) and other not in table:  # a table that sets one unit replaces the other's rule
                merged.pop(other, None)
        extensions.update(table.get("extensions", {}))
    name = merged.get("timezone", course_zone)
    zone = _zone(name, _("the [late] rules' timezone")) if name else None
    where = tables[0][1]
    for _table, source in tables[1:]:
        where = _("{first} and {second}", first=where, second=source)
    due = parse_time(merged["due"], f"{where}: due", zone) if "due" in merged else None
    last = parse_time(merged["last_accepted"], f"{where}: last_accepted", zone) if "last_accepted" in merged else None
    if due is not None and last is not None and last < due:
        raise LateError(_("{where}: last_accepted ({last}) is before the due date ({due})", where=where,
                          last=last.isoformat(), due=due.isoformat()))
    numbers = {k: float(merged.get(k, default)) for k, default in RULE_NUMBERS.items()}
    if numbers["percent_per_day"] and numbers["percent_per_hour"]:
        raise LateError(_("{where}: give percent_per_day or percent_per_hour, not both", where=where))
    own = {str(s): _extension(v, f"{where}: extensions.{s}", zone) for s, v in extensions.items()}
    return LatePolicy(due=due, last_accepted=last, extensions=own, source=where, timezone=name or "", **numbers)


def gradescope_times(path: str | Path) -> SubmissionTimes:
    """The times in Gradescope's submission_metadata.json at ``path``; LateError when it is not one."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_METADATA_BYTES))
    except OSError as exc:
        raise LateError(_("cannot read {path}: {error}", path=path, error=exc.strerror)) from None
    except ValueError as exc:
        raise LateError(_("{path} is not JSON: {error}", path=path, error=exc)) from None
    assignment = data.get("assignment") if isinstance(data, dict) else None
    if not isinstance(assignment, dict) or "created_at" not in data:
        raise LateError(_("{path}: not Gradescope's submission metadata (it needs created_at and assignment)",
                          path=path))

    def moment(value, name: str) -> datetime | None:
        return None if value is None else parse_time(str(value), f"{path}: {name}")

    submitted = moment(data["created_at"], "created_at")
    due = moment(assignment.get("due_date"), "assignment.due_date")
    late_due = moment(assignment.get("late_due_date"), "assignment.late_due_date")
    source = _("Gradescope's submission_metadata.json")
    # An extension: Gradescope gives each user's own dates under users[].assignment; the latest counts (a group
    # submission is due when its last member's work is)
    users = data.get("users") if isinstance(data.get("users"), list) else []
    own = [u["assignment"] for u in users if isinstance(u, dict) and isinstance(u.get("assignment"), dict)]
    extended = [d for d in (moment(a.get("due_date"), "users[].assignment.due_date") for a in own) if d]
    if extended and (due is None or max(extended) > due):
        due, source = max(extended), _("{source}, with the student's extension", source=source)
        late_dues = [d for d in (moment(a.get("late_due_date"), "users[].assignment.late_due_date")
                                 for a in own) if d]
        late_due = max(late_dues) if late_dues else late_due
    who = tuple(str(u[key]) for u in users if isinstance(u, dict) for key in ("sid", "email")
                if isinstance(u.get(key), (str, int)) and str(u[key]))
    return SubmissionTimes(submitted, due, late_due, source, who=who)


def _duration(minutes: float) -> str:
    days, rest = divmod(int(math.ceil(minutes)), 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [n_("{n} day", "{n} days", days)] if days else []
    parts += [_("{n} h", n=hours)] if hours else []
    parts += [_("{n} min", n=mins)] if mins or not parts else []
    return " ".join(parts)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


FROM_EXTENSION = "extension"  # where a due date comes from: the student's extension in the rules (a code)


def _dates(policy: LatePolicy, times: SubmissionTimes, student: str) -> tuple[datetime | None, datetime | None, str]:
    """(the due date, the last accepted time, where the due date comes from: FROM_EXTENSION, else the platform's or
    the rules' source) for ``student``. An extension without its own last accepted time moves the course's window
    with it (last_accepted - due stays the same)."""
    extension = policy.extension_for(student)
    if extension is not None and policy.due is not None and extension.due <= policy.due:
        extension = None  # the deadline moved past it: an extension gives more time, never less
    if extension is not None:
        last = extension.last_accepted
        if last is None and policy.last_accepted is not None:
            last = policy.last_accepted + (extension.due - policy.due) if policy.due is not None \
                else max(policy.last_accepted, extension.due)
        return extension.due, last, FROM_EXTENSION
    if times.due is not None:
        return times.due, times.late_due or policy.last_accepted, times.source
    return policy.due, policy.last_accepted, policy.source


def _unknown_time(policy: LatePolicy, times: SubmissionTimes | None, due: datetime, due_text: str,
                  due_from: str) -> LateResult:
    """The result of a submission whose time is unknown: no penalty, unless the platform marked it late."""
    unit, _minutes, per_unit = policy.period
    if times is not None and times.marked_late and due_from != FROM_EXTENSION:
        percent = min(policy.max_percent, per_unit)
        if unit == "hour":
            return LateResult(None, percent, _("{source} marks it late but gives no time: one started hour's "
                                               "{percent:g}% off (the exact time was not given to the grader)",
                                               source=times.source, percent=percent))
        return LateResult(None, percent, _("{source} marks it late but gives no time: one started day's "
                                           "{percent:g}% off (the exact time was not given to the grader)",
                                           source=times.source, percent=percent))
    if times is not None and times.marked_late:  # Canvas marks against its own due date, not the extension
        return LateResult(None, 0.0, _("{source} marks it late, but {due} and the time is unknown: no late rule "
                                       "applied", source=times.source, due=due_text))
    return LateResult(None, 0.0, _("no submission time known: no late rule applied (due {time})", time=_stamp(due)))


def _penalty_text(policy: LatePolicy, late: str, periods: int, percent: float) -> str:
    """``late``, then the rule's arithmetic: ``10% per started day x 2 days = 20% off the score``."""
    unit, _minutes, per_unit = policy.period
    if unit == "hour":
        arithmetic = n_("{per_unit:g}% per started hour x {n} hour", "{per_unit:g}% per started hour x {n} hours",
                        periods, per_unit=per_unit)
    else:
        arithmetic = n_("{per_unit:g}% per started day x {n} day", "{per_unit:g}% per started day x {n} days",
                        periods, per_unit=per_unit)
    if percent < per_unit * periods:
        arithmetic = _("{arithmetic}, capped at {max:g}%", arithmetic=arithmetic, max=policy.max_percent)
    return _("{late}: {arithmetic} = {percent:g}% off the score", late=late, arithmetic=arithmetic, percent=percent)


def late_result(policy: LatePolicy | None, times: SubmissionTimes | None, student: str = "") -> LateResult | None:
    """What ``policy`` takes off ``student``'s submission at ``times``: 0% on time (the rule says so), the rule's
    percent late, 100% past the last accepted time. None when there is no rule or no due date; a result with
    ``minutes_late`` None when the time is unknown (no penalty, unless the platform marked it late: one period's)."""
    if policy is None:
        return None
    due, last, due_from = _dates(policy, times or SubmissionTimes(None, None, None, ""), student)
    if due is None:
        return None
    due_text = _("the due date {time} (an extension)", time=_stamp(due)) if due_from == FROM_EXTENSION \
        else _("the due date {time}", time=_stamp(due))
    if times is None or times.submitted is None:
        return _unknown_time(policy, times, due, due_text, due_from)
    submitted = times.submitted
    source = _("{source} (a fallback, not the time it was submitted)", source=times.source) if times.fallback \
        else times.source
    when = _("submitted {time} (from {source})", time=_stamp(submitted), source=source)
    if submitted <= due:
        return LateResult(0.0, 0.0, _("on time: {submitted}, {due}", submitted=when, due=due_text))
    # in UTC: two times of one ZoneInfo subtract as wall-clock times, an hour off across a DST change
    minutes = (submitted.astimezone(UTC) - due.astimezone(UTC)).total_seconds() / 60
    late = _("{submitted}, {duration} after {due}", submitted=when, duration=_duration(minutes), due=due_text)
    if last is not None and submitted > last:
        return LateResult(minutes, 100.0, _("{late}: after the last accepted time {time}, not accepted (100% off)",
                                            late=late, time=_stamp(last)), accepted=False)
    if minutes <= policy.grace_minutes:
        return LateResult(minutes, 0.0, _("{late}: within the {minutes:g}-minute grace period, no penalty", late=late,
                                          minutes=policy.grace_minutes))
    _unit, unit_minutes, per_unit = policy.period
    periods = math.ceil(minutes / unit_minutes)  # the grace period only excuses the first minutes, not each day's
    percent = min(policy.max_percent, per_unit * periods)
    return LateResult(minutes, percent, _penalty_text(policy, late, periods, percent))
