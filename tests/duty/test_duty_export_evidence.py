"""Exports as evidence, through the real CLI: the record as written (no redaction), CSV
cells that a spreadsheet would run neutralised reversibly, a cut-off head is truncation,
manifests SSH-signed by the exporting person (a real ssh-agent and ssh-keygen) and tied to
the seals, so an export of a consistently forged store fails with the verification key;
Excel CSV (BOM, CRLF) read back as Excel would."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from duty_support import local_day, make_env, two_shift_config
from test_duty_seal import forge

from opsctl.handover import seal

FORMULAS = ["=HYPERLINK(\"http://evil\",\"click\")", "+1+2", "-3 degrees", "@SUM(A1)",
            "\ttab first", "\rcr first", "'quoted already"]


def _entries(env) -> list[dict]:
    return json.loads(env.run("--json", "duty", "log", "list").stdout)


def _day(env) -> str:
    entries = _entries(env)
    assert local_day(entries[0]["ts"]) == local_day(entries[-1]["ts"])
    return local_day(entries[-1]["ts"])


def _export(env, *args: str, check: int = 0):
    day = _day(env)
    p = env.run("--json", "duty", "export", "--from", day, "--to", day, *args, check=check)
    return (Path(json.loads(p.stdout)["manifest"]) if check == 0 else p), day


def _refresh_manifest(manifest: Path) -> None:
    """What a forger does after editing a file: fix up the manifest's hashes."""
    m = json.loads(manifest.read_text())
    for f in m["files"]:
        data = (manifest.parent / f["name"]).read_bytes()
        f["sha256"], f["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    manifest.write_text(json.dumps(m, sort_keys=True, indent=1, ensure_ascii=False) + "\n")


def test_export_verifies_as_written_and_neutralises_formulas(tmp_path):
    # The device's SNMP community is a word that also appears in duty text (issue 19).
    env = make_env(tmp_path, two_shift_config() + (
        "devices:\n  - {name: ups1, kind: ups, host: 10.0.0.5, "
        "snmp: {version: 2c, community: rack7}}\n"))
    p = env.run("duty", "log", "add", "breaker of rack7 tripped", "--by", "a1")
    assert "holds as a secret" in p.stderr
    for text in FORMULAS:
        env.run("duty", "log", "add", "--by", "a1", "--", text)
    manifest, day = _export(env, "--format", "csv", "--format", "json")
    v = env.run("duty", "verify-export", str(manifest))
    assert "export intact" in v.stdout and "login only" in v.stdout
    base = manifest.parent / f"duty-{day}_{day}"
    raw = base.with_suffix(".csv").read_text()
    assert "breaker of rack7 tripped" in raw and "****" not in raw
    with open(base.with_suffix(".csv"), newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    # Every formula-like cell starts with "'" (one more where one was already there).
    assert texts == ["breaker of rack7 tripped"] + ["'" + t for t in FORMULAS]
    # JSON stays raw.
    data = json.loads(base.with_suffix(".json").read_text())
    assert [e["text"] for e in data["duty_log"]] == ["breaker of rack7 tripped", *FORMULAS]
    m = json.loads(manifest.read_text())
    assert m["csv"] == {"encoding": "utf-8", "line_end": "lf", "formula_prefix": "'"}
    # Removing a neutralising quote is an edit like any other: the row's hash is
    # recomputed from the cell with exactly one "'" stripped.
    csv_path = base.with_suffix(".csv")
    csv_path.write_text(raw.replace("''quoted already", "'quoted already"))
    _refresh_manifest(manifest)
    bad = env.run("duty", "verify-export", str(manifest), check=2)
    assert "entry 8 does not match its hash" in bad.stderr
    # handovers and inspections CSVs are neutralised too
    from opsctl.handover.export import _csv

    assert _csv(("a",), [{"a": "=1"}, {"a": "ok"}]) == b"a\n'=1\nok\n"


def test_a_cut_off_head_row_is_truncation(env):
    for i in range(4):
        env.run("duty", "log", "add", f"entry {i}", "--by", "a1")
    manifest, day = _export(env, "--format", "csv", "--format", "json")
    env.run("duty", "verify-export", str(manifest))
    # The last entries cut off the CSV and the manifest's hashes fixed up: the rows that
    # are left still chain, but the head the manifest records is gone.
    csv_path = manifest.parent / f"duty-{day}_{day}.csv"
    csv_path.write_text("".join(csv_path.read_text().splitlines(keepends=True)[:3]))
    _refresh_manifest(manifest)
    p = env.run("duty", "verify-export", str(manifest), check=2)
    assert "truncated: manifest says 4 entries / head 4, file ends at 2" in p.stderr
    # JSON alike
    manifest, day = _export(env, "--format", "json")
    jpath = manifest.parent / f"duty-{day}_{day}.json"
    data = json.loads(jpath.read_text())
    data["duty_log"] = data["duty_log"][:3]
    jpath.write_text(json.dumps(data))
    _refresh_manifest(manifest)
    p = env.run("duty", "verify-export", str(manifest), check=2)
    assert "truncated: manifest says 4 entries / head 4, file ends at 3" in p.stderr
    # An intact export of a log whose newest entries were deleted afterwards (and the
    # head rewritten): the export's head is not in the log any more.
    manifest, day = _export(env, "--format", "csv")
    env.sqlite("DELETE FROM duty_log WHERE seq > 2")
    p = env.run("duty", "verify-export", str(manifest), check=2)
    assert "chain head entry 4 of the export is not in the log" in p.stderr
    assert "truncated" in p.stderr


def test_excel_csv_with_bom_and_crlf_and_full_names(tmp_path):
    text = two_shift_config().replace("{name: a1, lead: true}",
                                      "{name: a1, lead: true, full_name: 张伟}")
    text = text.replace("duty:\n", "duty:\n  export_excel: true\n")
    env = make_env(tmp_path, text)
    env.run("duty", "log", "add", "机房巡检正常，温度 22℃", "--by", "a1")
    env.run("duty", "log", "add", "--by", "b1", "--", "=1+1 不是公式")
    manifest, day = _export(env)                     # the config default: Excel
    base = manifest.parent / f"duty-{day}_{day}"
    raw = base.with_suffix(".csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 3
    assert b"\n" not in raw.replace(b"\r\n", b"")
    # The manifest covers the file as written (the BOM and the CRLFs included).
    m = json.loads(manifest.read_text())
    f = next(f for f in m["files"] if f["name"] == base.with_suffix(".csv").name)
    assert f["sha256"] == hashlib.sha256(raw).hexdigest() and f["bytes"] == len(raw)
    assert m["csv"]["encoding"] == "utf-8-sig" and m["csv"]["line_end"] == "crlf"
    # Read back as Excel does (UTF-8 with a BOM).
    with open(base.with_suffix(".csv"), newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:8] == ["seq", "time_utc", "local_time", "kind", "category",
                                 "severity", "author", "author_name"]
    assert [(r["author"], r["author_name"], r["text"]) for r in rows] == [
        ("a1", "张伟", "机房巡检正常，温度 22℃"), ("b1", "", "'=1+1 不是公式")]
    assert base.with_suffix(".handovers.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    env.run("duty", "verify-export", str(manifest))
    # --no-excel overrides the config: plain UTF-8, LF
    manifest, day = _export(env, "--no-excel", "--format", "csv", "--format", "json")
    raw = (manifest.parent / f"duty-{day}_{day}.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    data = json.loads((manifest.parent / f"duty-{day}_{day}.json").read_text())
    assert data["duty_log"][0]["author_name"] == "张伟"
    env.run("duty", "verify-export", str(manifest))


# -- signed manifests and seals ---------------------------------------------------------------
@pytest.fixture()
def agent(tmp_path, monkeypatch):
    keys = {}
    for name in ("a1", "mallory"):
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
        subprocess.run(["ssh-add", "-q", str(keys[name])], check=True, capture_output=True,
                       env=dict(os.environ, SSH_AUTH_SOCK=env["SSH_AUTH_SOCK"]))

    yield keys, add
    subprocess.run(["kill", env["SSH_AGENT_PID"]], check=False)


def _keyed_env(root: Path, keys) -> object:
    pub = keys["a1"].with_suffix(".pub").read_text().strip()
    return make_env(root, two_shift_config().replace(
        "{name: a1, lead: true}", f"{{name: a1, lead: true, ssh_key: \"{pub}\"}}"))


def test_manifest_signed_by_the_exporting_person(tmp_path, agent):
    keys, add = agent
    env = _keyed_env(tmp_path / "site", keys)
    env.run("duty", "log", "add", "quiet night", "--by", "a1")
    # a1 has a key, but it is not in the agent: no export (nothing written)
    p, day = _export(env, "--by", "a1", "-o", str(tmp_path / "refused" / "x.csv"), check=1)
    assert "a1's key is not in your ssh-agent" in p.stderr
    assert not list((tmp_path / "refused").glob("*"))
    add("a1")
    manifest, day = _export(env, "--by", "a1")
    sig = manifest.with_name(manifest.name + ".sig")
    assert sig.read_text().startswith("-----BEGIN SSH SIGNATURE-----")
    m = json.loads(manifest.read_text())
    assert m["signed_by"]["name"] == "a1" and m["signed_by"]["method"] == "sshsig"
    out = json.loads(env.run("--json", "duty", "verify-export", str(manifest)).stdout)
    assert out["ok"] and out["signature"]["ok"] and "Good" in out["signature"]["verdict"]
    # stock OpenSSH verifies it with the allowed-signers file opsctl writes
    allowed = tmp_path / "allowed_signers"
    env.run("duty", "allowed-signers", "-o", str(allowed))
    with open(manifest, "rb") as fh:
        v = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "a1", "-n",
                            "opsctl-export", "-s", str(sig)], stdin=fh, capture_output=True)
    assert v.returncode == 0 and b"Good" in v.stdout
    # not as a handover signature (another namespace)
    with open(manifest, "rb") as fh:
        w = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "a1", "-n",
                            "opsctl-duty", "-s", str(sig)], stdin=fh, capture_output=True)
    assert w.returncode != 0
    env.run("duty", "verify-export", str(manifest), "--allowed-signers", str(allowed))
    # An edited manifest (here: who exported) no longer matches its signature.
    m["signed_by"]["login"] = "someone-else"
    manifest.write_text(json.dumps(m, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
    p = env.run("duty", "verify-export", str(manifest), check=2)
    assert "manifest signature" in p.stderr
    # A wrong key: the allowed signers say a1's key is mallory's.
    manifest, day = _export(env, "--by", "a1")
    pub_m = keys["mallory"].with_suffix(".pub").read_text().strip()
    wrong = tmp_path / "wrong_signers"
    wrong.write_text(f'a1 namespaces="opsctl-export" {pub_m}\n')
    env.run("duty", "verify-export", str(manifest), "--allowed-signers", str(wrong), check=2)
    # A person without a key exports "login only": reported, and refused where a
    # signature is required (an allowed-signers file given).
    manifest, day = _export(env, "--by", "a2")
    assert not manifest.with_name(manifest.name + ".sig").exists()
    p = env.run("duty", "verify-export", str(manifest))
    assert "login only" in p.stdout
    p = env.run("duty", "verify-export", str(manifest), "--allowed-signers", str(allowed),
                check=2)
    assert "not signed" in p.stderr


T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


def test_export_of_a_forged_store_fails_with_the_verification_key(tmp_path, agent):
    keys, add = agent
    add("a1")
    env = _keyed_env(tmp_path / "site", keys)
    cfg, store = env.cfg(), env.store()
    vkey = seal.init(cfg, store, now=T0).encode()
    for epoch in range(3):
        for i in range(4):
            env.run("duty", "log", "add", f"epoch {epoch} entry {i}", "--by", "a1")
        assert seal.seal_now(cfg, store, now=T0 + dt.timedelta(minutes=15 * epoch + 10)).sealed
    env.run("duty", "log", "add", "after the last seal", "--by", "a1")
    manifest, day = _export(env, "--by", "a1", "--format", "csv", "--format", "json")
    m = json.loads(manifest.read_text())
    assert m["chain_head"]["seq"] == 13
    assert [s["head_seq"] for s in m["seals"]["covering"]] == [4, 8, 12]
    assert m["seals"]["latest"]["epoch"] == 2
    out = json.loads(env.run("--json", "duty", "verify-export", str(manifest),
                             "--verification-key", vkey).stdout)
    assert out["ok"] and out["seals"]["sealed_head"] == 12
    assert out["seals"]["unsealed_entries"] == 1

    # An auditor's machine: the export, the verification key and the people's keys only.
    allowed = tmp_path / "allowed_signers"
    env.run("duty", "allowed-signers", "-o", str(allowed))
    audit = make_env(tmp_path / "auditor", "site: {name: audit}\nstate_dir: state\n")
    shutil.copytree(manifest.parent, audit.root / "export")
    (audit.root / "vkey.txt").write_text(vkey + "\n")
    copy = audit.root / "export" / manifest.name
    p = audit.run("duty", "verify-export", str(copy), "--allowed-signers", str(allowed),
                  "--verification-key-file", str(audit.root / "vkey.txt"))
    assert "Good" in p.stdout and "entries up to 12 sealed" in p.stdout
    assert not (audit.root / "state" / "opsctl.db").exists()

    # The forgery: entry 9 rewritten, every hash and the head recomputed; the intruder,
    # holding the host's current sealing key, even seals the forged head in a new epoch.
    forge(env.db, 9, "nothing happened")
    assert seal.seal_now(cfg, store, now=T0 + dt.timedelta(minutes=50)).sealed
    env.run("duty", "log", "verify")                      # the chain alone is fooled
    forged, day = _export(env, "--by", "a1", "--format", "csv", "--format", "json")
    env.run("duty", "verify-export", str(forged))         # and so is the manifest alone
    p = env.run("duty", "verify-export", str(forged), "--verification-key", vkey, check=2)
    assert "entry 12 is not the one sealed in epoch 2" in p.stderr
    # a verification key of another sealing key is named as such
    other = seal.VerificationKey(os.urandom(32), 0, 900).encode()
    p = env.run("duty", "verify-export", str(forged), "--verification-key", other, check=2)
    assert "belongs to another sealing key" in p.stderr
    store.close()
