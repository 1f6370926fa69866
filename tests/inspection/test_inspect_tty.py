"""Manual items answered by a person on a real terminal (pexpect drives a pty): one prompt
per item, the previous answer shown, bad input asked again, a note asked for a failing
answer, Enter skips (recorded UNKNOWN, never passed)."""

from __future__ import annotations

import os
import sys

import pexpect
from inspect_helpers import opsctl, opsctl_json, profile, write_config


def test_interactive_round_on_a_tty(tmp_path):
    path = write_config(tmp_path, [profile("room", [
        {"id": "load", "check": "load", "params": {"warn": 1000, "crit": 2000}},
        {"id": "extinguishers", "question": "Fire extinguishers present and in date?"},
        {"id": "temp", "question": "Room thermometer reading (°C)", "type": "number",
         "min": 15, "max": 27},
        {"id": "panel", "question": "Gas panel state", "type": "choice",
         "choices": ["normal", "fault"], "expect": "normal"},
    ])])
    first = tmp_path / "first.yaml"
    first.write_text("extinguishers: {answer: yes, note: tags checked}\ntemp: 21\n")
    proc = opsctl("-c", str(path), "inspect", "run", "--answers", str(first),
                  "--inspector", "bob")
    assert proc.returncode == 3, proc.stderr  # panel unanswered: UNKNOWN

    child = pexpect.spawn(sys.executable, ["-m", "opsctl", "-c", str(path), "inspect", "run",
                                           "--inspector", "alice"],
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
                          encoding="utf-8", timeout=30)
    try:
        child.expect_exact("Inspection room: 3 question(s) for the inspector.")
        child.expect_exact("[1/3] Fire extinguishers present and in date?  (yes/no)")
        child.expect_exact("previous answer: yes — note: tags checked (")
        child.expect_exact("answer> ")
        child.sendline("no # two extinguishers past their date")
        child.expect_exact("-> WARNING: answered no, expected yes")
        child.expect_exact("[2/3] Room thermometer reading (°C)  (number, 15–27)")
        child.expect_exact("previous answer: 21")
        child.expect_exact("answer> ")
        child.sendline("warm")
        child.expect_exact("answer 'warm' is not a number; expected number, 15–27")
        child.expect_exact("answer> ")
        child.sendline("31")
        child.expect_exact("note (what is wrong? Enter for none)> ")
        child.sendline("CRAC 2 off")
        child.expect_exact("-> WARNING: 31 is above the maximum 27")
        child.expect_exact("[3/3] Gas panel state  (normal/fault)")
        child.expect_exact("answer> ")
        child.sendline("")
        child.expect_exact("skipped")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 3  # the skipped item is UNKNOWN
    _, listed = opsctl_json("-c", str(path), "inspect", "list")
    _, rec = opsctl_json("-c", str(path), "inspect", "show", str(listed[-1]["id"]))
    by = {it["id"]: it for it in rec["items"]}
    assert rec["inspector"] == "alice"
    assert by["extinguishers"]["answer"] is False
    assert by["extinguishers"]["note"] == "two extinguishers past their date"
    assert by["temp"]["answer"] == 31 and by["temp"]["note"] == "CRAC 2 off"
    assert by["panel"]["status"] == "UNKNOWN" and by["panel"]["skipped"]
    assert by["load"]["status"] == "OK"
