"""Signatures made with the keys people already have: a real ssh-agent and ssh-keygen.
Signing as someone else needs their key; every signature verifies with stock
`ssh-keygen -Y verify`; people without a key sign "login only", and reports say so."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from duty_support import make_env, two_shift_config


@pytest.fixture()
def agent(tmp_path, monkeypatch):
    keys = {}
    for name in ("a1", "b1", "mallory"):
        path = tmp_path / "keys" / name
        path.parent.mkdir(exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                        str(path)], check=True)
        keys[name] = path
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(line.split(";")[0].split("=", 1) for line in out.splitlines()
               if line.startswith(("SSH_AUTH_SOCK=", "SSH_AGENT_PID=")))
    monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])

    def add(name: str) -> None:
        subprocess.run(["ssh-add", "-q", str(keys[name])], check=True,
                       env=dict(os.environ, SSH_AUTH_SOCK=env["SSH_AUTH_SOCK"]),
                       capture_output=True)

    yield keys, add
    subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


def _config(keys) -> str:
    text = two_shift_config()
    for name in ("a1", "b1"):
        pub = (keys[name].with_suffix(".pub")).read_text().strip()
        text = text.replace(f"  - {{name: {name}, lead: true}}",
                            f"  - {{name: {name}, lead: true, ssh_key: \"{pub}\"}}")
    return text


def _ready_handover(env) -> None:
    env.run("duty", "log", "add", "quiet night", "--by", "a1")
    env.run("duty", "handover", "start", "--from", "a1", "--to", "b1")
    env.run("duty", "handover", "inventory", "torch", "2")
    env.run("duty", "handover", "inventory", "rack keys", "4")
    env.run("duty", "handover", "snapshot")


def test_handover_signed_with_each_persons_own_key(tmp_path, agent):
    keys, add = agent
    env = make_env(tmp_path / "site", _config(keys))
    _ready_handover(env)
    # root at the console, but only a1's key in the agent: signing as b1 is refused
    add("a1")
    env.run("duty", "handover", "sign", "--as", "a1")
    p = env.run("duty", "handover", "sign", "--as", "b1", check=1)
    assert "b1's key is not in your ssh-agent" in p.stderr
    add("mallory")                                  # a key, but not b1's
    env.run("duty", "handover", "sign", "--as", "b1", check=1)
    add("b1")
    done = json.loads(env.run("--json", "duty", "handover", "sign", "--as", "b1").stdout)
    assert done["state"] == "complete"
    checks = json.loads(env.run("--json", "duty", "signatures").stdout)
    assert checks["ok"] and [(c["signer"], c["method"]) for c in checks["signatures"]] == [
        ("a1", "sshsig"), ("b1", "sshsig")]
    assert all("Good" in c["verdict"] for c in checks["signatures"])
    # stock OpenSSH checks the same signature, with the allowed-signers file opsctl writes
    allowed = tmp_path / "allowed_signers"
    env.run("duty", "allowed-signers", "-o", str(allowed))
    entry = next(e for e in json.loads(env.run("--json", "duty", "log", "list").stdout)
                 if e["text"].startswith("handover 1 signed by b1"))
    rec = json.loads(env.run("--json", "duty", "log", "show", str(entry["seq"])).stdout)
    sig = rec["details"]["signature"] if "details" in rec else rec["entry"]["details"][
        "signature"]
    from opsctl.handover.signatures import payload_bytes

    (tmp_path / "sig").write_text(sig["signature"])
    v = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "b1", "-n",
                        "opsctl-duty", "-s", str(tmp_path / "sig")],
                       input=payload_bytes(sig["what"], sig["payload"]), capture_output=True)
    assert v.returncode == 0 and b"Good" in v.stdout
    # a wrong key: the same signature does not verify for a1
    w = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "a1", "-n",
                        "opsctl-duty", "-s", str(tmp_path / "sig")],
                       input=payload_bytes(sig["what"], sig["payload"]), capture_output=True)
    assert w.returncode != 0


def test_a_signature_from_a_replaced_key_does_not_verify(tmp_path, agent):
    keys, add = agent
    env = make_env(tmp_path / "site", _config(keys))
    _ready_handover(env)
    add("a1")
    env.run("duty", "handover", "sign", "--as", "a1")
    # the config now says a1's key is mallory's: the recorded signature no longer matches
    pub_a1 = keys["a1"].with_suffix(".pub").read_text().strip()
    pub_m = keys["mallory"].with_suffix(".pub").read_text().strip()
    env.config.write_text(env.config.read_text().replace(pub_a1, pub_m))
    checks = json.loads(env.run("--json", "duty", "signatures", check=2).stdout)
    assert not checks["ok"] and checks["signatures"][0]["signer"] == "a1"


def test_people_without_a_key_sign_login_only(tmp_path):
    env = make_env(tmp_path, two_shift_config())
    _ready_handover(env)
    env.run("duty", "handover", "sign", "--as", "a1")
    checks = json.loads(env.run("--json", "duty", "signatures").stdout)
    assert [c["method"] for c in checks["signatures"]] == ["login only"]
    shown = env.run("duty", "signatures").stdout
    assert "login only" in shown
