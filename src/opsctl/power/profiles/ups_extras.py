"""UPS cards that speak RFC 1628 for the UPS and a vendor MIB for what surrounds it
(environment probes, cooling units), and cards with only a few vendor objects.

- ``liebert`` — Liebert/Vertiv GP cards (IntelliSlot, enterprise 476.1.42): RFC 1628 +
  LIEBERT-GP-ENVIRONMENTAL temperature (°C) and humidity (%RH) measurements as readings;
  their set points are settings, not readings, and are not read.
- ``tripplite`` — Tripp Lite PowerAlert (850.1): RFC 1628 + the environment probe
  (TRIPPLITE-PRODUCTS tlEnvTemperatureC, tlEnvHumidity, whole units).
- ``dell-ups`` — Dell UPS network cards (674.10902.2): runtime (seconds) and system
  consumption (W) only; the card sends a health summary but no power source, so no
  ``ups.status``: its status is that health summary (``device.health``), shown as such.
"""

from __future__ import annotations

from opsctl.power.profiles.base import (
    Column,
    Field,
    Profile,
    Source,
    Table,
    health_field,
)

LGP_ENV = "1.3.6.1.4.1.476.1.42.3.4"
LIEBERT_TABLES = (
    Table("lgp_temperature", (
        Column("temperature", f"{LGP_ENV}.1.3.3.1.3", quantity="temperature", unit="°C"),
    ), group="temperature point", max_rows=32, description="lgpEnvTemperatureTableDegC"),
    Table("lgp_humidity", (
        Column("humidity", f"{LGP_ENV}.2.2.3.1.3", quantity="humidity", unit="%"),
    ), group="humidity point", max_rows=32, description="lgpEnvHumidityTableRel"),
)

TL_ENV = "1.3.6.1.4.1.850.101.1"
TRIPP_FIELDS = (
    Field("ambient.temperature", (Source(f"{TL_ENV}.1.1.0"),), unit="°C", minimum=-40,
          maximum=100, optional=True, description="tlEnvTemperatureC"),
    Field("ambient.humidity", (Source(f"{TL_ENV}.2.1.0"),), unit="%", minimum=0,
          maximum=100, optional=True, description="tlEnvHumidity"),
)

DELL = "1.3.6.1.4.1.674.10902.2"
DELL_FIELDS = (
    Field("device.model", (Source(f"{DELL}.100.1.0"),), "string",
          description="productIDDisplayName"),
    Field("ups.firmware", (Source(f"{DELL}.100.4.0"),), "string"),
    Field("ups.realpower", (Source(f"{DELL}.120.2.6.0"),), unit="W", minimum=0,
          maximum=10**7, description="system consumption (W)"),
    Field("battery.runtime", (Source(f"{DELL}.120.5.3.0"),), unit="s", minimum=0,
          maximum=60 * 60 * 24 * 7, description="runtime remaining (s)"),
    # DELL-SNMP-UPS-MIB productStatusGlobalStatus: other(1) unknown(2) ok(3)
    # nonCritical(4) critical(5) nonRecoverable(6); levels as LibreNMS's dell-ups.yaml
    # maps them. The MIB has no input/output source object (physicalBatteryABMStatus,
    # not sent by this card, is the battery's charge cycle), so this is its only status.
    health_field(f"{DELL}.110.1.0", {3: "OK", 4: "WARNING", 5: "CRITICAL", 6: "CRITICAL"},
                 "productStatusGlobalStatus", unknown=(1, 2)),
)

PROFILES = [
    Profile(
        name="liebert",
        kind="ups",
        description="Liebert/Vertiv GP card: RFC 1628 + environmental points (476.1.42)",
        sys_object_ids=("1.3.6.1.4.1.476.1.42",),
        probe_oids=(f"{LGP_ENV}.1.3.3.1.3.1",),
        tables=LIEBERT_TABLES,
        includes=("ietf",),
        priority=10,
        tested_with=("Liebert APM, Liebert card 'weblbds' (tests/fixtures/ups-corpus)",),
    ),
    Profile(
        name="tripplite",
        kind="ups",
        description="Tripp Lite PowerAlert: RFC 1628 + environment probe (850.1)",
        sys_object_ids=("1.3.6.1.4.1.850.1",),
        probe_oids=(f"{TL_ENV}.1.1.0",),
        fields=TRIPP_FIELDS,
        includes=("ietf",),
        priority=10,
        tested_with=("Tripp Lite SMART1500RMXL2UA (tests/fixtures/ups-corpus poweralert_2)",),
    ),
    Profile(
        name="dell-ups",
        kind="ups",
        description="Dell UPS network card (674.10902.2): runtime, consumption, health",
        sys_object_ids=(DELL,),
        probe_oids=(f"{DELL}.120.5.3.0",),
        fields=DELL_FIELDS,
        priority=10,
        tested_with=("Dell UPS Rack 3750W HV (tests/fixtures/ups-corpus)",),
    ),
]
