"""Forward-secure sealing of the duty log, after journald's FSS.

The hash chain shows an edit only to someone who does not recompute it: whoever can
write the database can rewrite an entry and every hash after it. Seals close that gap
without trusting the host later on:

- Time is cut into epochs (``duty.seal_epoch_seconds``, 15 min). Epoch *i* has its own
  key ``k_i``; ``k_{i+1} = SHA-256(tag || k_i)``. The key file holds only the current
  key: once an epoch is sealed its key is replaced by the next one, so an intruder who
  takes the host later cannot compute the keys of earlier epochs (SHA-256 is one-way)
  and cannot re-seal the past.
- A seal records the chain's head (seq and hash of the newest entry) at sealing time,
  MAC'd with the epoch's key and linked to the previous seal's MAC. Rewriting any entry
  up to a sealed head changes that entry's hash and breaks the seal; deleting entries or
  seals shows as a head or a link that no longer matches.
- The **verification key** is ``k_0`` with the epoch length and start: from it an
  auditor derives every ``k_i`` and checks every seal, on any machine, with a copy of the
  store. It is printed once at set-up and must leave the host.
- Every seal is also written to the system log (journald), a witness outside the store.

Entries written since the last seal are protected by the chain only until the next
epoch is sealed (at most one epoch).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opsctl.core.errors import StoreError, UsageError
from opsctl.handover.schema import duty_log
from opsctl.handover.seal_schema import duty_seal, duty_seal_meta

log = logging.getLogger("opsctl.duty.seal")

EVOLVE_TAG = b"opsctl duty-log seal key evolution v1"
VKEY_PREFIX = "opsctl-seal-v1"
GENESIS_MAC = "0" * 64


# -- keys ---------------------------------------------------------------------------------
def evolve(key: bytes, steps: int = 1) -> bytes:
    for _ in range(steps):
        key = hashlib.sha256(EVOLVE_TAG + key).digest()
    return key


def fingerprint(k0: bytes) -> str:
    return hashlib.sha256(b"fingerprint" + k0).hexdigest()[:32]


@dataclass(frozen=True)
class VerificationKey:
    k0: bytes
    start: int             # unix time of epoch 0
    epoch_seconds: int

    def encode(self) -> str:
        body = f"{self.k0.hex()}/{self.start}/{self.epoch_seconds}"
        check = hashlib.sha256(body.encode()).hexdigest()[:8]
        return f"{VKEY_PREFIX}:{body}:{check}"

    @classmethod
    def decode(cls, text: str) -> VerificationKey:
        text = text.strip()
        try:
            prefix, body, check = text.split(":")
            k0_hex, start, secs = body.split("/")
            if prefix != VKEY_PREFIX or hashlib.sha256(body.encode()).hexdigest()[:8] != check:
                raise ValueError
            return cls(bytes.fromhex(k0_hex), int(start), int(secs))
        except ValueError:
            raise UsageError("bad verification key: expected the "
                             f"'{VKEY_PREFIX}:...' string printed by `opsctl duty log seal "
                             "init` (a typo breaks its check digits)") from None

    def key_for(self, epoch: int) -> bytes:
        return evolve(self.k0, epoch)


def key_path(cfg) -> Path:
    configured = cfg.duty.seal_key_file
    return Path(configured) if configured else Path(cfg.state_dir) / "duty-seal.key"


@dataclass
class SealKey:
    """The key file's content: the current epoch and its key (earlier keys are gone)."""

    epoch: int
    key: bytes
    start: int
    epoch_seconds: int

    def epoch_at(self, when: dt.datetime) -> int:
        return max(0, int(when.timestamp() - self.start) // self.epoch_seconds)


def _write_key(path: Path, sk: SealKey) -> None:
    """Atomically, root-only: the new key replaces the old one on disk."""
    data = json.dumps({"epoch": sk.epoch, "key": base64.b64encode(sk.key).decode(),
                       "start": sk.start, "epoch_seconds": sk.epoch_seconds}).encode()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_key(path: Path) -> SealKey | None:
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except PermissionError:
        raise StoreError(f"cannot read the sealing key {path}: permission denied",
                         hint="sealing runs as root (the daemon); auditors verify with the "
                              "verification key instead") from None
    except ValueError:
        raise StoreError(f"the sealing key {path} is corrupt") from None
    if path.stat().st_mode & 0o077:
        raise StoreError(f"the sealing key {path} is readable by others "
                         f"(mode {path.stat().st_mode & 0o777:o})",
                         hint=f"chmod 600 {path}")
    return SealKey(int(raw["epoch"]), base64.b64decode(raw["key"]), int(raw["start"]),
                   int(raw["epoch_seconds"]))


def init(cfg, store, *, now: dt.datetime | None = None, force: bool = False
         ) -> VerificationKey:
    """Create the sealing key; returns the verification key (shown once, not stored)."""
    path = key_path(cfg)
    with store.read() as conn:
        sealed = conn.execute(sa.select(sa.func.count()).select_from(duty_seal)).scalar()
    if sealed:
        # A second key would make the seals made so far unverifiable with one key.
        raise UsageError(f"the duty log has {sealed} seals already: sealing is set up "
                         f"(key {path})", hint="a lost key cannot be replaced: seals "
                         "stay verifiable with the verification key printed at set-up")
    if path.exists() and not force:
        raise UsageError(f"sealing is already set up ({path})",
                         hint="--force makes a new key (no seal was made with this one)")
    now = now or dt.datetime.now(dt.UTC)
    start = int(now.timestamp())
    k0 = os.urandom(32)
    secs = int(cfg.duty.seal_epoch_seconds)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_key(path, SealKey(0, k0, start, secs))
    vkey = VerificationKey(k0, start, secs)
    with store.write() as conn:
        # A new key makes a new sealing era: seals from an older key are kept under
        # their own epochs (a forced re-init is itself recorded in the duty log).
        _meta_put(conn, "fingerprint", fingerprint(k0))
        _meta_put(conn, "start", str(start))
        _meta_put(conn, "epoch_seconds", str(secs))
    return vkey


def local_vkey_path(cfg) -> Path:
    return key_path(cfg).with_name("duty-seal.verification-key")


def auto_init(cfg, store, *, now: dt.datetime | None = None) -> Path:
    """Sealing on by default: the daemon sets it up unattended and leaves the verification
    key in a root-only file beside the key, to be moved off the host (status warns)."""
    vkey = init(cfg, store, now=now)
    path = local_vkey_path(cfg)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (vkey.encode() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _meta_put(conn, name: str, value: str) -> None:
    if conn.execute(duty_seal_meta.update().where(duty_seal_meta.c.key == name)
                    .values(value=value)).rowcount == 0:
        conn.execute(duty_seal_meta.insert().values(key=name, value=value))


def _meta(conn) -> dict[str, str]:
    return {r.key: r.value for r in conn.execute(sa.select(duty_seal_meta))}


def seal_mac(key: bytes, epoch: int, sealed_at: str, head_seq: int, head_hash: str,
             prev_mac: str) -> str:
    msg = json.dumps([epoch, sealed_at, head_seq, head_hash, prev_mac],
                     separators=(",", ":")).encode()
    return hmac.digest(key, msg, "sha256").hex()


@dataclass
class SealOutcome:
    sealed: bool
    epoch: int
    head_seq: int = 0
    message: str = ""


def seal_now(cfg, store, *, now: dt.datetime | None = None) -> SealOutcome:
    """Seal the current epoch (once per epoch), then evolve the key past it."""
    path = key_path(cfg)
    sk = read_key(path)
    if sk is None:
        raise UsageError(f"sealing is not set up (no key at {path})",
                         hint="opsctl duty log seal init (prints the verification key)")
    now = now or dt.datetime.now(dt.UTC)
    current = sk.epoch_at(now)
    if sk.epoch > current:
        return SealOutcome(False, current, message=f"epoch {current} is sealed already")
    if sk.epoch < current:
        # Epochs nobody sealed (the host was down): their keys are skipped, not kept.
        sk = SealKey(current, evolve(sk.key, current - sk.epoch), sk.start, sk.epoch_seconds)
    sealed_at = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    with store.write() as conn:
        head = conn.execute(sa.select(duty_log.c.seq, duty_log.c.hash)
                            .order_by(duty_log.c.seq.desc()).limit(1)).first()
        head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_MAC)
        last = conn.execute(sa.select(duty_seal.c.epoch, duty_seal.c.mac)
                            .order_by(duty_seal.c.epoch.desc()).limit(1)).first()
        if last is not None and last.epoch >= current:
            return SealOutcome(False, current, message=f"epoch {current} is sealed already")
        prev = last.mac if last else GENESIS_MAC
        mac = seal_mac(sk.key, current, sealed_at, head_seq, head_hash, prev)
        conn.execute(duty_seal.insert().values(epoch=current, sealed_at=sealed_at,
                                               head_seq=head_seq, head_hash=head_hash,
                                               prev_mac=prev, mac=mac))
    # Only after the seal is stored: the epoch's key is replaced by the next one.
    _write_key(path, SealKey(current + 1, evolve(sk.key), sk.start, sk.epoch_seconds))
    _witness(current, head_seq, head_hash, mac)
    return SealOutcome(True, current, head_seq,
                       f"sealed epoch {current} at entry {head_seq}")


def _witness(epoch: int, head_seq: int, head_hash: str, mac: str) -> None:
    """The system log (journald) keeps a copy outside the store."""
    try:
        import syslog

        syslog.openlog("opsctl-seal", 0, syslog.LOG_AUTHPRIV)
        syslog.syslog(syslog.LOG_INFO, f"duty log seal epoch={epoch} head={head_seq}:"
                                       f"{head_hash} mac={mac}")
        syslog.closelog()
    except OSError as exc:  # no syslog socket (containers): the store still has the seal
        log.debug("seal not written to the system log: %s", exc)


# -- verifying ----------------------------------------------------------------------------
@dataclass
class SealCheck:
    ok: bool
    seals: int = 0
    first_epoch: int | None = None
    last_epoch: int | None = None
    sealed_head: int = 0           # entries up to here are sealed
    unsealed_entries: int = 0
    bad_epoch: int | None = None
    bad_seq: int | None = None
    message: str = ""
    # Entries sealed more than one epoch after they were written, with no seal in between:
    # the sealer did not run (the daemon was down), or the seals in between were deleted
    # and the entries re-sealed with a later key. Either way they are only as good as the
    # later seal; the system log's copies of the seals (the witness) tell which.
    late: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def status(store) -> dict[str, Any]:
    with store.read() as conn:
        meta = _meta(conn)
        n = conn.execute(sa.select(sa.func.count()).select_from(duty_seal)).scalar() or 0
        last = conn.execute(sa.select(duty_seal).order_by(duty_seal.c.epoch.desc())
                            .limit(1)).first()
        head = conn.execute(sa.select(sa.func.max(duty_log.c.seq))).scalar() or 0
    return {"set_up": bool(meta.get("fingerprint")), "fingerprint": meta.get("fingerprint"),
            "epoch_seconds": int(meta["epoch_seconds"]) if meta.get("epoch_seconds") else None,
            "seals": n, "last_epoch": last.epoch if last else None,
            "last_sealed_at": last.sealed_at if last else None,
            "sealed_head": last.head_seq if last else 0,
            "unsealed_entries": max(0, head - (last.head_seq if last else 0))}


def verify(store, vkey: VerificationKey) -> SealCheck:
    """Every seal against the verification key, and every sealed head against the log."""
    with store.read() as conn:
        meta = _meta(conn)
        rows = conn.execute(sa.select(duty_seal).order_by(duty_seal.c.epoch)).all()
        heads = {r.seq: r.hash for r in conn.execute(
            sa.select(duty_log.c.seq, duty_log.c.hash).where(
                duty_log.c.seq.in_({r.head_seq for r in rows})))} if rows else {}
        first_seq = conn.execute(sa.select(sa.func.min(duty_log.c.seq))).scalar()
        last_seq = conn.execute(sa.select(sa.func.max(duty_log.c.seq))).scalar() or 0
    res = SealCheck(ok=True, seals=len(rows))

    def fail(epoch: int | None, seq: int | None, msg: str) -> SealCheck:
        res.ok, res.bad_epoch, res.bad_seq, res.message = False, epoch, seq, msg
        return res

    if meta.get("fingerprint") and meta["fingerprint"] != fingerprint(vkey.k0):
        return fail(None, None, "this verification key belongs to another sealing key "
                                f"(store fingerprint {meta['fingerprint']})")
    if not rows:
        res.unsealed_entries = last_seq
        res.message = "no seals yet"
        return res
    key, at = vkey.k0, 0
    prev_mac, prev_head = GENESIS_MAC, 0
    prev_epoch: int | None = None
    for r in rows:
        if r.epoch < at:
            return fail(r.epoch, None, f"seal of epoch {r.epoch} is out of order")
        key, at = evolve(key, r.epoch - at), r.epoch
        if r.prev_mac != prev_mac:
            return fail(r.epoch, None, f"seal of epoch {r.epoch} does not link to the seal "
                                       "before it: a seal was deleted or inserted")
        want = seal_mac(key, r.epoch, r.sealed_at, r.head_seq, r.head_hash, r.prev_mac)
        if not hmac.compare_digest(want, r.mac):
            return fail(r.epoch, None, f"seal of epoch {r.epoch} is forged (its MAC does not "
                                       "match the epoch's key)")
        if r.head_seq < prev_head:
            return fail(r.epoch, r.head_seq, f"seal of epoch {r.epoch} goes back to entry "
                                             f"{r.head_seq} from {prev_head}")
        if r.head_seq > last_seq:
            return fail(r.epoch, r.head_seq,
                        f"entries {last_seq + 1}..{r.head_seq} were sealed in epoch "
                        f"{r.epoch} ({r.sealed_at}) and are gone: the log was truncated")
        purged = first_seq is not None and r.head_seq < first_seq
        if r.head_seq and not purged and heads.get(r.head_seq) != r.head_hash:
            return fail(r.epoch, r.head_seq,
                        f"entry {r.head_seq} is not the one sealed in epoch {r.epoch} "
                        f"({r.sealed_at}): the log was rewritten up to there")
        if prev_epoch is not None and r.epoch > prev_epoch + 1 and r.head_seq > prev_head:
            late = _sealed_late(store, vkey, prev_epoch, r, prev_head)
            if late is not None:
                res.late.append(late)
        prev_mac, prev_head, prev_epoch = r.mac, r.head_seq, r.epoch
    res.first_epoch, res.last_epoch = rows[0].epoch, rows[-1].epoch
    res.sealed_head = rows[-1].head_seq
    res.unsealed_entries = max(0, last_seq - res.sealed_head)
    res.message = (f"{len(rows)} seals intact (epochs {res.first_epoch}..{res.last_epoch}); "
                   f"entries up to {res.sealed_head} sealed"
                   + (f", {res.unsealed_entries} newer entries not sealed yet"
                      if res.unsealed_entries else ""))
    for item in res.late:
        res.message += (f"; entries {item['first_seq']}..{item['last_seq']} sealed late "
                        f"(written in epoch {item['written_epoch']}, sealed in epoch "
                        f"{item['sealed_epoch']}, no seal for epochs {item['gap'][0]}.."
                        f"{item['gap'][1]}: the sealer was down, or seals were deleted — "
                        "compare with the system log's opsctl-seal lines)")
    return res


def _sealed_late(store, vkey: VerificationKey, prev_epoch: int, r,
                 prev_head: int) -> dict[str, Any] | None:
    """The entries seal ``r`` covers after an epoch gap, if the oldest was written more
    than one epoch before ``r`` (a seal normally follows its entries within one epoch)."""
    with store.read() as conn:
        oldest = conn.execute(sa.select(sa.func.min(duty_log.c.ts)).where(
            duty_log.c.seq > prev_head, duty_log.c.seq <= r.head_seq)).scalar()
    if not oldest:
        return None
    try:
        written = dt.datetime.fromisoformat(str(oldest))
    except ValueError:
        return None
    if written.tzinfo is None:
        written = written.replace(tzinfo=dt.UTC)
    epoch = max(0, int(written.timestamp() - vkey.start) // vkey.epoch_seconds)
    if epoch >= r.epoch - 1:
        return None
    return {"first_seq": prev_head + 1, "last_seq": r.head_seq, "written_epoch": epoch,
            "sealed_epoch": r.epoch, "gap": [prev_epoch + 1, r.epoch - 1]}


# -- exports --------------------------------------------------------------------------------
def _seal_dict(r) -> dict[str, Any]:
    return {"epoch": r.epoch, "sealed_at": r.sealed_at, "head_seq": r.head_seq,
            "head_hash": r.head_hash, "prev_mac": r.prev_mac, "mac": r.mac}


def export_evidence(conn, first_seq: int | None, last_seq: int | None) -> dict[str, Any] | None:
    """What an export manifest records of the seals (None: sealing not set up): the latest
    seal at export time, and every seal whose sealed head is one of the exported entries
    (they tie those entries to seals an auditor checks with the verification key)."""
    meta = _meta(conn)
    if not meta.get("fingerprint"):
        return None
    latest = conn.execute(sa.select(duty_seal).order_by(duty_seal.c.epoch.desc())
                          .limit(1)).first()
    covering = []
    if first_seq is not None and last_seq is not None:
        covering = [_seal_dict(r) for r in conn.execute(
            sa.select(duty_seal).where(duty_seal.c.head_seq >= first_seq,
                                       duty_seal.c.head_seq <= last_seq)
            .order_by(duty_seal.c.epoch))]
    return {"fingerprint": meta["fingerprint"],
            "latest": _seal_dict(latest) if latest is not None else None,
            "covering": covering}


def verify_export_seals(evidence: dict[str, Any] | None, vkey: VerificationKey,
                        hashes: dict[int, str], head: tuple[int | None, str | None]
                        ) -> SealCheck:
    """The seals an export manifest records, against the verification key and against the
    exported entries (``hashes``: seq -> hash as exported) and chain head. A consistently
    forged store (entries, hashes and head rewritten) exports rows whose hash at a sealed
    head is not the sealed one, and a forger cannot make a seal for a past epoch."""
    res = SealCheck(ok=True)

    def fail(epoch: int | None, seq: int | None, msg: str) -> SealCheck:
        res.ok, res.bad_epoch, res.bad_seq, res.message = False, epoch, seq, msg
        return res

    if not evidence or not evidence.get("fingerprint"):
        return fail(None, None, "the manifest records no seal (sealing was not set up "
                                "when the export was made)")
    if evidence["fingerprint"] != fingerprint(vkey.k0):
        return fail(None, None, "this verification key belongs to another sealing key "
                                f"(export fingerprint {evidence['fingerprint']})")
    try:
        covering = [_Seal(**s) for s in evidence.get("covering") or []]
        latest = _Seal(**evidence["latest"]) if evidence.get("latest") else None
    except TypeError:
        return fail(None, None, "the manifest's seal records are malformed")
    seals = list(covering)
    if latest is not None and all(s.epoch != latest.epoch for s in covering):
        seals.append(latest)
    prev: _Seal | None = None
    for s in seals:
        want = seal_mac(vkey.key_for(s.epoch), s.epoch, s.sealed_at, s.head_seq, s.head_hash,
                        s.prev_mac)
        if not hmac.compare_digest(want, s.mac):
            return fail(s.epoch, None, f"seal of epoch {s.epoch} is forged (its MAC does not "
                                       "match the epoch's key)")
        # The covering seals are consecutive in the store: each must link to the one before.
        if prev is not None and s in covering and s.prev_mac != prev.mac:
            return fail(s.epoch, None, f"seal of epoch {s.epoch} does not link to the seal "
                                       f"of epoch {prev.epoch}: a seal was deleted or inserted")
        got = hashes.get(s.head_seq)
        if got is None and s.head_seq == head[0]:
            got = head[1]
        if got is not None and got != s.head_hash:
            return fail(s.epoch, s.head_seq,
                        f"entry {s.head_seq} is not the one sealed in epoch {s.epoch} "
                        f"({s.sealed_at}): the log was rewritten up to there")
        prev = s
    res.seals = len(seals)
    if not covering:
        where = (f"; the newest seal is at entry {latest.head_seq} (epoch {latest.epoch})"
                 if latest is not None else "")
        return fail(None, None, "no seal covers the exported entries" + where
                    + ": verify the store copy with `duty log verify --verification-key`")
    res.first_epoch, res.last_epoch = covering[0].epoch, covering[-1].epoch
    res.sealed_head = covering[-1].head_seq
    newer = [q for q in hashes if q > res.sealed_head]
    res.unsealed_entries = len(newer)
    res.message = (f"{len(covering)} seals cover the exported entries (epochs "
                   f"{res.first_epoch}..{res.last_epoch}); entries up to {res.sealed_head} "
                   "sealed" + (f", {len(newer)} newer exported entries not sealed yet"
                               if newer else ""))
    return res


@dataclass(frozen=True)
class _Seal:
    epoch: int
    sealed_at: str
    head_seq: int
    head_hash: str
    prev_mac: str
    mac: str
