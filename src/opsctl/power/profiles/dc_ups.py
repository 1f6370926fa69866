"""DC UPSes (battery-backed DC supplies): their output is DC, so input/output mean the
mains side and the DC bus.

- ``algcom`` — Algcom DC UPS, enterprise 49136: DC output voltage 0.1 V, currents in mA,
  temperatures in °C, yes(1)/no(0) state flags (charging, discharging).
- ``compas`` — Alpha Innovations Comp@s monitoring, UPS (USV) module, 26854.3.2.1: values
  in whole units, runtime in minutes, under one long prefix.

Sources: the objects as LibreNMS reads them (algcom-dc-ups.yaml, compas.yaml) and the
recordings in tests/fixtures/ups-corpus. Status comes from the charging/discharging flags
(Algcom) or from measurements (Comp@s: see :func:`opsctl.power.profiles.base.derive_status`).
"""

from __future__ import annotations

from opsctl.power.profiles.base import Field, Profile, Source, oid_join

ALGCOM = "1.3.6.1.4.1.49136.1"
COMPAS = "1.3.6.1.4.1.26854.3.2.1.20.1.20.1.13.3"


def a(suffix: str) -> str:
    return oid_join(ALGCOM, suffix)


def c(suffix: str) -> str:
    return oid_join(COMPAS, suffix, "0")


CHARGING = {1: "OL CHRG", 0: ""}      # charging: mains feeds the charger
DISCHARGING = {1: "OB DISCHRG", 0: ""}
_T = {"unit": "°C", "minimum": -40, "maximum": 120}

ALGCOM_FIELDS = (
    Field("ups.status", (Source(a("3.4.0"), enum=DISCHARGING),), "flags",
          description="discharging flag"),
    Field("ups.status", (Source(a("3.3.0"), enum=CHARGING),), "flags",
          description="charging flag"),
    Field("output.voltage", (Source(a("1.1.0"), 0.1),), unit="V", minimum=0, maximum=1000,
          description="DC output voltage (0.1 V)"),
    Field("output.current", (Source(a("1.2.0"), 0.001),), unit="A", minimum=0,
          maximum=10000, description="total output current (mA)"),
    Field("battery.voltage", (Source(a("2.1.0"), 0.1),), unit="V", minimum=0, maximum=1000,
          description="battery voltage (0.1 V)"),
    Field("battery.current", (Source(a("2.2.0"), 0.001),), unit="A", minimum=-10000,
          maximum=10000, description="battery current (mA)"),
    Field("ups.temperature", (Source(a("4.1.0")),), **_T, description="internal temperature"),
    # 0 is what the card sends with no probe fitted (the recording's value): not a reading.
    Field("ambient.temperature", (Source(a("4.2.0")),), **_T, sentinels=(0,), optional=True,
          description="external probe temperature"),
    # The last battery test: voltage and current at its start and end.
    Field("battery.test.voltage.start", (Source(a("8.5.0"), 0.1),), unit="V", minimum=0,
          maximum=1000, optional=True, description="battery test initial voltage (0.1 V)"),
    Field("battery.test.current.start", (Source(a("8.6.0"), 0.001),), unit="A",
          minimum=-10000, maximum=10000, optional=True,
          description="battery test initial current (mA)"),
    Field("battery.test.voltage.end", (Source(a("8.7.0"), 0.1),), unit="V", minimum=0,
          maximum=1000, optional=True, description="battery test final voltage (0.1 V)"),
    Field("battery.test.current.end", (Source(a("8.8.0"), 0.001),), unit="A",
          minimum=-10000, maximum=10000, optional=True,
          description="battery test final current (mA)"),
    Field("ups.heatsink.temperature", (Source(a("4.3.0")),), **_T, optional=True,
          description="heatsink temperature"),
)

COMPAS_FIELDS = (
    Field("battery.charge", (Source(c("91")),), unit="%", minimum=0, maximum=100,
          description="battery charge"),
    Field("battery.runtime", (Source(c("92"), 60),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="runtime (minutes)"),
    Field("battery.temperature", (Source(c("71")),), **_T, description="battery temperature"),
    Field("battery.current", (Source(c("61")),), unit="A", minimum=-10000, maximum=10000,
          description="battery input current (A)"),
    Field("output.voltage", (Source(c("11")),), unit="V", minimum=0, maximum=1000,
          description="DC bus voltage (V)"),
    Field("output.current", (Source(c("22")),), unit="A", minimum=0, maximum=10000,
          description="output current (A)"),
    Field("output.load.current", (Source(c("52")),), unit="A", minimum=0, maximum=10000,
          optional=True, description="load current (A)"),
)

PROFILES = [
    Profile(
        name="algcom",
        kind="ups",
        description="Algcom DC UPS (enterprise 49136)",
        sys_object_ids=("1.3.6.1.4.1.49136",),
        probe_oids=(a("1.1.0"), a("3.4.0")),
        fields=ALGCOM_FIELDS,
        priority=10,
        tested_with=("Algcom DC UPS (tests/fixtures/ups-corpus algcom-dc-ups)",),
    ),
    Profile(
        name="compas",
        kind="ups",
        description="Alpha Innovations Comp@s, UPS (USV) module (enterprise 26854)",
        sys_object_ids=("1.3.6.1.4.1.26854.3.2.1",),
        probe_oids=(c("91"), c("11")),
        fields=COMPAS_FIELDS,
        priority=10,
        tested_with=("Comp@s USV module firmware 2.75 (tests/fixtures/ups-corpus compas_usv)",),
    ),
]
