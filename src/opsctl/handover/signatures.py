"""Who signed: handover signatures and roster approvals as SSH signatures made with the
person's own key (through their ssh-agent), or "login only" where a person has no key.

The signature and what it covers go into the duty-log entry that records the act, so
they are part of the hash chain; ``verify_log`` re-checks every one with
``ssh-keygen -Y verify`` against the configured keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from opsctl.core import sshsig
from opsctl.core.identity import current_user
from opsctl.handover.schema import duty_log

LOGIN_ONLY = "login only"
SSHSIG = "sshsig"


def payload_bytes(what: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"what": what, **payload}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"), default=str).encode()


def sign(cfg, name: str, what: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The signature record for ``name`` doing ``what``: SSHSIG with their configured key
    (refused without that key in the caller's agent), else "login only"."""
    person = cfg.person(name)
    base = {"what": what, "signer": person.name, "payload": payload, "login": current_user()}
    if not person.ssh_key:
        return base | {"method": LOGIN_ONLY}
    data = payload_bytes(what, payload)
    return base | {"method": SSHSIG, "signature": sshsig.sign(data, person.ssh_key, person.name),
                   "payload_sha256": hashlib.sha256(data).hexdigest()}


@dataclass
class SignatureCheck:
    seq: int
    what: str
    signer: str
    method: str
    ok: bool
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def verify_log(cfg, store) -> list[SignatureCheck]:
    """Every signature recorded in the duty log, checked against the configured keys."""
    signers = sshsig.allowed_signers(cfg.people)
    out: list[SignatureCheck] = []
    with store.read() as conn:
        rows = conn.execute(sa.select(duty_log.c.seq, duty_log.c.details)
                            .where(duty_log.c.details.like('%"signature":%'))
                            .order_by(duty_log.c.seq)).all()
    for seq, details in rows:
        rec = (json.loads(details) or {}).get("signature")
        if not isinstance(rec, dict):
            continue
        method, signer, what = rec.get("method"), rec.get("signer", "?"), rec.get("what", "?")
        if method == LOGIN_ONLY:
            out.append(SignatureCheck(seq, what, signer, method, True,
                                      f"login only (by login {rec.get('login')}): no key"))
            continue
        data = payload_bytes(what, rec.get("payload") or {})
        ok, verdict = sshsig.verify(data, rec.get("signature") or "", signer, signers)
        out.append(SignatureCheck(seq, what, signer, str(method), ok, verdict))
    return out
