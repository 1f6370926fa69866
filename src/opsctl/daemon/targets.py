"""Sending one message to one alert target: email (SMTP), webhook (JSON POST), command.

Each sender raises :class:`DeliveryError` with a one-line reason; retrying, threading and
recording are the pipeline's business (``opsctl.daemon.alerts``).
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading

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
    """One SMTP session with a total deadline of ``target.timeout`` seconds (connect,
    banner, TLS, login, the message): a server dripping its banner a byte at a time fails
    like a dead one instead of holding the target's queue for minutes.

    smtplib's timeout is per socket read and it connects inside its constructor, so the
    session runs in a worker thread: at the deadline the attempt fails and the session's
    socket is shut down (a session still in its constructor ends at its next read)."""
    import socket

    session: dict[str, object] = {}
    failed: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            _smtp_session(target, payload, recipients, session)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name=f"opsctl-smtp-{target.name}", daemon=True).start()
    if not done.wait(target.timeout):
        session["expired"] = True
        sock = getattr(session.get("smtp"), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise DeliveryError(f"SMTP {target.smtp_host}:{target.smtp_port}: not done within "
                            f"{target.timeout:g}s")
    if failed:
        raise failed[0]


def _smtp_session(target: EmailTarget, payload: dict, recipients: list[str] | None,
                  session: dict[str, object]) -> None:
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
        session["smtp"] = smtp
        if session.get("expired"):   # the caller gave up while we were connecting
            smtp.close()
            return
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


def safe_url(url: str) -> str:
    """``url`` without its ``user:password@`` part, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def send_webhook(target: WebhookTarget, payload: dict) -> None:
    """One POST with a total deadline of ``target.timeout`` seconds (connect, send, the
    whole answer): a receiver dripping a byte at a time fails like a dead one.

    Redirects are not followed: a 3xx is a failed delivery (following it would re-send
    the payload and the credentials to wherever the Location points)."""
    import base64
    import http.client
    import socket
    from urllib.parse import unquote, urlsplit

    shown = safe_url(target.url)
    parts = urlsplit(target.url)
    data = json.dumps(payload, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "opsctl-daemon"}
    headers.update(target.headers)
    if parts.username is not None:
        creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(creds).decode()
    if target.token is not None:
        headers["Authorization"] = f"Bearer {reveal(target.token)}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise DeliveryError(f"webhook {shown}: invalid port") from None
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=target.timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=target.timeout)
    expired = threading.Event()

    def cut() -> None:
        # Per-read timeouts do not bound the total: close the socket at the deadline.
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(target.timeout, cut)
    timer.daemon = True
    timer.start()
    try:
        conn.request("POST", path, body=data, headers=headers)
        resp = conn.getresponse()
        resp.read(65536)
        status = resp.status
        location = resp.getheader("Location")
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise DeliveryError(f"webhook {shown}: no complete answer within "
                                f"{target.timeout:g}s") from None
        raise DeliveryError(f"webhook {shown} unreachable: {exc}") from None
    finally:
        timer.cancel()
        conn.close()
    if expired.is_set():
        raise DeliveryError(f"webhook {shown}: no complete answer within "
                            f"{target.timeout:g}s")
    if 300 <= status < 400:
        raise DeliveryError(f"webhook {shown}: HTTP {status} redirect to "
                            f"{safe_url(location or '?')} not followed (fix the URL)")
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook {shown}: HTTP {status}")


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
