"""The SNMP client: one pysnmp engine per process on one private event loop.

pysnmp 7 is asyncio-only and its engine binds its UDP transport to the loop it first
ran on, so calling ``asyncio.run`` per request (or per poll) would either rebuild the
engine or break it. Instead a single background thread runs one event loop holding the
one :class:`SnmpEngine`; synchronous callers (the CLI, the daemon's scheduler threads)
submit coroutines to it with :func:`run`. Concurrency is bounded by the caller (see
:mod:`opsctl.power.poller`); timeouts and retries are per device.

Errors never escape as pysnmp exceptions: every failure becomes :class:`SnmpError` with
a ``kind`` (timeout, dns, unreachable, auth, protocol, config) and a message that never
contains a community or key.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from opsctl.power.snmp.values import MISSING, Raw, from_pysnmp, is_under, oid_str, oid_tuple

log = logging.getLogger("opsctl.power.snmp")

T = TypeVar("T")

# Varbinds per GET PDU: small enough for the 484-octet v1 minimum on old cards is not
# achievable with 40, but every agent seen in practice takes 40 and tooBig is handled.
MAX_VARBINDS = 40
BULK_REPETITIONS = 25
# Varbinds asked per GETBULK (columns x repetitions): agents may return fewer.
BULK_VARBINDS = 100


class SnmpError(Exception):
    """A device could not be read. ``kind`` is one of: timeout, dns, unreachable, auth,
    protocol, config."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where and how to reach one agent. Secrets stay inside; ``label`` is safe to print."""

    host: str
    port: int = 161
    version: str = "2c"
    community: str | None = None
    user: str | None = None
    security_level: str = "authPriv"
    auth_protocol: str = "SHA"
    auth_key: str | None = None
    priv_protocol: str = "AES"
    priv_key: str | None = None
    context: str = ""
    timeout: float = 2.0
    retries: int = 1

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:  # never show secrets, even in a debugger or a log line
        return f"Target({self.label}, v{self.version})"

    @classmethod
    def from_device(cls, dev) -> Target:
        """Build from a config ``Device`` (opsctl.core.config.devices)."""
        from opsctl.core.config.secrets import SecretUnavailable, reveal

        s = dev.snmp
        try:
            community, auth_key, priv_key = (reveal(s.community), reveal(s.auth_key),
                                             reveal(s.priv_key))
        except SecretUnavailable as exc:  # a key file read lazily: only this device fails
            raise SnmpError("config", exc.message) from None
        return cls(
            host=dev.host, port=dev.port, version=s.version, community=community,
            user=s.user, security_level=s.security_level, auth_protocol=s.auth_protocol,
            auth_key=auth_key, priv_protocol=s.priv_protocol,
            priv_key=priv_key, context=s.context, timeout=dev.timeout,
            retries=dev.retries,
        )


# -- the one loop and engine ----------------------------------------------------------------
class _Service:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_loop_exception)
        self.thread = threading.Thread(target=self._run, name="opsctl-snmp", daemon=True)
        self.thread.start()
        self._engine = None
        self.active = 0             # coroutines of run() in flight on the loop
        self.reset_wanted = False   # rebuild the engine once none is (engine-ID change)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def engine(self):
        # Created on the service loop the first time it is needed (import cost ~0.3 s).
        if self._engine is None:
            self._engine = hlapi().SnmpEngine()
            # pysnmp builds the engine's MIB modules from their .py sources (compiled twice:
            # its loader reads no __pycache__): ~2.5 MB of freed compiler memory that would
            # otherwise stay resident under the first poll's peak.
            from opsctl.core.memory import release_memory

            release_memory()
        return self._engine


def _loop_exception(_loop, context: dict) -> None:
    """A malformed packet makes pysnmp's receive callback raise inside the loop; asyncio
    would print a traceback. It is a bad packet from the network, not a bug: one line."""
    exc = context.get("exception")
    what = f"{type(exc).__name__}: {exc}" if exc is not None else context.get("message")
    log.warning("ignored a malformed SNMP packet (%s)", str(what)[:200])


_service: _Service | None = None
_service_lock = threading.Lock()


# -- importing pysnmp without its privacy ciphers ---------------------------------------------
# pysnmp's USM imports ``cryptography`` (DES, 3DES, AES) when it is first imported, for
# SNMPv3 authPriv only: ~6 MB of resident memory (most of it the Rust/OpenSSL extension)
# in a process that may only ever speak v1/v2c. pysnmp is therefore imported with
# ``cryptography`` refused to the importing thread (its cipher modules then note
# "no crypto", exactly as when the package is not installed), and the ciphers are loaded
# — the cipher modules re-executed in place, so the USM's existing instances see them —
# before the first authPriv request is built (:func:`_load_ciphers`).
_CIPHER_MODULES = ("pysnmp.proto.secmod.rfc3414.priv.des",
                   "pysnmp.proto.secmod.eso.priv.des3",
                   "pysnmp.proto.secmod.rfc3826.priv.aes")
_hlapi = None
_ciphers_deferred = False
_import_lock = threading.Lock()


class _RefuseCiphers:
    """A meta path finder refusing ``cryptography`` (and ``pysmi``) to the thread
    importing pysnmp.

    pysnmp also imports pysmi, its MIB compiler (with lark, jinja2 and requests: ~100 ms
    of start-up and ~15 MB), whenever it is installed — here it is a test dependency —
    only to compile MIBs from source; opsctl speaks numeric OIDs, and pysnmp works
    without it exactly as when it is not installed (``pysnmp.smi.compiler`` catches the
    ImportError). Installed once and never removed (removing a finder while another
    thread walks ``sys.meta_path`` could make that thread skip the next one); idle
    otherwise."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.refused: tuple[str, ...] = ()

    def find_spec(self, name, path=None, target=None):
        if self.thread is not None and threading.get_ident() == self.thread \
                and name.partition(".")[0] in self.refused:
            raise ModuleNotFoundError(f"{name} not loaded by opsctl's SNMP client "
                                      "(deferred or not needed)", name=name)
        return None


_refuse_ciphers = _RefuseCiphers()


def hlapi():
    """pysnmp's ``hlapi.v3arch.asyncio`` (imported on first use, without the ciphers)."""
    global _hlapi, _ciphers_deferred
    if _hlapi is not None:
        return _hlapi
    with _import_lock:
        if _hlapi is None:
            deferred = "cryptography" not in sys.modules and \
                "pysnmp.proto.secmod.rfc3414.service" not in sys.modules
            refused = ("cryptography",) if deferred else ()
            if "pysmi" not in sys.modules:
                refused += ("pysmi",)
            if refused:
                if _refuse_ciphers not in sys.meta_path:
                    sys.meta_path.insert(0, _refuse_ciphers)
                _refuse_ciphers.refused = refused
                _refuse_ciphers.thread = threading.get_ident()
            try:
                import pysnmp.hlapi.v3arch.asyncio as h
            finally:
                _refuse_ciphers.thread = None
            _ciphers_deferred = deferred
            _hlapi = h
    return _hlapi


def _load_ciphers() -> None:
    """Give pysnmp its privacy ciphers if :func:`hlapi` held them back (once)."""
    global _ciphers_deferred
    if not _ciphers_deferred:
        return
    with _import_lock:
        if not _ciphers_deferred:
            return
        try:
            import cryptography.hazmat.primitives.ciphers  # noqa: F401
        except ImportError:
            pass  # not installed: pysnmp reports the priv protocol unsupported, as before
        else:
            for name in _CIPHER_MODULES:
                mod = sys.modules.get(name)
                if mod is not None and getattr(mod, "PysnmpCryptoError", False):
                    importlib.reload(mod)  # same module dict: existing instances see it
        _ciphers_deferred = False


def _get_service() -> _Service:
    global _service
    with _service_lock:
        if _service is None:
            _service = _Service()
        return _service


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the SNMP loop from synchronous code and return its result."""
    svc = _get_service()
    if threading.current_thread() is svc.thread:
        raise RuntimeError("opsctl.power.snmp.client.run() called from the SNMP loop itself")
    fut = asyncio.run_coroutine_threadsafe(_then_rest(coro), svc.loop)
    return fut.result(timeout)


async def _then_rest(coro: Coroutine[Any, Any, T]) -> T:
    svc = _get_service()
    svc.active += 1
    try:
        return await coro
    finally:
        svc.active -= 1
        if svc.active == 0 and svc.reset_wanted:
            _reset_engine(svc)
        _pause_timer_if_idle()


# -- SNMPv3 engine-ID changes ------------------------------------------------------------------
# pysnmp discovers an SNMPv3 agent's engine ID once and caches it per address; the cache
# only expires after 300 s of its timer ticks, which are paused while idle. A replaced or
# reset card has a new engine ID and drops every request made for the old one, so the
# device would stay "no response" until opsctl restarted. When a v3 agent that answered
# before stops answering, the engine is rebuilt (public API: close its dispatcher, make a
# new SnmpEngine) once nothing is in flight, so the next poll discovers afresh. At most
# once per target per REDISCOVER_EVERY seconds: a card that is simply dead must not cost
# an engine rebuild on every poll.
REDISCOVER_EVERY = 300.0
_v3_answered: set[tuple] = set()
_v3_reset_at: dict[tuple, float] = {}


def _v3_key(t: Target) -> tuple:
    return (t.host, t.port, t.user, t.context)


def _note_v3_outcome(t: Target, ind) -> bool:
    """Track v3 agents that answered; True when a rebuild was scheduled for ``t``."""
    if t.version != "3":
        return False
    key = _v3_key(t)
    if ind is None:
        _v3_answered.add(key)
        return False
    hlapi()
    from pysnmp.proto import errind

    if key not in _v3_answered or not isinstance(
            ind, errind.RequestTimedOut | errind.NotInTimeWindow | errind.UnknownEngineID):
        return False
    now = time.monotonic()
    if now - _v3_reset_at.get(key, -REDISCOVER_EVERY) < REDISCOVER_EVERY:
        return False
    _v3_reset_at[key] = now
    _v3_answered.discard(key)
    _get_service().reset_wanted = True
    log.warning("%s: SNMPv3 agent stopped answering; its engine ID is discovered again on "
                "the next poll (a replaced or reset card has a new one)", t.label)
    return True


def _reset_engine(svc: _Service) -> None:
    eng, svc._engine, svc.reset_wanted = svc._engine, None, False
    if eng is None:
        return
    try:
        eng.close_dispatcher()
    except Exception as exc:  # noqa: BLE001 - the old engine is dropped either way
        log.debug("closing the old SNMP engine: %s", exc)


# pysnmp's asyncio dispatcher ticks every 0.1 s for as long as a transport exists (request
# timeouts and cache expiry count these ticks): ten wake-ups a second, for ever, in a
# daemon that polls every 30 s. The ticks are paused while no request is outstanding and
# resumed before the next one is sent; timeouts are counted in ticks, so they are unaffected.
def _dispatcher():
    eng = _get_service()._engine
    return getattr(eng, "transport_dispatcher", None) if eng is not None else None


def _resume_timer() -> None:
    d = _dispatcher()
    if d is not None and getattr(d, "loopingcall", False) is None \
            and d.get_timer_resolution() > 0:
        d.loopingcall = asyncio.ensure_future(d.handle_timeout(), loop=d.loop)


def _pause_timer_if_idle() -> None:
    d = _dispatcher()
    if d is None or getattr(d, "loopingcall", None) is None or d.jobs_are_pending():
        return
    cancel = getattr(d, "_cancel_loopingcall", None)
    if cancel is not None:
        cancel()


def engine():
    """The process's SnmpEngine; only call from coroutines running under :func:`run`."""
    return _get_service().engine()


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


def _auth_data(t: Target):
    h = hlapi()
    if t.version in ("1", "2c"):
        # The community doubles as the LCD entry name; hash it so two devices with
        # different communities never share (or reveal) an entry.
        return h.CommunityData(t.community or "public", mpModel=0 if t.version == "1" else 1)
    if not t.user:
        raise SnmpError("config", "SNMPv3 needs a user")
    kw: dict[str, Any] = {}
    if t.security_level in ("authNoPriv", "authPriv"):
        kw["authKey"] = t.auth_key
        kw["authProtocol"] = getattr(h, _AUTH[t.auth_protocol])
    if t.security_level == "authPriv":
        _load_ciphers()
        kw["privKey"] = t.priv_key
        kw["privProtocol"] = getattr(h, _PRIV[t.priv_protocol])
    return h.UsmUserData(t.user, **kw)


async def _transport(t: Target):
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


def _error_from_indication(ind, t: Target) -> SnmpError:
    hlapi()
    from pysnmp.proto import errind

    tries = t.retries + 1
    if isinstance(ind, errind.RequestTimedOut):
        # Agents drop requests they cannot authenticate instead of answering: say so.
        why = ("a wrong community is also ignored silently" if t.version != "3" else
               "a wrong SNMPv3 priv key is also ignored silently")
        return SnmpError("timeout", f"no response from {t.label} "
                                    f"(timeout {t.timeout:g}s x {tries} tries; {why})")
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


def _vb_pairs(var_binds) -> list[tuple[str, Raw]]:
    out = []
    for vb in var_binds:
        name, val = vb[0], vb[1]
        out.append((oid_str(name.asTuple() if hasattr(name, "asTuple") else name),
                    from_pysnmp(val)))
    return out


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


async def preconfigure(targets: Sequence[Target]) -> None:
    """Enter every v1/v2c target into the engine's target tables before the first request.

    pysnmp's v1/v2c security model re-walks the whole ``snmpTargetAddrTable`` on the first
    incoming message after any change to it. Targets entered lazily, while answers already
    arrive, change the table between answers, so the walk repeats about once per device:
    a cold poll of N devices cost O(N^2) (54 % of a 1 000-device poll). Entered up front
    the table changes N times before any answer and is walked once. Targets that cannot
    be set up are skipped here; their own read reports why.
    """
    h = hlapi()
    from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD

    eng = engine()
    for t in targets:
        if t.version not in ("1", "2c"):
            continue  # v3 users are entered per request (see _v3_lock)
        try:
            transport = await _transport(t)
            LCD.configure(eng, _auth_data(t), transport, h.ContextData(
                contextName=t.context).contextName)
        except Exception:  # noqa: BLE001, S112 - the device's read reports its own error
            continue


def _v3_lock(t: Target) -> asyncio.Lock | None:
    if t.version != "3" or not t.user:
        return None
    register([t])
    if len(_v3_keys[t.user]) < 2:
        return None
    return _v3_locks.setdefault(t.user, asyncio.Lock())


# -- operations ------------------------------------------------------------------------------
class Session:
    """One device's request context on the SNMP loop (created inside a coroutine)."""

    def __init__(self, target: Target):
        self.target = target
        self._auth = None
        self._transport = None
        self.requests = 0
        # Every answer a GET of this session received (a read plan is built from it).
        self.answers: dict[str, Raw] = {}
        # Set by a planned read (opsctl.power.reader): objects the agent lacked at its
        # last full read are answered MISSING without asking, and answers fetched ahead
        # in one GET are served from ``answers`` instead of being asked again.
        self.assume_absent: frozenset[str] = frozenset()
        self.reuse_answers = False
        # Objects to add to the next GET that goes out (e.g. sysUpTime on a full read).
        self.piggyback: list[str] = []

    async def _open(self):
        if self._transport is None:
            h = hlapi()
            self._auth = _auth_data(self.target)
            self._transport = await _transport(self.target)
            self._ctx = h.ContextData(contextName=self.target.context)
        return self._auth, self._transport

    async def _send(self, op: str, oids: Sequence[str], reps: int = 0):
        lock = _v3_lock(self.target)
        if lock is None:
            return await self._send_unlocked(op, oids, reps)
        async with lock:
            return await self._send_unlocked(op, oids, reps)

    async def _send_unlocked(self, op: str, oids: Sequence[str], reps: int = 0):
        """One request PDU, below pysnmp's hlapi varbind layer.

        hlapi's get_cmd/bulk_cmd resolve every OID through the MIB view controller
        (``ObjectIdentity.resolve_with_mib``), which costs more CPU than the request itself;
        numeric OIDs need none of it. Transport/credential set-up still goes through
        hlapi's LCD configurator (cached per target).
        """
        hlapi()  # first: imports pysnmp without its ciphers
        from pysnmp.entity.rfc3413 import cmdgen
        from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD
        from pysnmp.proto.rfc1902 import Null, ObjectName

        auth, transport = await self._open()
        eng = engine()
        addr_name, _ = LCD.configure(eng, auth, transport, self._ctx.contextName)
        _resume_timer()
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

    async def get(self, oids: Sequence[str]) -> dict[str, Raw]:
        """GET ``oids``; absent objects come back as ``MISSING``, never as an error."""
        result: dict[str, Raw] = {}
        todo = []
        for o in dict.fromkeys(oids):
            if o in self.assume_absent:
                result[o] = MISSING
            elif self.reuse_answers and o in self.answers:
                result[o] = self.answers[o]
            else:
                todo.append(o)
        if not todo:
            return result
        extra = [o for o in self.piggyback if o not in todo]
        self.piggyback = []
        fetched: dict[str, Raw] = {}
        ask = todo + extra
        for i in range(0, len(ask), MAX_VARBINDS):
            fetched.update(await self._get_chunk(ask[i:i + MAX_VARBINDS]))
        self.answers.update(fetched)
        result.update((o, fetched.get(o, MISSING)) for o in todo)
        return result

    async def _get_chunk(self, oids: list[str]) -> dict[str, Raw]:

        result: dict[str, Raw] = {}
        pending = list(oids)
        while pending:
            self.requests += 1
            try:
                ind, status, index, vbs = await self._send("get", pending)
            except SnmpError:
                raise
            except OSError as exc:
                raise SnmpError("unreachable", f"{self.target.label}: {exc.strerror}") from None
            except Exception as exc:  # noqa: BLE001 - pysnmp raises bare PySnmpError & co.
                raise SnmpError("protocol", f"{self.target.label}: {type(exc).__name__}: "
                                            f"{exc}") from None
            if ind:
                raise _error_from_indication(ind, self.target)
            if status:
                code = int(status)
                # v1 noSuchName (2) names the one bad OID: drop it and ask for the rest.
                if code == 2 and 0 < int(index) <= len(pending):
                    bad = pending.pop(int(index) - 1)
                    result[bad] = MISSING
                    continue
                if code == 1 and len(pending) > 1:  # tooBig: split
                    half = len(pending) // 2
                    result.update(await self._get_chunk(pending[:half]))
                    pending = pending[half:]
                    continue
                if code in (2, 5, 6):  # noSuchName/genErr/noAccess on one varbind
                    if len(pending) == 1:
                        result[pending[0]] = MISSING
                        break
                    # Ask one by one to find which OID the agent dislikes.
                    for o in pending:
                        result.update(await self._get_chunk([o]))
                    break
                raise SnmpError("protocol", f"{self.target.label}: SNMP error-status "
                                            f"{status.prettyPrint()} at index {int(index)}")
            for oid, raw in _vb_pairs(vbs):
                result[oid] = raw
            for o in pending:
                result.setdefault(o, MISSING)
            break
        return result

    async def walk(self, bases: Sequence[str], max_rows: int = 10000,
                   first_reps: int | None = None) -> dict[str, dict[str, Raw]]:
        """Walk several table columns at once (GETBULK on v2c/v3, GETNEXT on v1).

        Returns ``{base: {index_suffix: Raw}}``; a column the agent lacks is empty.
        ``first_reps`` caps the repetitions of the first GETBULK (a caller that knows
        the table had N rows last time asks N + 1: one request, and no 25 rows of
        whatever follows an empty table to decode).
        """

        out: dict[str, dict[str, Raw]] = {b: {} for b in bases}
        cursor = {b: b for b in bases}
        active = list(bases)
        while active:
            self.requests += 1
            start = [cursor[b] for b in active]
            try:
                if self.target.version == "1":
                    ind, status, index, vbs = await self._send("next", start)
                else:
                    reps = max(1, min(BULK_REPETITIONS, max_rows + 1,
                                      BULK_VARBINDS // len(active)))
                    if first_reps is not None:
                        reps = max(1, min(reps, first_reps))
                        first_reps = None
                    ind, status, index, vbs = await self._send("bulk", start, reps)
            except OSError as exc:
                raise SnmpError("unreachable", f"{self.target.label}: {exc.strerror}") from None
            except Exception as exc:  # noqa: BLE001
                raise SnmpError("protocol", f"{self.target.label}: {type(exc).__name__}: "
                                            f"{exc}") from None
            if ind:
                raise _error_from_indication(ind, self.target)
            if status:
                if int(status) == 2:  # v1 noSuchName: a column walked off the end of the MIB
                    # error-index names that column: it is done, the others go on (a v1
                    # agent fails the whole PDU, so dropping all of them lost every table
                    # walked together with the MIB's last one).
                    i = int(index) - 1
                    if self.target.version == "1" and 0 <= i < len(active):
                        del active[i]
                        continue
                    break
                raise SnmpError("protocol", f"{self.target.label}: walk error-status "
                                            f"{status.prettyPrint()}")
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
        return out
