"""One device's SNMP request context, independent of the engine that carries it.

Which engine speaks to a device is chosen by its SNMP version (numbers in docs/power.md):

* v2c: gufo-snmp (BER and socket I/O in Rust; ~0.1 ms of CPU per device-poll);
* v1 and v3: pysnmp, through :mod:`opsctl.power.snmp.compat` (v1 for its noSuchName
  error-index semantics, v3 for USM, context names and engine-ID rediscovery).

Both hand back :class:`~opsctl.power.snmp.values.Raw` values and raise only
:class:`SnmpError`; the GET logic above them (chunking, tooBig, noSuchName, genErr, the
read plan's reuse of answers) lives here once.

Errors never escape as engine exceptions: every failure becomes :class:`SnmpError` with a
``kind`` (timeout, dns, unreachable, auth, protocol, config) and a message that never
contains a community or key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from opsctl.power.snmp.values import MISSING, Raw

if TYPE_CHECKING:
    from opsctl.core.config.devices import Device

# Varbinds per GET PDU: every agent seen in practice takes 40, and tooBig is handled.
MAX_VARBINDS = 40
BULK_REPETITIONS = 25
# Varbinds asked per GETBULK (columns x repetitions): agents may return fewer.
BULK_VARBINDS = 100

# error-status codes the GET logic acts on
TOO_BIG, NO_SUCH_NAME, GEN_ERR, NO_ACCESS = 1, 2, 5, 6
# RFC 3416 error-status names, for messages
ERROR_STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr",
                "noAccess", "wrongType", "wrongLength", "wrongEncoding", "wrongValue",
                "noCreation", "inconsistentValue", "resourceUnavailable", "commitFailed",
                "undoFailed", "authorizationError", "notWritable", "inconsistentName")


def status_name(code: int) -> str:
    return ERROR_STATUS[code] if 0 <= code < len(ERROR_STATUS) else str(code)


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
    def from_device(cls, dev: Device) -> Target:
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

    def timeout_error(self) -> SnmpError:
        # Agents drop requests they cannot authenticate instead of answering: say so.
        why = ("a wrong community is also ignored silently" if self.version != "3" else
               "a wrong SNMPv3 priv key is also ignored silently")
        return SnmpError("timeout", f"no response from {self.label} (timeout "
                                    f"{self.timeout:g}s x {self.retries + 1} tries; {why})")


class Backend(Protocol):
    """What an engine does for a :class:`Session` (one per session, on the SNMP loop)."""

    async def get(self, oids: list[str]) -> tuple[int, int, list[tuple[str, Raw]], int]:
        """GET: ``(error_status, error_index, [(oid, value)], requests sent)``."""
        ...

    async def walk(self, bases: Sequence[str], max_rows: int,
                   first_reps: int | None) -> tuple[dict[str, dict[str, Raw]], int]:
        """Walk columns: ``({base: {index_suffix: value}}, requests sent)``."""
        ...


def _backend(target: Target) -> Backend:
    if target.version == "2c":
        from opsctl.power.snmp.fast import FastBackend

        return FastBackend(target)
    from opsctl.power.snmp.compat import PysnmpBackend

    return PysnmpBackend(target)


class Session:
    """One device's request context on the SNMP loop (created inside a coroutine)."""

    def __init__(self, target: Target):
        self.target = target
        self._engine: Backend | None = None
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

    @property
    def _backend(self) -> Backend:
        if self._engine is None:
            self._engine = _backend(self.target)
        return self._engine

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
            code, index, pairs, sent = await self._backend.get(pending)
            self.requests += sent - 1
            if code:
                # v1 noSuchName (2) names the one bad OID: drop it and ask for the rest.
                if code == NO_SUCH_NAME and 0 < index <= len(pending):
                    bad = pending.pop(index - 1)
                    result[bad] = MISSING
                    continue
                if code == TOO_BIG and len(pending) > 1:  # split
                    half = len(pending) // 2
                    result.update(await self._get_chunk(pending[:half]))
                    pending = pending[half:]
                    continue
                if code in (TOO_BIG, NO_SUCH_NAME, GEN_ERR, NO_ACCESS):  # on one varbind
                    if len(pending) == 1:
                        result[pending[0]] = MISSING
                        break
                    # Ask one by one to find which OID the agent dislikes.
                    for o in pending:
                        result.update(await self._get_chunk([o]))
                    break
                raise SnmpError("protocol", f"{self.target.label}: SNMP error-status "
                                            f"'{status_name(code)}' at index {index}")
            for oid, raw in pairs:
                result[oid] = raw
            for o in pending:
                result.setdefault(o, MISSING)
            break
        return result

    async def walk(self, bases: Sequence[str], max_rows: int = 10000,
                   first_reps: int | None = None) -> dict[str, dict[str, Raw]]:
        """Walk several table columns (GETBULK on v2c/v3, GETNEXT on v1).

        Returns ``{base: {index_suffix: Raw}}``; a column the agent lacks is empty.
        ``first_reps`` caps the repetitions of the first GETBULK (a caller that knows
        the table had N rows last time asks N + 1: one request, and no 25 rows of
        whatever follows an empty table to decode).
        """
        out, sent = await self._backend.walk(list(bases), max_rows, first_reps)
        self.requests += sent
        return out
