"""Exports: re-read and verified through the manifest, deterministic, atomic, private."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest
from duty_support import local_day

from opsctl.core.errors import OpsError


def _fill(env) -> str:
    env.run("duty", "log", "add", "patrol ok", "--category", "patrol", "--by", "a1")
    env.run("duty", "log", "add", "caller: <b>printer</b> | jammed, \"urgent\"",
            "--category", "call", "--by", "a1")
    entries = json.loads(env.run("--json", "duty", "log", "list").stdout)
    assert local_day(entries[0]["ts"]) == local_day(entries[-1]["ts"])
    return local_day(entries[0]["ts"])


def test_export_all_formats_verify_and_reread(env):
    day = _fill(env)
    out = json.loads(env.run("--json", "duty", "export", "--from", day, "--to", day,
                             "--verify-chain", "--format", "csv", "--format", "json", "--format", "md",
                             "--format", "html").stdout)
    manifest = Path(out["manifest"])
    assert manifest.parent == env.root / "exports"
    m = json.loads(manifest.read_text())
    assert m["entries"] == 2 and m["chain_head"]["seq"] == 2 and m["chain_head"]["intact"] is True
    names = {f["name"] for f in m["files"]}
    assert names == {f"duty-{day}_{day}{s}" for s in (
        ".csv", ".handovers.csv", ".inspections.csv", ".json", ".md", ".html")}
    for f in m["files"]:
        p = manifest.parent / f["name"]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"]
        assert os.stat(p).st_mode & 0o777 == 0o640
    assert not [p for p in manifest.parent.iterdir() if p.name.startswith(".")]  # no temps
    env.run("duty", "verify-export", str(manifest))
    # The CSV re-reads to the same entries, and its hashes link up like the chain.
    with open(manifest.parent / f"duty-{day}_{day}.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == ["patrol ok", "caller: <b>printer</b> | jammed, "
                                                      "\"urgent\""]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert rows[-1]["hash"] == m["chain_head"]["hash"]
    data = json.loads((manifest.parent / f"duty-{day}_{day}.json").read_text())
    assert [e["seq"] for e in data["duty_log"]] == [1, 2]
    html = (manifest.parent / f"duty-{day}_{day}.html").read_text()
    assert "&lt;b&gt;printer&lt;/b&gt;" in html and "<b>printer" not in html
    # Deterministic: exporting again gives identical bytes.
    before = {f["name"]: f["sha256"] for f in m["files"]}
    env.run("duty", "export", "--from", day, "--to", day, "--format", "csv", "--format",
            "json", "--format", "md", "--format", "html")
    after = {f["name"]: f["sha256"] for f in json.loads(manifest.read_text())["files"]}
    assert before == after
    # Any change to an exported file is caught.
    md = manifest.parent / f"duty-{day}_{day}.md"
    md.write_text(md.read_text().replace("patrol ok", "patrol skipped"))
    bad = env.run("duty", "verify-export", str(manifest), check=2)
    assert "altered" in bad.stderr
    # Editing the CSV *and* fixing up the manifest is still caught: the rows' hashes are
    # recomputed from their content.
    from opsctl.handover.export import check_log_rows, verify_export

    csv_path = manifest.parent / f"duty-{day}_{day}.csv"
    assert check_log_rows(csv_path) == []
    assert check_log_rows(manifest.parent / f"duty-{day}_{day}.json") == []
    forged = csv_path.read_text().replace("patrol ok", "patrol skipped")
    csv_path.write_text(forged)
    mdata = json.loads(manifest.read_text())
    for f in mdata["files"]:
        p = manifest.parent / f["name"]
        f["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(mdata))
    assert verify_export(manifest) == [f"{csv_path.name}: entry 1 does not match its hash"]
    # A broken log is not exported with --verify-chain, and nothing is written.
    env.sqlite("UPDATE duty_log SET text='edited' WHERE seq=1")
    refused = env.run("duty", "export", "--from", day, "--to", day, "--verify-chain",
                      "-o", str(env.root / "refused" / "x.csv"), check=1)
    assert "chain broken" in refused.stderr and not (env.root / "refused").exists()


def test_export_single_file_and_bad_input(env, tmp_path):
    day = _fill(env)
    target = tmp_path / "out" / "log.json"
    env.run("duty", "export", "--from", day, "--to", day, "--format", "json", "-o",
            str(target))
    assert target.exists() and (tmp_path / "out" / "log.manifest.json").exists()
    env.run("duty", "verify-export", str(tmp_path / "out" / "log.manifest.json"))
    env.run("duty", "export", "--from", "2026-1-1", "--to", day, check=2)
    env.run("duty", "export", "--from", day, "--to", "2000-01-01", check=2)
    env.run("duty", "export", "--from", day, "--to", day, "--format", "pdf", check=2)
    env.run("duty", "export", "--from", day, "--to", day, "--format", "csv", "--format",
            "json", "-o", str(tmp_path / "x.csv"), check=2)
    env.run("duty", "verify-export", str(tmp_path / "none.json"), check=2)


def test_failed_export_leaves_no_partial_file(env, tmp_path, monkeypatch):
    from opsctl.handover import export as ex

    day = dt.date.fromisoformat(_fill(env))
    outdir = tmp_path / "failing"
    real_render = ex.render

    def render(data, fmt, **kw):
        if fmt == "md":
            raise OSError(28, "No space left on device", str(outdir / "x.md"))
        return real_render(data, fmt, **kw)

    monkeypatch.setattr(ex, "render", render)
    with pytest.raises(OpsError, match="nothing written"):
        ex.export(env.cfg(), env.store(), day, day, ["csv", "json", "md"], outdir)
    assert list(outdir.iterdir()) == []
    # A failure at the rename stage rolls back the files already renamed, too.
    monkeypatch.setattr(ex, "render", real_render)
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(5, "Input/output error", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(ex.os, "replace", replace)
    with pytest.raises(OpsError):
        ex.export(env.cfg(), env.store(), day, day, ["csv", "json"], outdir)
    assert list(outdir.iterdir()) == []


def test_api_export_for_the_daemon(env, tmp_path):
    from opsctl.handover.api import export

    day = dt.date.fromisoformat(_fill(env))
    manifest = export(env.cfg(), env.store(), day - dt.timedelta(days=1), day, ["csv", "json"],
                      tmp_path / "daily")
    from opsctl.handover.export import verify_export

    assert verify_export(manifest, env.store()) == []


@pytest.mark.parametrize("tz", ["Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata"])
def test_streamed_csv_is_the_rendered_csv(tmp_path, monkeypatch, tz):
    """The CSV export is built by SQLite a line at a time and streamed; its bytes are the
    Python renderer's: across DST changes (half-hour ones too), with text as written
    (secrets too), formula cells neutralised, full names, quotes, commas, line ends,
    NULLs, odd timestamps, alone or beside other formats, for Excel or not."""
    from duty_support import make_env, two_shift_config

    from opsctl.core import logsetup
    from opsctl.handover import chain
    from opsctl.handover import export as ex

    env = make_env(tmp_path / "site", two_shift_config().replace("Europe/Berlin", tz).replace(
        "{name: a1, lead: true}", "{name: a1, lead: true, full_name: \"=张伟, \\\"W\\\"\"}"))
    env.run("duty", "log", "add", "first", "--by", "a1")
    cfg, store = env.cfg(), env.store()
    t0 = dt.datetime(2025, 3, 29, 10, 17, 3, 999999, tzinfo=dt.UTC)  # over spring changes
    texts = ["line {i}: s3cr3t-community, \"q\" | x\n2", "plain {i}", "cr\r{i}", "ü€ {i};'",
             " {i} lead", "s3cr3t-s3cr3t-community{i}", "=1+{i}", "'quoted {i}", "-{i}",
             "@SUM({i})", "\t{i}", "\r{i}", "+\"{i}\",x"]
    with store.write() as conn:
        for i in range(3000):
            ts = (t0 + dt.timedelta(seconds=211 * i)).isoformat(timespec="microseconds")
            if i % 500 == 7:
                ts = ts[:19] + "Z"  # not the stored form opsctl writes: the Python path
            chain.append(conn, chain.NewEntry(
                text=texts[i % len(texts)].format(i=i), category="call",
                severity="minor" if i % 4 == 0 else None, pending=i % 9 == 0,
                ref_seq=i if i % 11 == 0 and i else None, author="a,1" if i % 5 else "a1",
                details={"i": i, "c": "s3cr3t-community"} if i % 3 else None), ts=ts)
    # Rows edited behind opsctl's back still export as the Python renderer writes them.
    env.sqlite("UPDATE duty_log SET kind='x,y' WHERE seq=100; "
               "UPDATE duty_log SET hash='ab\"c' WHERE seq=101; "
               "UPDATE duty_log SET pending='1' WHERE seq=102; "
               "UPDATE duty_log SET source='cli\n2' WHERE seq=103; "
               "UPDATE duty_log SET hash='=cmd' WHERE seq=104; "
               "UPDATE duty_log SET ref_seq=-5 WHERE seq=105")
    monkeypatch.setattr(logsetup, "_secrets", set())  # this test's secrets only
    logsetup.register_secret("s3cr3t-community")
    logsetup.register_secret("s3cr3t")
    monkeypatch.setattr(ex, "CSV_BATCH", 97)  # many batches, on worker threads
    start, end = dt.date(2025, 3, 29), dt.date(2025, 4, 30)
    data = ex.collect(cfg, store, start, end)
    want = ex.render(data, "csv")[""]
    assert b"s3cr3t-community" in want and b"****" not in want and len(data["duty_log"]) > 2000
    assert b",'=1+" in want and b",''quoted" in want and b",'-" in want and b",'@SUM" in want
    assert "\"'=张伟, \"\"W\"\"\"".encode() in want and b",'=cmd\n" in want
    want_excel = ex.render(data, "csv", excel=True)[""]
    assert want_excel.startswith("\ufeff".encode()) and want_excel.count(b"\r\n") > 2000
    alone = ex.export(cfg, store, start, end, ["csv"], tmp_path / "a")
    both = ex.export(cfg, store, start, end, ["csv", "json"], tmp_path / "b")
    excel = ex.export(cfg, store, start, end, ["csv"], tmp_path / "x", excel=True)
    assert (excel.parent / f"duty-{start}_{end}.csv").read_bytes() == want_excel
    for manifest in (alone, both):
        got = (manifest.parent / f"duty-{start}_{end}.csv").read_bytes()
        assert got.splitlines() == want.splitlines()
        assert got == want
        m = json.loads(manifest.read_text())
        assert m["entries"] == len(data["duty_log"])
        assert (m["first_seq"], m["last_seq"]) == (data["duty_log"][0][0],
                                                  data["duty_log"][-1][0])
        assert m["chain_head"]["seq"] == 3001
    # A batch that fails on its worker is written from the caller's own connection.
    real, calls = ex._csv_batch, []

    def flaky(cur, a, *args):
        calls.append(a)
        if len(calls) % 3 == 0:
            raise RuntimeError("worker trouble")
        return real(cur, a, *args)

    monkeypatch.setattr(ex, "_csv_batch", flaky)
    again = ex.export(cfg, store, start, end, ["csv"], tmp_path / "f")
    assert (again.parent / f"duty-{start}_{end}.csv").read_bytes() == want and len(calls) > 9
    # An empty range: the header alone.
    empty = ex.export(cfg, store, dt.date(2020, 1, 1), dt.date(2020, 1, 2), ["csv"],
                      tmp_path / "c")
    assert (empty.parent / "duty-2020-01-01_2020-01-02.csv").read_bytes() == \
        ex.render(ex.collect(cfg, store, dt.date(2020, 1, 1), dt.date(2020, 1, 2)), "csv")[""]
    store.close()


def test_a_streaming_export_file_is_discarded_on_ctrl_c(tmp_path):
    """Ctrl-C ends the CLI at once outside critical sections; the CSV being streamed
    (seconds for a year) is registered so that no temporary is left behind."""
    import os

    from opsctl.core import interrupt
    from opsctl.handover import export as ex

    staged = ex._Staged()
    tmp = str(tmp_path / f".x.csv.tmp{os.getpid()}")
    with staged.stream(tmp_path / "x.csv") as out:
        out.write("a,b\n")
        assert tmp in interrupt._temps
    staged.commit()
    assert tmp not in interrupt._temps and (tmp_path / "x.csv").read_bytes() == b"a,b\n"
