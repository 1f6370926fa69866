"""Logging: plain single lines on stderr (journald adds its own timestamps) and a
filter that blanks out every secret value the config loaded, wherever it appears."""

from __future__ import annotations

import logging
import os
import sys
import threading

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    if value and len(value) >= 3:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for s in sorted(_secrets, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "****")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            msg = record.getMessage()
            record.msg = redact(msg)
            record.args = None
        return True


def setup_logging(verbose: int = 0, *, daemon: bool = False) -> None:
    level = logging.WARNING
    if verbose == 1 or daemon:
        level = logging.INFO
    if verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    under_journal = bool(os.environ.get("JOURNAL_STREAM"))
    if under_journal:
        fmt = "%(levelname)s %(name)s: %(message)s"
    elif daemon:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    else:
        fmt = "opsctl: %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays out unless asked for.
    for noisy in ("pysnmp", "paramiko", "apscheduler", "sqlalchemy", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
