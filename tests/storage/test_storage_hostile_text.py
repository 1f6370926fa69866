"""fstab text never breaks a storage view: a hostile fstab (markup, escapes, bidi) through
`storage fstab list` and `storage fstab verify` (real findmnt) — shown literally with
controls spelled out, the JSON raw."""

from __future__ import annotations

import json
import os
import subprocess
import sys

RAW = ("\x1b", "\x07", "\r", "\u202e")
FSTAB = ("proc /proc proc defaults 0 0\n"
         "LABEL=[red]x[/red] /srv/[data]\x1b[2J ext4 defaults,nofail 0 2\n"
         "/dev/disk/by-uuid/0000\u202eevil /mnt/a\\040b[/x]\x07 xfs nofail 0 0\n")


def run(cfg, *args, columns="250"):
    return subprocess.run([sys.executable, "-m", "opsctl", "-c", cfg, *args],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, NO_COLOR="1", COLUMNS=columns))


def test_fstab_views_show_hostile_entries_escaped(tmp_path):
    path = tmp_path / "opsctl.yaml"
    path.write_text(f"site: {{name: t}}\nstate_dir: {tmp_path}/state\nstorage:\n"
                    f"  mdadm_conf: {tmp_path}/mdadm.conf\n  fstab: {tmp_path}/fstab\n")
    (tmp_path / "fstab").write_text(FSTAB)
    cfg = str(path)
    for columns in ("250", "80"):
        p = run(cfg, "storage", "fstab", "list", columns=columns)
        assert p.returncode == 0, p.stderr
        assert not any(c in p.stdout + p.stderr for c in RAW), p.stdout
    wide = run(cfg, "storage", "fstab", "list").stdout
    assert "LABEL=[red]x[/red]" in wide and "/srv/[data]\\x1b[2J" in wide
    assert "/dev/disk/by-uuid/0000\\u202eevil" in wide and "/mnt/a b[/x]\\x07" in wide
    rows = json.loads(run(cfg, "--json", "storage", "fstab", "list").stdout)
    assert rows[1]["file"] == "/srv/[data]\x1b[2J"
    p = run(cfg, "storage", "fstab", "verify")
    assert p.returncode == 1 and "internal error" not in p.stderr
    assert not any(c in p.stdout + p.stderr for c in RAW), p.stdout + p.stderr
