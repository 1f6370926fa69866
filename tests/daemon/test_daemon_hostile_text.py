"""Event messages (built from device and user text) never break `daemon status`: markup is
shown literally, controls are spelled out; the JSON keeps the raw text. The real CLI."""

from __future__ import annotations

import json
import os
import subprocess

from daemon_support import base_config, opsctl_argv, write_config

from opsctl.core.config import load_config
from opsctl.core.store import Store
from opsctl.daemon.alerts import AlertPipeline, Event

MESSAGE = "sw1 says [bold]hi[/bold] [/x] \x1b[2J\x1b]0;title\x07 cr\rlf \u202eevil"
SHOWN = "sw1 says [bold]hi[/bold] [/x] \\x1b[2J\\x1b]0;title\\x07 cr\\x0dlf \\u202eevil"
RAW = ("\x1b", "\x07", "\r", "\u202e")


def run(*args: str, columns: str = "250") -> subprocess.CompletedProcess:
    return subprocess.run([*opsctl_argv(), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NO_COLOR": "1", "COLUMNS": columns})


def test_status_and_ack_show_hostile_event_text_escaped(tmp_path):
    path = write_config(tmp_path / "opsctl.yaml", base_config(tmp_path))
    cfg = load_config(path)
    store = Store.for_config(cfg)
    pipe = AlertPipeline(cfg, store)
    try:
        eid = pipe.emit(Event("power", "[odd]", "major", MESSAGE, subject="sw1 [x]"))
        assert pipe.drain(10)
    finally:
        pipe.close()
        store.close()
    for columns in ("250", "80"):
        p = run("-c", str(path), "daemon", "status", columns=columns)
        assert p.returncode == 0, p.stderr
        for c in RAW:
            assert c not in p.stdout + p.stderr
    p = run("-c", str(path), "daemon", "status")
    assert SHOWN in p.stdout
    data = json.loads(run("-c", str(path), "--json", "daemon", "status").stdout)
    assert data["open_events"][0]["message"] == MESSAGE
    # The duty log entry the event wrote shows escaped too.
    log = run("-c", str(path), "duty", "log", "list")
    assert log.returncode == 0 and not any(c in log.stdout for c in RAW)
    p = run("-c", str(path), "daemon", "ack", str(eid), "--by", "alice")
    assert p.returncode == 0, p.stderr
    assert SHOWN in p.stdout
    assert not any(c in p.stdout + p.stderr for c in RAW)
