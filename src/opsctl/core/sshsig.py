"""SSH signatures (the ``ssh-keygen -Y sign`` / SSHSIG format git uses) made through the
signer's ssh-agent and checked with ``ssh-keygen -Y verify`` against an allowed-signers
file, so anyone can check them with stock OpenSSH.

Only the public key comes from the config; the private key stays in the person's agent.
Signing as someone else therefore needs their key, not only their name.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from opsctl.core.errors import OpsError, SafetyError, ToolMissingError

NAMESPACE = "opsctl-duty"
EXPORT_NAMESPACE = "opsctl-export"  # export manifests: a duty signature cannot pass as one
TIMEOUT = 30


def _keygen() -> str:
    import shutil

    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise ToolMissingError("ssh-keygen is not installed (needed for SSH signatures)",
                               hint="apt-get install openssh-client")
    return exe


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "SSH_AUTH_SOCK", "LANG")} | {"LC_ALL": "C"}


def sign(data: bytes, public_key: str, who: str, namespace: str = NAMESPACE) -> str:
    """The armored SSHSIG of ``data`` by the agent key matching ``public_key``."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        raise SafetyError(f"signing as {who} needs {who}'s SSH key in an ssh-agent, and no "
                          "agent is reachable (SSH_AUTH_SOCK is not set)",
                          hint="ssh-add the key; through sudo keep SSH_AUTH_SOCK "
                               "(Defaults env_keep += SSH_AUTH_SOCK)")
    with tempfile.TemporaryDirectory(prefix="opsctl-sig-") as tmp:
        # Only the public key in this directory: ssh-keygen must go to the agent.
        pub = Path(tmp) / "signer.pub"
        pub.write_text(public_key + "\n")
        try:
            p = subprocess.run([_keygen(), "-Y", "sign", "-n", namespace, "-f", str(pub)],
                               input=data, capture_output=True, timeout=TIMEOUT, env=_env(),
                               check=False)
        except subprocess.TimeoutExpired:
            raise OpsError("ssh-keygen -Y sign timed out (an agent asking for confirmation?)"
                           ) from None
    if p.returncode != 0 or b"BEGIN SSH SIGNATURE" not in p.stdout:
        why = p.stderr.decode(errors="replace").strip().splitlines()
        raise SafetyError(f"could not sign as {who}: {who}'s key is not in your ssh-agent"
                          + (f" ({why[-1]})" if why else ""),
                          hint=f"signing as {who} needs {who}'s own key (ssh-add it)")
    return p.stdout.decode()


def allowed_signers(people) -> str:
    """An allowed-signers file (``man ssh-keygen``, ALLOWED SIGNERS) for the configured
    people's keys; principals are the people's names."""
    lines = [f'{p.name} namespaces="{NAMESPACE},{EXPORT_NAMESPACE}" {p.ssh_key}'
             for p in people if p.ssh_key]
    return "\n".join(lines) + ("\n" if lines else "")


def verify(data: bytes, signature: str, principal: str, signers: str,
           namespace: str = NAMESPACE) -> tuple[bool, str]:
    """(ok, ssh-keygen's one-line verdict)."""
    with tempfile.TemporaryDirectory(prefix="opsctl-sig-") as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(signers)
        sig = Path(tmp) / "data.sig"
        sig.write_text(signature)
        p = subprocess.run([_keygen(), "-Y", "verify", "-f", str(allowed), "-I", principal,
                            "-n", namespace, "-s", str(sig)], input=data, capture_output=True,
                           timeout=TIMEOUT, env=_env(), check=False)
    text = (p.stdout or p.stderr).decode(errors="replace").strip().splitlines()
    return p.returncode == 0, text[-1] if text else f"ssh-keygen exit {p.returncode}"
