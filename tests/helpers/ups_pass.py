"""A net-snmp ``pass_persist`` script serving a UPS whose answers a test changes as it runs.

snmpd.conf: ``pass_persist .1.3.6.1.2.1.33 /usr/bin/python3 ups_pass.py STATE.json``.
snmpd keeps the script running and talks to it on stdin/stdout (``PING`` → ``PONG``;
``get``/``getnext`` + OID → OID, type, value, or ``NONE``). STATE.json maps numeric OIDs
to ``[type, value]`` (type: integer, gauge, string, timeticks) and is read on every
request, so rewriting it (atomically: write + rename) changes what the agent reports at
once.
"""

from __future__ import annotations

import json
import sys


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
