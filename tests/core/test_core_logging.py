"""Secrets never reach a log line, wherever they appear in the message."""

from __future__ import annotations

import logging

from opsctl.core.logsetup import RedactingFilter, redact, register_secret


def test_registered_secret_is_redacted(caplog):
    register_secret("hunter2-community")
    logger = logging.getLogger("opsctl.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="opsctl.test"):
        logger.info("polling with %s at %s", "hunter2-community", "10.0.0.1")
    assert "hunter2-community" not in caplog.text
    assert "**** at 10.0.0.1" in caplog.text
    assert redact("x hunter2-community y") == "x **** y"
