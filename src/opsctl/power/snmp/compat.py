"""pysnmp, for SNMPv1 and SNMPv3: the one place that knows its API (public names only).

pysnmp 7 is asyncio-only; one :class:`SnmpEngine` per process lives on the SNMP loop
(:mod:`opsctl.power.snmp.loop`). Requests go out below hlapi's varbind layer, through
the command generators of ``pysnmp.entity.rfc3413.cmdgen`` with targets configured by
hlapi's ``LCD`` configurator: hlapi's ``get_cmd``/``bulk_cmd`` resolve every OID through
the MIB view controller, which costs more CPU than the request itself, and opsctl speaks
numeric OIDs only.

Version guard: the names used here are those of pysnmp 7.1 (``SUPPORTED``); any other
major version is refused with a clear error at first use rather than failing somewhere
inside a poll. v2c does not come here (see :mod:`opsctl.power.snmp.fast`), so a site
without v1/v3 devices never imports pysnmp — nor ``cryptography``, which its USM loads
(~6 MB resident), nor pysmi, which it loads whenever installed (~100 ms).

What pysnmp's public API does not offer is not done: its dispatcher ticks every 0.1 s
while a transport exists (request timeouts count these ticks) — in a daemon with v1/v3
devices that is ten cheap wake-ups a second (figure in docs/power.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from opsctl.power.snmp import loop
from opsctl.power.snmp.session import (
    BULK_REPETITIONS,
    BULK_VARBINDS,
    NO_SUCH_NAME,
    SnmpError,
    Target,
    status_name,
)
from opsctl.power.snmp.values import Raw, from_pysnmp, is_under, oid_str, oid_tuple

log = logging.getLogger("opsctl.power.snmp")

SUPPORTED = (7,)  # pysnmp major versions whose API this module was written against

_hlapi: Any = None
_import_lock = threading.Lock()


def hlapi() -> Any:
    """pysnmp's ``hlapi.v3arch.asyncio``, imported on first use and version-checked."""
    global _hlapi
    if _hlapi is None:
        with _import_lock:
            if _hlapi is None:
                import pysnmp

                major = int(str(pysnmp.__version__).split(".")[0])
                if major not in SUPPORTED:
                    raise SnmpError("config", f"pysnmp {pysnmp.__version__} is not supported "
                                              "(opsctl needs pysnmp 7.x for SNMPv1/v3)")
                import pysnmp.hlapi.v3arch.asyncio as h

                _hlapi = h
    return _hlapi


# -- the one engine ---------------------------------------------------------------------------
class _Engine:
    engine: Any = None
    reset_wanted = False  # rebuild the engine once nothing is in flight (engine-ID change)


def engine() -> Any:
    """The process's SnmpEngine; only call from coroutines running on the SNMP loop."""
    if _Engine.engine is None:
        _Engine.engine = hlapi().SnmpEngine()
        # pysnmp builds the engine's MIB modules from their .py sources (its loader reads
        # no __pycache__): ~2.5 MB of freed compiler memory that would otherwise stay
        # resident under the first poll's peak.
        from opsctl.core.memory import release_memory

        release_memory()
        lp = loop.get()
        if _reset_if_wanted not in lp.on_idle:
            lp.on_idle.append(_reset_if_wanted)
    return _Engine.engine


def _reset_if_wanted() -> None:
    if not _Engine.reset_wanted:
        return
    eng, _Engine.engine, _Engine.reset_wanted = _Engine.engine, None, False
    if eng is None:
        return
    try:
        eng.close_dispatcher()
    except Exception as exc:  # noqa: BLE001 - the old engine is dropped either way
        log.debug("closing the old SNMP engine: %s", exc)


# -- SNMPv3 engine-ID changes ------------------------------------------------------------------
# pysnmp discovers an SNMPv3 agent's engine ID once and caches it per address (300 s of
# timer ticks). A replaced or reset card has a new engine ID and drops every request made
# for the old one, so the device would stay "no response" until opsctl restarted. When a
# v3 agent that answered before stops answering, the engine is rebuilt (public API: close
# its dispatcher, make a new SnmpEngine) once nothing is in flight, so the next poll
# discovers afresh. At most once per target per REDISCOVER_EVERY seconds: a card that is
# simply dead must not cost an engine rebuild on every poll.
REDISCOVER_EVERY = 300.0
_v3_answered: set[tuple] = set()
_v3_reset_at: dict[tuple, float] = {}


def _note_v3_outcome(t: Target, ind: Any) -> None:
    if t.version != "3":
        return
    key = (t.host, t.port, t.user, t.context)
    if ind is None:
        _v3_answered.add(key)
        return
    from pysnmp.proto import errind

    if key not in _v3_answered or not isinstance(
            ind, errind.RequestTimedOut | errind.NotInTimeWindow | errind.UnknownEngineID):
        return
    now = time.monotonic()
    if now - _v3_reset_at.get(key, -REDISCOVER_EVERY) < REDISCOVER_EVERY:
        return
    _v3_reset_at[key] = now
    _v3_answered.discard(key)
    _Engine.reset_wanted = True
    log.warning("%s: SNMPv3 agent stopped answering; its engine ID is discovered again on "
                "the next poll (a replaced or reset card has a new one)", t.label)


# pysnmp keeps SNMPv3 users in one USM table keyed by user name until it has discovered
# each agent's engine ID; two devices with the same user name but different keys would
# overwrite each other's keys during concurrent discovery. Requests of such users are
# serialised (per user name); users with one set of keys everywhere run fully parallel.
_v3_keys: dict[str, set[int]] = {}
_v3_locks: dict[str, asyncio.Lock] = {}


def register(targets: Sequence[Target]) -> None:
    """Announce the targets about to be polled (before any request), so users whose name
    is shared with different keys are serialised from the first request on."""
    for t in targets:
        if t.version == "3" and t.user:
            _v3_keys.setdefault(t.user, set()).add(hash(
                (t.auth_protocol, t.auth_key, t.priv_protocol, t.priv_key, t.security_level)))


def _v3_lock(t: Target) -> asyncio.Lock | None:
    if t.version != "3" or not t.user:
        return None
    register([t])
    if len(_v3_keys[t.user]) < 2:
        return None
    return _v3_locks.setdefault(t.user, asyncio.Lock())


# -- credentials and transport ----------------------------------------------------------------
_AUTH = {
    "MD5": "USM_AUTH_HMAC96_MD5", "SHA": "USM_AUTH_HMAC96_SHA",
    "SHA224": "USM_AUTH_HMAC128_SHA224", "SHA256": "USM_AUTH_HMAC192_SHA256",
    "SHA384": "USM_AUTH_HMAC256_SHA384", "SHA512": "USM_AUTH_HMAC384_SHA512",
}
_PRIV = {
    "DES": "USM_PRIV_CBC56_DES", "3DES": "USM_PRIV_CBC168_3DES", "AES": "USM_PRIV_CFB128_AES",
    "AES128": "USM_PRIV_CFB128_AES", "AES192": "USM_PRIV_CFB192_AES",
    "AES256": "USM_PRIV_CFB256_AES",
}


def _auth_data(t: Target) -> Any:
    h = hlapi()
    if t.version in ("1", "2c"):
        return h.CommunityData(t.community or "public", mpModel=0 if t.version == "1" else 1)
    if not t.user:
        raise SnmpError("config", "SNMPv3 needs a user")
    kw: dict[str, Any] = {}
    if t.security_level in ("authNoPriv", "authPriv"):
        kw["authKey"] = t.auth_key
        kw["authProtocol"] = getattr(h, _AUTH[t.auth_protocol])
    if t.security_level == "authPriv":
        kw["privKey"] = t.priv_key
        kw["privProtocol"] = getattr(h, _PRIV[t.priv_protocol])
    return h.UsmUserData(t.user, **kw)


async def _transport(t: Target) -> Any:
    h = hlapi()
    from pysnmp.error import PySnmpError

    # An IPv6 literal (or a bracketed one) needs the UDP/IPv6 transport.
    host = t.host.strip("[]")
    cls = h.Udp6TransportTarget if ":" in host else h.UdpTransportTarget
    try:
        return await cls.create((host, t.port), timeout=t.timeout, retries=t.retries)
    except PySnmpError as exc:
        text = str(exc)
        if "Name or service not known" in text or "nodename nor servname" in text \
                or "No address associated" in text or "Temporary failure" in text:
            raise SnmpError("dns", f"cannot resolve host {t.host!r}") from None
        raise SnmpError("unreachable", f"bad address {t.host}:{t.port}") from None


def _error_from_indication(ind: Any, t: Target) -> SnmpError:
    from pysnmp.proto import errind

    if isinstance(ind, errind.RequestTimedOut):
        return t.timeout_error()
    if isinstance(ind, errind.WrongDigest | errind.AuthenticationFailure
                  | errind.AuthenticationError):
        return SnmpError("auth", f"SNMPv3 authentication failure at {t.label} "
                                 "(wrong auth key or auth protocol)")
    if isinstance(ind, errind.UnknownUserName | errind.UnknownSecurityName):
        return SnmpError("auth", f"SNMPv3 authentication failure at {t.label} "
                                 f"(unknown user {t.user!r})")
    if isinstance(ind, errind.DecryptionError):
        return SnmpError("auth", f"SNMPv3 authentication failure at {t.label} "
                                 "(privacy: wrong priv key or priv protocol)")
    if isinstance(ind, errind.UnsupportedSecurityLevel):
        return SnmpError("auth", f"SNMPv3 authentication failure at {t.label} "
                                 f"(security level {t.security_level} not accepted)")
    if isinstance(ind, errind.NotInTimeWindow):
        return SnmpError("auth", f"SNMPv3 not in time window at {t.label}")
    if isinstance(ind, errind.UnknownCommunityName):
        return SnmpError("auth", f"community rejected by {t.label}")
    return SnmpError("protocol", f"SNMP error from {t.label}: {ind}")


def _vb_pairs(var_binds: Any) -> list[tuple[str, Raw]]:
    return [(oid_str(vb[0].asTuple() if hasattr(vb[0], "asTuple") else vb[0]),
             from_pysnmp(vb[1])) for vb in var_binds]


async def preconfigure(targets: Sequence[Target]) -> None:
    """Enter every v1 target into the engine's target tables before the first request.

    pysnmp's community-based security model re-walks the whole ``snmpTargetAddrTable`` on
    the first incoming message after any change to it. Targets entered lazily, while
    answers already arrive, change the table between answers, so the walk repeats about
    once per device: a cold poll of N devices cost O(N^2). Entered up front the table
    changes N times before any answer and is walked once. Targets that cannot be set up
    are skipped here; their own read reports why.
    """
    todo = [t for t in targets if t.version == "1"]
    if not todo:
        return
    h = hlapi()
    from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD

    eng = engine()
    for t in todo:
        try:
            transport = await _transport(t)
            LCD.configure(eng, _auth_data(t), transport, h.ContextData(
                contextName=t.context).contextName)
        except Exception:  # noqa: BLE001, S112 - the device's read reports its own error
            continue


class PysnmpBackend:
    """Requests of one session through the process's pysnmp engine."""

    def __init__(self, target: Target):
        self.target = target
        self._auth: Any = None
        self._transport: Any = None
        self._ctx: Any = None

    async def _open(self) -> None:
        if self._transport is None:
            h = hlapi()
            self._auth = _auth_data(self.target)
            self._transport = await _transport(self.target)
            self._ctx = h.ContextData(contextName=self.target.context)

    async def _send(self, op: str, oids: Sequence[str], reps: int = 0) -> Any:
        lock = _v3_lock(self.target)
        try:
            if lock is None:
                return await self._send_unlocked(op, oids, reps)
            async with lock:
                return await self._send_unlocked(op, oids, reps)
        except SnmpError:
            raise
        except OSError as exc:
            raise SnmpError("unreachable", f"{self.target.label}: {exc.strerror}") from None
        except Exception as exc:  # noqa: BLE001 - pysnmp raises bare PySnmpError & co.
            raise SnmpError("protocol", f"{self.target.label}: {type(exc).__name__}: "
                                        f"{exc}") from None

    async def _send_unlocked(self, op: str, oids: Sequence[str], reps: int) -> Any:
        await self._open()
        from pysnmp.entity.rfc3413 import cmdgen
        from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD
        from pysnmp.proto.rfc1902 import Null, ObjectName

        eng = engine()
        addr_name, _ = LCD.configure(eng, self._auth, self._transport, self._ctx.contextName)
        future = asyncio.get_running_loop().create_future()
        target = self.target

        def done(_eng, _handle, ind, status, index, vbs, _ctx) -> None:
            _note_v3_outcome(target, ind)
            if not future.cancelled():
                future.set_result((ind, status, index, vbs))

        vbs = [(ObjectName(oid_tuple(o)), Null("")) for o in oids]
        ctx_id, ctx_name = self._ctx.contextEngineId, self._ctx.contextName
        if op == "get":
            cmdgen.GetCommandGenerator().send_varbinds(eng, addr_name, ctx_id, ctx_name, vbs,
                                                       done, None)
        elif op == "next":
            cmdgen.NextCommandGenerator().send_varbinds(eng, addr_name, ctx_id, ctx_name, vbs,
                                                        done, None)
        else:
            cmdgen.BulkCommandGenerator().send_varbinds(eng, addr_name, ctx_id, ctx_name, 0,
                                                        reps, vbs, done, None)
        return await future

    async def get(self, oids: list[str]) -> tuple[int, int, list[tuple[str, Raw]], int]:
        ind, status, index, vbs = await self._send("get", oids)
        if ind:
            raise _error_from_indication(ind, self.target)
        if status:
            return int(status), int(index), [], 1
        return 0, 0, _vb_pairs(vbs), 1

    async def walk(self, bases: Sequence[str], max_rows: int,
                   first_reps: int | None) -> tuple[dict[str, dict[str, Raw]], int]:
        out: dict[str, dict[str, Raw]] = {b: {} for b in bases}
        cursor = {b: b for b in bases}
        active = list(bases)
        sent = 0
        while active:
            sent += 1
            start = [cursor[b] for b in active]
            if self.target.version == "1":
                ind, status, index, vbs = await self._send("next", start)
            else:
                reps = max(1, min(BULK_REPETITIONS, max_rows + 1, BULK_VARBINDS // len(active)))
                if first_reps is not None:
                    reps = max(1, min(reps, first_reps))
                    first_reps = None
                ind, status, index, vbs = await self._send("bulk", start, reps)
            if ind:
                raise _error_from_indication(ind, self.target)
            if status:
                if int(status) == NO_SUCH_NAME:  # v1: a column walked off the end of the MIB
                    # error-index names that column: it is done, the others go on (a v1
                    # agent fails the whole PDU, so dropping all of them lost every table
                    # walked together with the MIB's last one).
                    i = int(index) - 1
                    if self.target.version == "1" and 0 <= i < len(active):
                        del active[i]
                        continue
                    break
                raise SnmpError("protocol", f"{self.target.label}: walk error-status "
                                            f"'{status_name(int(status))}'")
            pairs = _vb_pairs(vbs)
            if not pairs:
                break
            done: set[str] = set()
            width = len(active)
            for i, (oid, raw) in enumerate(pairs):
                b = active[i % width]
                if b in done:
                    continue
                if raw.missing or not is_under(oid, b) or oid == b:
                    done.add(b)
                    continue
                if oid_tuple(oid) <= oid_tuple(cursor[b]):
                    # Agent loops (oid not increasing): stop this column, keep what we have.
                    done.add(b)
                    continue
                out[b][oid[len(b) + 1:]] = raw
                cursor[b] = oid
                if len(out[b]) >= max_rows:
                    done.add(b)
            active = [b for b in active if b not in done]
        return out, sent
