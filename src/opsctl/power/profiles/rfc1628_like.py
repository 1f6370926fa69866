"""UPS MIBs that copy RFC 1628's layout under a vendor's enterprise number.

- ``sinetica`` — Sinetica UPSController / Eaton Sinetica cards, 13891.101: RFC 1628's
  objects one for one, same units (the corpus README: input/output voltages are whole
  volts). Its output currents (1780 for 17.8 A: ten times the input current per line,
  which the power balance rules out) are rescaled by the general evidence rule
  (:func:`opsctl.power.profiles.ietf.current_balance_postprocess`); its output power
  fits no unit (58500 on line 1 and 0 on lines 2-3 while 15-16 A flow there), so it is
  not read.
- ``socomec`` — Socomec NET VISION cards (SOCOMECUPS-MIB), 4555.1.1.7.1: RFC 1628's groups
  but voltages in 0.1 V, temperature in 0.1 °C, frequencies as single objects, and 65535
  where a value is not available (runtime minutes on a NETYS RT).

Sources: the MIB layouts as LibreNMS reads them (sinetica.yaml, socomec-ups.yaml), NUT's
ietf-mib.c for the RFC 1628 enumerations, and the recordings in tests/fixtures/ups-corpus.
"""

from __future__ import annotations

import dataclasses

from opsctl.power.profiles import ietf
from opsctl.power.profiles.base import Field, Profile, Source, oid_join

SINETICA = "1.3.6.1.4.1.13891.101"
SOCOMEC = "1.3.6.1.4.1.4555.1.1.7.1"


def rebased(prefix: str, fields: tuple[Field, ...], skip: set[str]) -> tuple[Field, ...]:
    """RFC 1628's fields with their OIDs moved under ``prefix`` (upsObjects -> prefix)."""
    out = []
    for f in fields:
        if f.name in skip:
            continue
        srcs = tuple(dataclasses.replace(s, oid=prefix + s.oid[len(ietf.UPS):])
                     for s in f.sources if s.oid.startswith(ietf.UPS + "."))
        if srcs:
            out.append(dataclasses.replace(f, sources=srcs))
    return tuple(out)


_SINETICA_UNREAD = {"ups.realpower"} | {f"output.L{n}.realpower" for n in (1, 2, 3)}


def s(suffix: str) -> str:
    return oid_join(SOCOMEC, suffix)


_V = {"unit": "V", "minimum": 0, "maximum": 1000}
_HZ = {"unit": "Hz", "minimum": 0, "maximum": 100}

SOCOMEC_FIELDS = (
    Field("device.model", (Source(s("1.1.0")),), "string", description="upsIdentModel"),
    Field("device.serial", (Source(s("1.2.0")),), "string", description="upsIdentSerial"),
    Field("ups.firmware", (Source(s("1.5.0")),), "string", description="agent software"),
    # upsOutputSource as RFC 1628's: other(1), none(2), normal(3), bypass(4), battery(5),
    # booster(6), reducer(7).
    Field("ups.status", (Source(s("4.1.0"), enum=ietf.OUTPUT_SOURCE),), "flags",
          unknown_values=(1,), description="upsOutputSource"),
    Field("battery.runtime.elapsed", (Source(s("2.2.0")),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 365, optional=True, description="upsSecondsOnBattery"),
    Field("battery.runtime", (Source(s("2.3.0"), 60),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="upsEstimatedMinutesRemaining"),
    Field("battery.charge", (Source(s("2.4.0")),), unit="%", minimum=0, maximum=100),
    Field("battery.voltage", (Source(s("2.5.0"), 0.1),), **_V,
          description="upsBatteryVoltage (0.1 V)"),
    Field("battery.current", (Source(s("2.6.0"), 0.1),), unit="A", minimum=-1000,
          maximum=1000, description="upsBatteryCurrent (0.1 A)"),
    Field("ups.temperature", (Source(s("2.7.0"), 0.1),), unit="°C", minimum=-40,
          maximum=100, description="upsBatteryTemperature (0.1 °C, ambient probe)"),
    Field("input.frequency", (Source(s("3.2.0"), 0.1),), **_HZ,
          description="upsInputFrequency (0.1 Hz)"),
    Field("input.voltage", (Source(s("3.3.1.2.1"), 0.1),), **_V,
          description="upsInputVoltage.1 (0.1 V)"),
    Field("output.frequency", (Source(s("4.2.0"), 0.1),), **_HZ,
          description="upsOutputFrequency (0.1 Hz)"),
    Field("output.voltage", (Source(s("4.4.1.2.1"), 0.1),), **_V,
          description="upsOutputVoltage.1 (0.1 V)"),
    Field("output.current", (Source(s("4.4.1.3.1"), 0.1),), unit="A", minimum=0,
          maximum=10000, description="upsOutputCurrent.1 (0.1 A)"),
    Field("ups.load", (Source(s("4.4.1.4.1")),), unit="%", minimum=0, maximum=250,
          description="upsOutputPercentLoad.1"),
    Field("input.bypass.frequency", (Source(s("5.1.0"), 0.1),), **_HZ, optional=True,
          description="upsBypassFrequency (0.1 Hz)"),
    Field("input.bypass.voltage", (Source(s("5.3.1.2.1"), 0.1),), **_V, optional=True,
          description="upsBypassVoltage.1 (0.1 V)"),
    Field("ups.alarms.count", (Source(s("6.1.0")),), minimum=0, maximum=1000,
          optional=True, description="upsAlarmsPresent"),
)

PROFILES = [
    Profile(
        name="sinetica",
        kind="ups",
        description="Sinetica UPSController (RFC 1628 layout under enterprise 13891.101)",
        sys_object_ids=(SINETICA,),
        probe_oids=(oid_join(SINETICA, "2.4.0"), oid_join(SINETICA, "4.1.0")),
        fields=rebased(SINETICA, ietf.FIELDS, _SINETICA_UNREAD),
        postprocess=ietf.ietf_postprocess,
        priority=10,
        tested_with=("Sinetica UPSController hw ZBBNC2 (tests/fixtures/ups-corpus sinetica)",),
    ),
    Profile(
        name="socomec",
        kind="ups",
        description="Socomec NET VISION (SOCOMECUPS-MIB, enterprise 4555)",
        sys_object_ids=("1.3.6.1.4.1.4555.1.1",),
        probe_oids=(s("2.4.0"), s("4.1.0"), s("4.4.1.4.1")),
        fields=SOCOMEC_FIELDS,
        priority=10,
        tested_with=("Socomec NETYS RT, NET VISION 8 (tests/fixtures/ups-corpus socomec-ups)",),
    ),
]
