"""The SNMP client as the rest of opsctl uses it.

* :mod:`.loop`: the one background asyncio loop; :func:`run` submits to it;
* :mod:`.session`: :class:`Target`, :class:`Session`, :class:`SnmpError` (engine-free);
* :mod:`.fast`: SNMPv2c through gufo-snmp;
* :mod:`.compat`: SNMPv1 and SNMPv3 through pysnmp (version-guarded, public API only).
"""

from __future__ import annotations

from collections.abc import Sequence

from opsctl.power.snmp.loop import run
from opsctl.power.snmp.session import Session, SnmpError, Target

__all__ = ["Session", "SnmpError", "Target", "preconfigure", "register", "run"]


def register(targets: Sequence[Target]) -> None:
    """Announce the targets about to be polled (SNMPv3 users sharing a name)."""
    if any(t.version == "3" for t in targets):
        from opsctl.power.snmp import compat

        compat.register(targets)


async def preconfigure(targets: Sequence[Target]) -> None:
    """Set up the engines' target tables before the first request (pysnmp, SNMPv1)."""
    if any(t.version == "1" for t in targets):
        from opsctl.power.snmp import compat

        await compat.preconfigure(targets)
