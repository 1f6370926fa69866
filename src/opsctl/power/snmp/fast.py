"""SNMPv2c through gufo-snmp: BER coding and socket I/O in Rust, driven by asyncio.

Chosen by the numbers (benchmarks/snmp_poll, docs/power.md): a v2c device-poll costs
~0.1 ms of CPU here against ~1 ms for ezsnmp (net-snmp) and ~4 ms for pysnmp, whose
pure-Python BER codec alone takes ~2 ms per GET of twenty objects. Each session has its
own connected UDP socket, so a port with no listener is reported at once (the ICMP
refusal) instead of after every timeout, as snmp_exporter does.

gufo-snmp hands back plain Python values: ``int`` for every integer type (INTEGER,
Counter32/64, Gauge32, TimeTicks), ``bytes`` for OCTET STRING, ``str`` for OBJECT
IDENTIFIER and IpAddress (as text), ``None`` for NULL. They are mapped to :class:`Raw`
below: the integer kinds collapse to ``integer`` and an IpAddress reads as an ``oid``
(what the profiles do with either does not depend on it: numbers are numbers, counter
columns are declared counters by the profile). A NULL value is left out of a GET's or a
GETBULK's answer like an absent object, so over v2c a card's NULL reads as "missing"
rather than as a "null" note: both mean no value. Telling them apart would take one GET
per absent object (a GET of one does), which made a first read of 1 000 agents five times
slower (docs/power.md).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence

from gufo.snmp import SnmpDecodeError, SnmpVersion
from gufo.snmp import SnmpError as GufoError
from gufo.snmp.aio import SnmpSession

from opsctl.power.snmp.session import BULK_REPETITIONS, GEN_ERR, SnmpError, Target
from opsctl.power.snmp.values import MISSING, Raw, is_under, oid_tuple


def to_raw(value: object) -> Raw:
    if value is None:
        return Raw("null")
    if isinstance(value, bool):  # not an SNMP type; never seen, kept honest
        return Raw("integer", int(value))
    if isinstance(value, int):
        return Raw("integer", value)
    if isinstance(value, bytes):
        return Raw("string", value)
    if isinstance(value, str):
        return Raw("oid", value)
    if isinstance(value, float):  # an Opaque-wrapped float (net-snmp's extension)
        return Raw("opaque", repr(value).encode())
    return MISSING


class FastBackend:
    """Requests of one v2c session."""

    def __init__(self, target: Target):
        self.target = target
        self._addr: str | None = None
        self._sess: SnmpSession | None = None  # one socket for the session's GETs

    async def _address(self) -> str:
        if self._addr is None:
            host = self.target.host.strip("[]")
            try:
                ipaddress.ip_address(host)
            except ValueError:
                try:
                    infos = await asyncio.get_running_loop().getaddrinfo(
                        host, self.target.port, type=socket.SOCK_DGRAM)
                except (socket.gaierror, UnicodeError):
                    raise SnmpError("dns", f"cannot resolve host {self.target.host!r}") \
                        from None
                host = str(infos[0][4][0])
            self._addr = host
        return self._addr

    async def _session(self) -> SnmpSession:
        if self._sess is None:
            self._sess = await self._new_session()
        return self._sess

    async def _new_session(self) -> SnmpSession:
        t = self.target
        try:
            return SnmpSession(addr=await self._address(), port=t.port,
                               community=t.community or "public", version=SnmpVersion.v2c,
                               timeout=t.timeout)
        except OSError as exc:
            raise SnmpError("unreachable", f"{t.label}: {exc.strerror}") from None
        except (ValueError, GufoError):
            raise SnmpError("unreachable", f"bad address {t.host}:{t.port}") from None

    async def _tries(self, attempt):
        """Run ``attempt`` up to retries + 1 times on timeouts; map errors to SnmpError."""
        t = self.target
        for _ in range(t.retries + 1):
            started = time.monotonic()
            try:
                return await attempt()
            except TimeoutError:
                # A connected socket sees the ICMP port-unreachable at once; gufo-snmp
                # reports it as a timeout that comes long before the timeout.
                if time.monotonic() - started < t.timeout / 2:
                    raise SnmpError("unreachable", f"{t.label}: connection refused (no SNMP "
                                                   "agent listening on that port)") from None
                continue
            except SnmpDecodeError:
                raise SnmpError("protocol", f"{t.label}: malformed SNMP response") from None
            except OSError as exc:
                raise SnmpError("unreachable", f"{t.label}: {exc.strerror}") from None
            except Exception:
                raise
            except BaseException as exc:
                # gufo-snmp 0.13's BER parser panics on some malformed packets (an index
                # out of bounds); PyO3 raises the panic as PanicException, a BaseException.
                # The packet is bad, not opsctl: a protocol error for this device. (Rust
                # prints the panic's message on stderr; nothing here can stop that.)
                if type(exc).__name__ != "PanicException":
                    raise
                raise SnmpError("protocol", f"{t.label}: malformed SNMP response") from None
        raise t.timeout_error()

    async def get(self, oids: list[str]) -> tuple[int, int, list[tuple[str, Raw]], int]:
        sess = await self._session()
        try:
            answer = await self._tries(lambda: sess.get_many(oids))
        except GufoError:
            # An error-status (tooBig, genErr, ...): gufo-snmp does not say which; the
            # caller narrows it down by asking for fewer objects.
            return GEN_ERR, 0, [], 1
        return 0, 0, [(o, to_raw(answer[o])) for o in oids if o in answer], 1

    async def walk(self, bases: Sequence[str], max_rows: int,
                   first_reps: int | None) -> tuple[dict[str, dict[str, Raw]], int]:
        # gufo-snmp's GETBULK walks one column per request: the columns go in parallel,
        # each on its own socket.
        reps = max(1, min(BULK_REPETITIONS, max_rows + 1))
        if first_reps is not None:
            reps = max(1, min(reps, first_reps))
        results = await asyncio.gather(*(self._walk_column(b, max_rows, reps) for b in bases))
        out = {b: rows for b, (rows, _) in zip(bases, results, strict=True)}
        return out, sum(n for _, n in results)

    async def _walk_column(self, base: str, max_rows: int,
                           reps: int) -> tuple[dict[str, Raw], int]:
        sess = await self._new_session()
        rows: dict[str, Raw] = {}
        it = sess.getbulk(base, max_repetitions=reps)
        last = oid_tuple(base)
        sent = 0
        while len(rows) < max_rows:
            if len(rows) % reps == 0:
                sent += 1  # the iterator asks again when its last answer is used up
            try:
                oid, value = await self._tries(it.__anext__)
            except StopAsyncIteration:
                break
            except GufoError as exc:
                raise SnmpError("protocol", f"{self.target.label}: walk error "
                                            f"({exc or type(exc).__name__})") from None
            if not is_under(oid, base) or oid == base:
                break
            here = oid_tuple(oid)
            if here <= last:  # agent loops (oid not increasing): keep what we have
                break
            last = here
            rows[oid[len(base) + 1:]] = to_raw(value)
        return rows, sent
