"""A net-snmp ``pass_persist`` script serving a UPS whose answers a test changes as it runs.

snmpd.conf: ``pass_persist .1.3.6.1.2.1.33 /usr/bin/python3 ups_pass.py STATE.json``.
snmpd keeps the script running and talks to it on stdin/stdout (``PING`` → ``PONG``;
``get``/``getnext`` + OID → OID, type, value, or ``NONE``). STATE.json maps numeric OIDs
to ``[type, value]`` (type: integer, gauge, string, timeticks) and is read on every
request, so rewriting it (atomically: write + rename) changes what the agent reports at
once.

Tests use :class:`ChangingUps` (the values file) with ``Snmpd(extra=[ups.pass_line()])``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

UPS = "1.3.6.1.2.1.33.1"


class ChangingUps:
    """RFC 1628 values in a file this script reads on every request."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.set("OL")

    def pass_line(self) -> str:
        return f"pass_persist .1.3.6.1.2.1.33 {sys.executable} {Path(__file__).resolve()} " \
               f"{self.path}"

    def set(self, source: str, *, low: bool = False, charge: int = 100,
            runtime_min: int = 90) -> None:
        values = {
            f"{UPS}.1.1.0": ["string", "TestUPS"],
            f"{UPS}.2.1.0": ["integer", 3 if low else 2],        # upsBatteryStatus
            f"{UPS}.2.3.0": ["integer", runtime_min],            # minutes remaining
            f"{UPS}.2.4.0": ["integer", charge],                 # charge %
            f"{UPS}.4.1.0": ["integer", 5 if source == "OB" else 3],  # upsOutputSource
            f"{UPS}.4.4.1.5.1": ["integer", 20],                 # load %
            f"{UPS}.6.1.0": ["gauge", 0],                        # alarms present
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(values))
        os.replace(tmp, self.path)


def key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.strip().strip(".").split(".") if p)


def answer(state_file: str, mode: str, oid: str) -> list[str]:
    with open(state_file) as f:
        table = {key(k): v for k, v in json.load(f).items()}
    want = key(oid)
    if mode == "get":
        hit = want if want in table else None
    else:
        hit = next((k for k in sorted(table) if k > want), None)
    if hit is None:
        return ["NONE"]
    kind, value = table[hit]
    return ["." + ".".join(map(str, hit)), kind, str(value)]


def main(argv: list[str]) -> int:
    state_file = argv[1]
    out = sys.stdout
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "PING":
            reply = ["PONG"]
        elif cmd in ("get", "getnext"):
            reply = answer(state_file, cmd, sys.stdin.readline())
        elif cmd == "set":
            sys.stdin.readline()
            sys.stdin.readline()
            reply = ["not-writable"]
        elif not cmd:
            return 0
        else:
            reply = ["NONE"]
        out.write("\n".join(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
