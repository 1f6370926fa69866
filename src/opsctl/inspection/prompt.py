"""Asking the inspector, one manual item at a time, on a terminal.

Each prompt names the item, says what may be typed and shows the previous answer (from the
last run of the profile) for reference only: pressing Enter skips the item, it never
repeats last time's answer. ``answer # note`` attaches a note; a failing answer asks for
one.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from opsctl.core.errors import Status
from opsctl.core.safetext import visible
from opsctl.inspection.answers import Answer, display, grade, hint, normalise

MAX_TRIES = 3


class TtyPrompter:
    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None):
        self.stdin = stdin or sys.stdin
        # Prompts go to stderr so that --json output on stdout stays clean.
        self.stdout = stdout or sys.stderr
        self.eof = False

    def _say(self, text: str = "", end: str = "\n") -> None:
        # Questions, hints and previous answers are config and user text: controls spelled
        # out, never sent raw to the terminal.
        self.stdout.write(visible(text) + end)
        self.stdout.flush()

    def _read(self, prompt: str) -> str | None:
        self._say(prompt, end="")
        line = self.stdin.readline()
        if not line:
            self.eof = True
            self._say()
            return None
        return line.rstrip("\r\n")

    def intro(self, profile, count: int) -> None:
        self._say(f"Inspection {profile.name}: {count} question(s) for the inspector. "
                  "Enter skips an item; 'answer # note' adds a note.")

    def ask(self, item, index: int, total: int,
            previous: dict[str, Any] | None) -> Answer | None:
        if self.eof:
            return None
        self._say()
        self._say(f"[{index}/{total}] {item.question}  ({hint(item)})"
                  + ("" if item.required else "  [optional]"))
        if previous is not None and previous.get("answer") is not None:
            prev = f"  previous answer: {display(previous['answer'])}"
            if previous.get("note"):
                prev += f" — note: {previous['note']}"
            if previous.get("when"):
                prev += f" ({previous['when']})"
            self._say(prev)
        for _ in range(MAX_TRIES):
            line = self._read("  answer> ")
            if line is None or not line.strip():
                self._say("  skipped")
                return None
            text, _, note = line.partition(" # ")
            if line.strip().startswith("#"):
                text, note = "", line.strip()[1:]
            try:
                value = normalise(item, text.strip()) if text.strip() else None
            except ValueError as exc:
                self._say(f"  {exc}; expected {hint(item)}")
                continue
            if value is None:
                self._say(f"  expected {hint(item)}")
                continue
            note = note.strip() or None
            status, message = grade(item, value)
            if status != Status.OK and note is None:
                note = (self._read("  note (what is wrong? Enter for none)> ") or "").strip() \
                    or None
            self._say(f"  -> {status.name}: {message}")
            return Answer(value, note)
        self._say("  no valid answer; skipped")
        return None
