"""IF-MIB ifTable + ifXTable (64-bit counters), MIB-II system group: the switch profile.

``switch`` (the default for ``kind: switch``) reads IF-MIB together with
ENTITY-SENSOR-MIB; ``if-mib`` alone reads only the ports.
"""

from __future__ import annotations

from opsctl.power.profiles.base import Column, Field, Profile, Source, Table

SYSTEM = "1.3.6.1.2.1.1"
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"

ADMIN = {1: "up", 2: "down", 3: "testing"}
OPER = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
        7: "lowerLayerDown"}

SYSTEM_FIELDS = (
    Field("device.description", (Source(f"{SYSTEM}.1.0"),), "string"),
    Field("device.sysobjectid", (Source(f"{SYSTEM}.2.0"),), "oid"),
    Field("device.uptime", (Source(f"{SYSTEM}.3.0", 0.01),), unit="s", minimum=0),
    Field("device.contact", (Source(f"{SYSTEM}.4.0"),), "string"),
    Field("device.name", (Source(f"{SYSTEM}.5.0"),), "string"),
    Field("device.location", (Source(f"{SYSTEM}.6.0"),), "string"),
)

PORTS = Table(
    "ports",
    (
        Column("descr", f"{IF}.2", "string"),
        Column("type", f"{IF}.3"),
        Column("mtu", f"{IF}.4"),
        Column("speed", f"{IF}.5"),              # bit/s, Gauge32 (caps at 4.29 Gbit/s)
        Column("admin", f"{IF}.7", "enum", enum=ADMIN),
        Column("oper", f"{IF}.8", "enum", enum=OPER),
        Column("last_change", f"{IF}.9"),        # TimeTicks (sysUpTime at last change)
        Column("in_octets32", f"{IF}.10", "counter"),
        Column("in_discards", f"{IF}.13", "counter"),
        Column("in_errors", f"{IF}.14", "counter"),
        Column("out_octets32", f"{IF}.16", "counter"),
        Column("out_discards", f"{IF}.19", "counter"),
        Column("out_errors", f"{IF}.20", "counter"),
        Column("name", f"{IFX}.1", "string"),
        Column("in_octets", f"{IFX}.6", "counter"),    # ifHCInOctets, Counter64
        Column("out_octets", f"{IFX}.10", "counter"),  # ifHCOutOctets, Counter64
        Column("high_speed", f"{IFX}.15"),             # Mbit/s
        Column("alias", f"{IFX}.18", "string"),
        Column("discontinuity", f"{IFX}.19"),          # ifCounterDiscontinuityTime
    ),
    description="ifTable + ifXTable",
)

PROFILES = [
    Profile(
        name="if-mib",
        kind="switch",
        description="IF-MIB ports (ifTable + ifXTable, 64-bit counters) and system group",
        probe_oids=(f"{SYSTEM}.3.0",),
        fields=SYSTEM_FIELDS,
        tables=(PORTS,),
        tested_with=("net-snmp snmpd 5.9", "snmpsim switch recording (tests/fixtures/snmp)"),
    ),
    Profile(
        name="switch",
        kind="switch",
        description="generic switch: IF-MIB ports + ENTITY-SENSOR-MIB sensors",
        includes=("if-mib", "entity-sensor"),
        probe_oids=(f"{SYSTEM}.3.0",),
        priority=1,  # preferred over plain if-mib when probing finds no vendor
        tested_with=("snmpsim switch recording (tests/fixtures/snmp)",),
    ),
]
