"""Manual checklist answers: reading an answers file, checking it against the profile,
normalising each answer to its item's type and grading it.

An answers file is YAML or JSON: either a mapping ``item id -> answer`` (an answer may be
``{answer: …, note: …}``), or ``{profile: NAME, answers: {…}}`` naming the profile it was
written for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsctl.core.errors import Status, UsageError

_YES = {"yes", "y", "true", "ok", "1", "ja", "oui"}
_NO = {"no", "n", "false", "0", "nein", "non"}


@dataclass
class Answer:
    value: Any
    note: str | None = None


@dataclass
class AnswerSet:
    answers: dict[str, Answer]
    problems: list[str]            # mismatches with the profile, shown and recorded
    invalid: dict[str, str]        # item id -> why its answer was rejected


def read_answers_file(path: str | Path) -> dict[str, Any]:
    """The file's raw content as a mapping; a file that is not one is a usage error."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"answers file {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"answers file {p}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise UsageError(f"answers file {where}: not valid YAML/JSON: "
                         f"{getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"answers file {p}: expected a mapping of item id to answer, "
                         f"got {type(data).__name__}")
    return {"__file__": str(p), **data}


def match_answers(profile, raw: dict[str, Any] | None) -> AnswerSet:
    """Answers for the profile's manual items; everything that does not fit is a problem."""
    from opsctl.core.config.inspection import ManualItem

    raw = dict(raw or {})
    src = raw.pop("__file__", None)
    label = f"answers file {src}" if src else "answers"
    problems: list[str] = []
    if "answers" in raw and isinstance(raw["answers"], dict) and set(raw) <= \
            {"answers", "profile", "inspector"}:
        named = raw.get("profile")
        if named is not None and named != profile.name:
            problems.append(f"{label} is for profile {named!r}, not {profile.name!r}")
        raw = raw["answers"]
    manual = {it.id: it for it in profile.items if isinstance(it, ManualItem)}
    checks = {it.id for it in profile.items if not isinstance(it, ManualItem)}
    answers: dict[str, Answer] = {}
    invalid: dict[str, str] = {}
    for key, entry in raw.items():
        key = str(key)
        if key in checks:
            problems.append(f"{label}: {key!r} is an automatic check, not a manual item")
            continue
        if key not in manual:
            known = ", ".join(manual) or "none"
            problems.append(f"{label}: {key!r} is not an item of profile {profile.name!r} "
                            f"(manual items: {known})")
            continue
        note = None
        if isinstance(entry, dict):
            extra = set(entry) - {"answer", "note"}
            if extra:
                problems.append(f"{label}: {key}: unknown keys {sorted(extra)} "
                                "(expected answer, note)")
            note = entry.get("note")
            note = None if note is None else str(note)
            entry = entry.get("answer")
        if entry is None:
            if note:
                answers[key] = Answer(None, note)
            continue
        try:
            answers[key] = Answer(normalise(manual[key], entry), note)
        except ValueError as exc:
            invalid[key] = str(exc)
            problems.append(f"{label}: {key}: {exc}")
    return AnswerSet(answers, problems, invalid)


def normalise(item, value: Any) -> Any:
    """The answer as the item's type; ValueError saying what was expected."""
    if item.type == "yesno":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return False
        raise ValueError(f"answer {value!r} is not yes or no")
    if item.type == "number":
        if isinstance(value, bool):
            raise ValueError(f"answer {value!r} is not a number")
        try:
            num = float(str(value).strip().replace(",", ".")) if not isinstance(
                value, int | float) else float(value)
        except ValueError:
            raise ValueError(f"answer {value!r} is not a number") from None
        if not math.isfinite(num):
            raise ValueError(f"answer {value!r} is not a finite number")
        return int(num) if num.is_integer() else num
    if item.type == "choice":
        text = str(value).strip()
        for c in item.choices:
            if c.lower() == text.lower():
                return c
        raise ValueError(f"answer {value!r} is not one of {', '.join(item.choices)}")
    return str(value)


def grade(item, value: Any) -> tuple[Status, str]:
    """Status and message for an answered manual item."""
    # The message is stored with the record in the site language of this moment.
    from opsctl.core.i18n import _

    fail = Status.WARNING if item.fail_status == "warn" else Status.CRITICAL
    if item.type == "yesno":
        expect = item.expect if isinstance(item.expect, bool) else True
        text = _("yes") if value else _("no")
        if value == expect:
            return Status.OK, _("answered {answer}").format(answer=text)
        return fail, _("answered {answer}, expected {expected}").format(
            answer=text, expected=_("yes") if expect else _("no"))
    if item.type == "number":
        if item.min is not None and value < item.min:
            return fail, _("{value:g} is below the minimum {min:g}").format(value=value,
                                                                          min=item.min)
        if item.max is not None and value > item.max:
            return fail, _("{value:g} is above the maximum {max:g}").format(value=value,
                                                                          max=item.max)
        rng = _range_text(item)
        return Status.OK, f"{value:g}" + (_(" (within {range})").format(range=rng)
                                          if rng else "")
    if item.type == "choice":
        if item.expect is not None and str(value) != str(item.expect):
            return fail, _("answered {answer}, expected {expected}").format(
                answer=value, expected=item.expect)
        return Status.OK, _("answered {answer}").format(answer=value)
    return Status.OK, _("noted") if value else _("answered (empty)")


def _range_text(item) -> str:
    if item.min is not None and item.max is not None:
        return f"{item.min:g}–{item.max:g}"
    if item.min is not None:
        return f"≥ {item.min:g}"
    if item.max is not None:
        return f"≤ {item.max:g}"
    return ""


def hint(item) -> str:
    """What the inspector may type, shown in the prompt."""
    if item.type == "yesno":
        return "yes/no"
    if item.type == "number":
        rng = _range_text(item)
        return f"number{', ' + rng if rng else ''}"
    if item.type == "choice":
        return "/".join(item.choices)
    return "text"


def display(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)
