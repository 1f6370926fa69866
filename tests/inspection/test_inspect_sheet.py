"""`opsctl inspect report --format pdf`: a printable report with Chinese names, answers and
notes, read back with pdftotext (page x of y, each page's first and last run and its
record digest, the full name of who walked), and the full name in show/list/report JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess

import pytest
from inspect_helpers import load, opsctl, opsctl_json, profile, store_for, write_config

from opsctl.core.errors import Status

pytestmark = pytest.mark.slow

try:
    import weasyprint  # noqa: F401
    HAVE_WEASYPRINT = True
except (ImportError, OSError):
    HAVE_WEASYPRINT = False


def _runs(tmp_path):
    from opsctl.inspection.model import InspectionRecord, ItemResult
    from opsctl.inspection.records import save

    path = write_config(tmp_path, [profile("patrol", [{"id": "q", "question": "正常吗?"}])],
                        site={"name": "北京一号机房", "timezone": "Asia/Shanghai"})
    text = path.read_text().replace("name: alice\n", "name: alice\n  full_name: 张伟\n")
    path.write_text(text)
    store = store_for(load(path))
    t0 = dt.datetime(2026, 3, 30, 1, tzinfo=dt.UTC)
    for i in range(12):
        when = t0 + dt.timedelta(hours=2 * i)
        items = [ItemResult(n, f"门{n}", "manual", Status.OK, "已检查",
                            answer=True, note=f"第{i}轮 机柜{n}门已锁 <b>x</b>")
                 for n in range(1, 7)]
        save(store, InspectionRecord("patrol", "alice", "h1", when,
                                     when + dt.timedelta(minutes=5), Status.OK, items))
    store.close()
    return path


@pytest.mark.skipif(not HAVE_WEASYPRINT or shutil.which("pdftotext") is None,
                    reason="WeasyPrint (pip, in .[test]) and pdftotext (poppler-utils) are "
                           "needed; tests/setup.sh installs them with fonts-noto-cjk")
def test_inspection_report_pdf_in_chinese(tmp_path):
    path = _runs(tmp_path)
    args = ("-c", str(path), "inspect", "report", "--from", "2026-03-30", "--to", "2026-03-31")
    _, data = opsctl_json(*args)
    assert data["runs"][0]["inspector_full_name"] == "张伟"
    out = tmp_path / "r.pdf"
    proc = opsctl(*args, "--format", "pdf", "-o", str(out))
    assert proc.returncode == 0 and "pages" in proc.stdout, proc.stderr
    n = int(re.search(r"Pages:\s+(\d+)", subprocess.run(
        ["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout).group(1))
    assert n >= 2
    digests = {r["id"]: hashlib.sha256(json.dumps(r, sort_keys=True, ensure_ascii=False)
                                       .encode()).hexdigest() for r in data["runs"]}
    seen = []
    for i in range(1, n + 1):
        page = subprocess.run(["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(out),
                               "-"], capture_output=True, text=True, check=True).stdout
        assert f"page {i} of {n}" in page and "北京一号机房" in page
        m = re.search(r"last: +run #(\d+) ([0-9a-f]{64})", page)
        if m:
            assert digests[int(m.group(1))] == m.group(2)
            seen.append(int(m.group(1)))
    assert seen and seen == sorted(seen) and seen[-1] == max(digests)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = re.sub(r"\s+", "", text)  # table cells wrap where they like
    assert "alice(张伟)" in flat and "第11轮机柜6门已锁<b>x</b>" in flat
    assert "Asia/Shanghai" in text
    assert "needs -o" in opsctl(*args, "--format", "pdf").stderr


def test_full_name_in_show_and_list(tmp_path):
    path = _runs(tmp_path)
    _, shown = opsctl_json("-c", str(path), "inspect", "show", "1")
    assert shown["inspector_full_name"] == "张伟" and shown["inspector"] == "alice"
    _, listed = opsctl_json("-c", str(path), "inspect", "list", "--from", "2026-03-30",
                            "--to", "2026-03-31")
    assert {r["inspector_full_name"] for r in listed} == {"张伟"}
    assert "alice (张伟)" in opsctl("-c", str(path), "inspect", "show", "1").stdout
