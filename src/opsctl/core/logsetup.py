"""Logging: plain single lines on stderr (journald adds its own timestamps) and a
filter that blanks out every secret value the config loaded, wherever it appears."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

from opsctl.core.safetext import visible

_secrets: set[str] = set()
_public: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    global _pattern
    if value and len(value) >= 3:
        with _lock:
            _secrets.add(value)
            _pattern = None


def register_public(words) -> None:
    """Names the config makes public (devices, hosts, people, profiles): a secret equal
    to one is not masked. It is printed as a name everywhere anyway, and masking it
    blanked the name in every message (the example's communities are device names)."""
    global _pattern
    with _lock:
        _public.update(w for w in words if w)
        _pattern = None


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None:
            masked = sorted(_secrets - _public, key=len, reverse=True)
            if not masked:
                return None
            # Whole words only: community "env1" must not blank part of "env10".
            _pattern = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, masked))
                                  + r")(?![A-Za-z0-9])")
        return _pattern


def contains_secret(text: str) -> bool:
    """Does ``text`` contain a secret the config loaded (a community, a token…)?"""
    with _lock:
        return any(s in text for s in _secrets)


def redact(text: str) -> str:
    if not _secrets:
        return text
    pattern = _compiled()
    return text if pattern is None else pattern.sub("****", text)


def secrets_in_order() -> list[str]:
    """The secrets ``redact`` masks (public names left out), longest first."""
    with _lock:
        return sorted(_secrets - _public, key=len, reverse=True)


def redactor():
    """``redact`` for a bulk job, or None when nothing would be masked (the caller then
    skips the call per value)."""
    return redact if _compiled() is not None else None


class RedactingFilter(logging.Filter):
    """Secrets blanked out; control characters (from devices, users) spelled out."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = visible(redact(msg) if _secrets else msg)
        if clean != msg:
            record.msg = clean
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
    # paramiko logs its transport thread's failures as ERROR lines with a traceback (a peer
    # closing before the banner); opsctl.core.ssh reports each as one clear error.
    logging.getLogger("paramiko").setLevel(logging.DEBUG if verbose >= 3 else logging.CRITICAL)
