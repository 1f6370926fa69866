"""Signed export manifests: the exporting person signs the manifest bytes with their SSH
key through their ssh-agent (SSHSIG, namespace ``opsctl-export``), beside it as
``NAME.manifest.json.sig``, so anyone checks it with stock OpenSSH::

    ssh-keygen -Y verify -f allowed_signers -I alice -n opsctl-export \\
        -s NAME.manifest.json.sig < NAME.manifest.json

A person without a configured key (or an export nobody in particular made, such as the
daemon's) is recorded "login only": the manifest names the login and carries no
signature. Signing reuses ``core.sshsig`` (the same signer as handovers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsctl.core import sshsig
from opsctl.core.identity import current_user, person_for_user
from opsctl.handover.signatures import LOGIN_ONLY, SSHSIG

SUFFIX = ".sig"


def signer_record(cfg, name: str | None, *, sign: bool = True) -> tuple[dict[str, Any], Any]:
    """(the manifest's ``signed_by``, the person or None). ``name`` is --by (already
    checked to be someone the caller may act as); else the caller's mapped person.
    ``sign=False`` (the daemon: no agent, nobody at the keyboard) records "login only"."""
    person = cfg.person(name) if name else person_for_user(cfg)
    rec: dict[str, Any] = {"name": person.name if person else None, "login": current_user()}
    if sign and person is not None and person.ssh_key:
        return rec | {"method": SSHSIG, "namespace": sshsig.EXPORT_NAMESPACE}, person
    return rec | {"method": LOGIN_ONLY}, person


def sign(person, data: bytes) -> str:
    """The armored SSHSIG of the manifest bytes (refused without the key in the agent)."""
    return sshsig.sign(data, person.ssh_key, person.name, namespace=sshsig.EXPORT_NAMESPACE)


def sig_path(manifest: Path) -> Path:
    return manifest.with_name(manifest.name + SUFFIX)


@dataclass
class SignatureVerdict:
    ok: bool
    signed: bool
    signer: str | None
    method: str
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def verify(manifest_path: Path, data: bytes, signed_by: dict[str, Any] | None,
           signers: str | None, *, required: bool = False) -> SignatureVerdict:
    """The manifest's signature against ``signers`` (an allowed-signers file's text).
    A "login only" manifest is reported as such; with ``required`` it fails."""
    signed_by = signed_by or {}
    name, method = signed_by.get("name"), signed_by.get("method") or LOGIN_ONLY
    if method != SSHSIG:
        why = (f"not signed: exported by login {signed_by.get('login', '?')}"
               + (f" as {name}" if name else "") + " (login only)")
        return SignatureVerdict(not required, False, name, LOGIN_ONLY, why)
    try:
        sig = sig_path(manifest_path).read_text()
    except FileNotFoundError:
        return SignatureVerdict(False, True, name, SSHSIG, f"the signature file "
                                f"{sig_path(manifest_path).name} is missing")
    except (OSError, UnicodeDecodeError) as exc:
        return SignatureVerdict(False, True, name, SSHSIG, f"cannot read the signature: {exc}")
    if not signers or not name:
        return SignatureVerdict(False, True, name, SSHSIG,
                                f"no key for {name} to check the signature with (configure "
                                "people[].ssh_key or give --allowed-signers FILE)")
    ok, verdict = sshsig.verify(data, sig, name, signers, namespace=sshsig.EXPORT_NAMESPACE)
    return SignatureVerdict(ok, True, name, SSHSIG, verdict)
