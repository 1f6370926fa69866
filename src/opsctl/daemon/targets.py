"""Sending one message to one alert target: email (SMTP), webhook (JSON POST), command.

Each sender raises :class:`DeliveryError` with a one-line reason; retrying, threading and
recording are the pipeline's business (``opsctl.daemon.alerts``).
"""

from __future__ import annotations

import json
import ssl

from opsctl.core.config.alerts import CommandTarget, EmailTarget, WebhookTarget
from opsctl.core.config.secrets import reveal
from opsctl.core.errors import OpsError
from opsctl.core.runner import Runner


class DeliveryError(Exception):
    pass


def subject_line(payload: dict) -> str:
    site = payload.get("site") or "opsctl"
    if payload.get("purpose") == "reminder":
        return f"[{site}] reminder: {payload['message']}"
    prefix = "ESCALATED " if payload.get("purpose") == "escalation" else ""
    return f"[{site}] {prefix}{payload['severity'].upper()}: {payload['message']}"


def body_text(payload: dict) -> str:
    lines = [payload["message"], ""]
    for key in ("id", "severity", "source", "kind", "subject", "first_seen", "count", "room"):
        if payload.get(key) not in (None, ""):
            lines.append(f"{key}: {payload[key]}")
    if payload.get("details"):
        lines += ["", "details:", json.dumps(payload["details"], indent=2, default=str)]
    if payload.get("id") and payload.get("purpose") != "reminder":
        lines += ["", f"Acknowledge with: opsctl daemon ack {payload['id']}"]
    return "\n".join(lines) + "\n"


def send_email(target: EmailTarget, payload: dict, recipients: list[str] | None = None) -> None:
    # smtplib, urllib.request and the email generator are imported when an alert is
    # delivered, not by every daemon start (~1 MB resident in a process that may never mail).
    import smtplib
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    msg = EmailMessage()
    msg["From"] = target.sender
    msg["To"] = ", ".join(recipients or target.to)
    msg["Subject"] = subject_line(payload)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="opsctl")
    msg.set_content(body_text(payload))
    context = ssl.create_default_context(cafile=target.ca_file) if target.ca_file else \
        ssl.create_default_context()
    try:
        if target.ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(target.smtp_host, target.smtp_port,
                                                  timeout=target.timeout, context=context)
        else:
            smtp = smtplib.SMTP(target.smtp_host, target.smtp_port, timeout=target.timeout)
        with smtp:
            smtp.ehlo_or_helo_if_needed()
            if target.starttls and not target.ssl:
                smtp.starttls(context=context)
                smtp.ehlo()
            if target.username:
                password = reveal(target.password) or ""  # raises for an unreadable password_file
                smtp.login(target.username, password)
            refused = smtp.send_message(msg, to_addrs=recipients or target.to)
            if refused:
                raise DeliveryError(f"recipients refused: {', '.join(refused)}")
    except DeliveryError:
        raise
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"SMTP {target.smtp_host}:{target.smtp_port}: {exc}") from None
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(
            f"SMTP {target.smtp_host}:{target.smtp_port} unreachable: {exc}") from None


def send_webhook(target: WebhookTarget, payload: dict) -> None:
    import urllib.error
    import urllib.request

    data = json.dumps(payload, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "opsctl-daemon"}
    headers.update(target.headers)
    if target.token is not None:
        headers["Authorization"] = f"Bearer {reveal(target.token)}"
    req = urllib.request.Request(target.url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=target.timeout) as resp:
            resp.read(65536)
            if not 200 <= resp.status < 300:
                raise DeliveryError(f"webhook {target.url}: HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {target.url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"webhook {target.url} unreachable: {exc.reason}") from None
    except OSError as exc:  # includes TimeoutError
        raise DeliveryError(f"webhook {target.url}: {exc}") from None


def send_command(target: CommandTarget, payload: dict, runner: Runner | None = None) -> None:
    runner = runner or Runner()
    try:
        runner.run(target.command, input=json.dumps(payload, default=str) + "\n",
                   timeout=target.timeout)
    except OpsError as exc:
        raise DeliveryError(f"command {target.name}: {exc}") from None


def send(target, payload: dict, *, recipients: list[str] | None = None,
         runner: Runner | None = None) -> None:
    if isinstance(target, EmailTarget):
        send_email(target, payload, recipients)
    elif isinstance(target, WebhookTarget):
        send_webhook(target, payload)
    elif isinstance(target, CommandTarget):
        send_command(target, payload, runner)
    else:  # pragma: no cover - the config schema only admits the three kinds
        raise DeliveryError(f"unsupported target type {type(target).__name__}")
