"""``opsctl power``: UPS, switch and sensor monitoring over SNMP; shutdown plans."""

from __future__ import annotations

import click

from opsctl.cli import nagios
from opsctl.cli.completion import DEVICE, SWITCH, UPS
from opsctl.cli.context import AppContext, pass_app
from opsctl.cli.nagios import format_option
from opsctl.core.i18n import _


@click.group()
def power() -> None:
    """UPS, switch and sensor monitoring over SNMP; shutdown plans.

    \b
    Check commands exit with the worst health: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """


# -- rendering helpers (kept here: they are presentation, not domain logic) ----------------
def _fmt_runtime(seconds) -> str | None:
    if not isinstance(seconds, int | float):
        return None
    minutes = seconds / 60
    return f"{minutes / 60:.1f} h" if minutes >= 120 else f"{minutes:.0f} min"


def _key_values(r) -> str:
    v = r.values
    if not r.reachable:
        return ""
    parts: list[str] = []
    if r.kind == "ups":
        shown = r.shown_status()
        if shown:
            parts.append(shown)
        for label, key, unit in ((_("load"), "ups.load", "%"),
                                 (_("charge"), "battery.charge", "%")):
            if key in v:
                parts.append(f"{label + ' ' if label else ''}{v[key]}{unit}")
        rt = _fmt_runtime(v.get("battery.runtime"))
        if rt:
            parts.append(_("runtime {value}").format(value=rt))
    elif r.kind == "inverter":
        if "output.voltage" in v:
            parts.append(_("output {value} V").format(value=v["output.voltage"]))
        if "inverter.modules" in v:
            parts.append(_("modules {running}/{total} running").format(
                running=v.get("inverter.modules.running"), total=v["inverter.modules"]))
    elif r.kind == "switch":
        ports = v.get("ports") or []
        up = sum(1 for p in ports if p.get("oper") == "up")
        parts.append(_("ports {up}/{total} up").format(up=up, total=len(ports)))
        if isinstance(v.get("device.uptime"), int | float):
            parts.append(_("uptime {days:.1f} d").format(days=v["device.uptime"] / 86400))
    else:
        if "ambient.temperature" in v:
            parts.append(f"{v['ambient.temperature']} °C")
        if "ambient.humidity" in v:
            parts.append(f"{v['ambient.humidity']} %RH")
        for s in (v.get("sensors") or [])[:3]:
            parts.append(f"{s.get('name')} {s.get('value')}{s.get('unit') or ''}")
        if "ats.source" in v:
            parts.append(_("source {value}").format(value=v["ats.source"]))
        readings = v.get("readings") or []
        for rd in readings[:3]:
            parts.append(f"{rd.get('name')} {rd.get('value')}"
                         f"{' ' + rd['unit'] if rd.get('unit') else ''}")
        if len(readings) > 3:
            parts.append(_("(+{count} readings)").format(count=len(readings) - 3))
    return ", ".join(str(p) for p in parts)


def _source_text(src) -> str:
    if not src:
        return "-"
    where = src.get("oid") or ", ".join(src.get("oids") or []) or src.get("detail") or ""
    what = f" {src['object']}" if src.get("object") else ""
    return f"{src.get('kind')}{what}: {where}"


def _exit_with(ctx: click.Context, readings) -> None:
    from opsctl.core.errors import worst

    ctx.exit(int(worst(r.status for r in readings)) if readings else 0)


def _notes_lines(app: AppContext, r) -> None:
    if r.notes and app.verbose:
        for n in r.notes:
            app.out.print("  " + _("note: {message}").format(message=n["message"]), markup=False)


def _open_store(app: AppContext):
    from opsctl.core.errors import StoreError

    try:
        return app.store
    except StoreError as exc:
        app.out.warn(_("no rates: {error}").format(error=exc.message))
        return None


# -- commands ----------------------------------------------------------------------------------
@power.command("status")
@click.option("--kind", type=click.Choice(["ups", "switch", "sensor", "pdu"]),
              help="Only this kind.")
@click.argument("names", nargs=-1, metavar="[NAME]...", shell_complete=DEVICE)
@format_option
@pass_app
@click.pass_context
def status_cmd(ctx: click.Context, app: AppContext, kind: str | None, names: tuple[str, ...],
               fmt: str) -> None:
    """Every device in one table: reachable, health and why, key values."""
    from opsctl.power.api import poll

    readings = poll(app.cfg, list(names) or None, kind=kind)
    if fmt == "nagios":
        nagios.power(app.cfg, readings)
    if app.json:
        app.out.json([r.to_dict() for r in readings])
    else:
        if not readings:
            app.out.info(_("no devices configured (devices: in the config)"))
        app.out.table(
            [_("device"), _("kind"), _("reachable"), _("health"), _("reason"), _("values")],
            [(r.name, r.kind, r.reachable, r.status, r.reason, _key_values(r))
             for r in readings],
        )
        for r in readings:
            if r.notes and app.verbose:
                app.out.print(f"{r.name}:", markup=False)
                _notes_lines(app, r)
    _exit_with(ctx, readings)


UPS_ORDER = ("ups.status", "device.health", "ups.alarm", "ups.load", "ups.realpower",
             "battery.charge", "battery.runtime", "battery.voltage", "battery.current",
             "battery.temperature", "input.voltage", "input.frequency", "output.voltage",
             "output.frequency", "output.current", "ups.test.result", "device.mfr",
             "device.model", "device.serial", "ups.id", "ups.firmware")
UNITS = {"ups.load": "%", "battery.charge": "%", "battery.runtime": "s", "battery.voltage": "V",
         "battery.current": "A", "battery.temperature": "°C", "input.voltage": "V",
         "input.frequency": "Hz", "output.voltage": "V", "output.frequency": "Hz",
         "output.current": "A", "ups.realpower": "W"}


def _one(app: AppContext, name: str, kind: str, store=None):
    from opsctl.core.errors import UsageError
    from opsctl.power.api import poll

    dev = app.cfg.device(name)
    if dev.kind != kind:
        raise UsageError(f"device {name!r} is a {dev.kind}, not a {kind} "
                         f"(use: opsctl power {dev.kind if dev.kind != 'sensor' else 'status'} "
                         f"{name})")
    return dev, poll(app.cfg, [name], store=store)[0]


@power.command("ups")
@click.argument("name", shell_complete=UPS)
@format_option
@pass_app
@click.pass_context
def ups_cmd(ctx: click.Context, app: AppContext, name: str, fmt: str) -> None:
    """All variables of one UPS (NUT names), with thresholds and the rules they break."""
    from opsctl.power.rules import thresholds_for

    dev, r = _one(app, name, "ups")
    if fmt == "nagios":
        nagios.power(app.cfg, [r])
    th = thresholds_for(app.cfg, dev)
    if app.json:
        app.out.json({**r.to_dict(), "thresholds": th.model_dump()})
        _exit_with(ctx, [r])
    app.out.kv([(_("device"), f"{r.name} ({r.address})"), (_("profile"),
                f"{r.profile or '-'} ({r.profile_reason or '-'})"),
                (_("health"), r.status), (_("reason"), r.reason),
                (_("ups status"), r.shown_status() or _("not reported")),
                (_("status source"), _source_text(r.status_source))],
               title=_("UPS {name}").format(name=r.name))
    if r.reachable:
        broken = {}
        for f in r.findings:
            if f.field:
                broken.setdefault(f.field, []).append(f"{f.status.name}: {f.rule}")
        keys = [k for k in UPS_ORDER if k in r.values] + sorted(
            k for k in r.values if k not in UPS_ORDER and not isinstance(r.values[k], list))
        rows = []
        for k in keys:
            val = r.values[k]
            shown = f"{val} {UNITS.get(k, '')}".strip()
            if k == "battery.runtime":
                shown += f" ({_fmt_runtime(val)})"
            rows.append((k, shown, "; ".join(broken.get(k, [])) or ""))
        app.out.table([_("variable"), _("value"), _("rule broken")], rows)
        app.out.print(_(
            "thresholds: load warn ≥ {load_warn:g} %, crit ≥ {load_crit:g} %; runtime "
            "warn < {runtime_warn:g} min, crit < {runtime_crit:g} min; charge "
            "warn < {charge_warn:g} %, crit < {charge_crit:g} %").format(
                load_warn=th.load_warn, load_crit=th.load_crit,
                runtime_warn=th.runtime_warn_min, runtime_crit=th.runtime_crit_min,
                charge_warn=th.charge_warn, charge_crit=th.charge_crit), markup=False)
        if r.missing:
            app.out.print(_("not provided by this device: {fields}").format(
                fields=", ".join(r.missing)), markup=False)
        if r.notes:
            app.out.print(_("data quality:"), markup=False)
            for n in r.notes:
                app.out.print(f"  {n['message']}", markup=False)
    _exit_with(ctx, [r])


@power.command("switch")
@click.argument("name", shell_complete=SWITCH)
@click.option("--ports", "show_ports", is_flag=True, help="List every port.")
@format_option
@pass_app
@click.pass_context
def switch_cmd(ctx: click.Context, app: AppContext, name: str, show_ports: bool,
               fmt: str) -> None:
    """Uptime, ports (status, speed, errors, 64-bit counters, rates), sensors of a switch.

    Rates need a previous sample: the last `opsctl power poll` stored in the store.
    """
    app.cfg.device(name)  # unknown name first, before opening the store
    dev, r = _one(app, name, "switch", store=_open_store(app))
    if fmt == "nagios":
        nagios.power(app.cfg, [r])
    if app.json:
        app.out.json(r.to_dict())
        _exit_with(ctx, [r])
    v = r.values
    app.out.kv([(_("device"), f"{r.name} ({r.address})"),
                (_("description"), v.get("device.description")),
                (_("uptime"), _("{days:.2f} days").format(days=v["device.uptime"] / 86400)
                 if isinstance(v.get("device.uptime"), int | float) else None),
                (_("profile"), f"{r.profile or '-'} ({r.profile_reason or '-'})"),
                (_("health"), r.status), (_("reason"), r.reason)],
               title=_("switch {name}").format(name=r.name))
    ports = v.get("ports") or []
    if ports and (show_ports or any(f.field == "ports" for f in r.findings)):
        shown = ports if show_ports else [
            p for p in ports if p.get("admin") == "up" and p.get("oper") != "up"]
        app.out.table(
            ["if", _("name"), _("alias"), "admin", "oper", _("speed"), _("in err/disc"),
             _("out err/disc"), _("in octets"), _("out octets"), _("in bps"), _("out bps")],
            [(p.get("index"), p.get("name") or p.get("descr"), p.get("alias"), p.get("admin"),
              p.get("oper"), _speed(p), f"{p.get('in_errors', '-')}/{p.get('in_discards', '-')}",
              f"{p.get('out_errors', '-')}/{p.get('out_discards', '-')}",
              p.get("in_octets", p.get("in_octets32")),
              p.get("out_octets", p.get("out_octets32")), _bps(p.get("in_bps")),
              _bps(p.get("out_bps"))) for p in shown],
            title=_("ports") if show_ports else _("ports that should be up"))
    sensors = v.get("sensors") or []
    if sensors:
        app.out.table([_("sensor"), _("kind"), _("value"), _("status")],
                      [(s.get("name"), s.get("kind"), f"{s.get('value')} {s.get('unit') or ''}"
                        .strip(), s.get("oper")) for s in sensors], title=_("sensors"))
    for f in r.findings:
        app.out.print(f"{f.status.name}: {f.message}", markup=False)
    if r.notes and (app.verbose or show_ports):
        for n in r.notes:
            app.out.print(_("note: {message}").format(message=n["message"]), markup=False)
    _exit_with(ctx, [r])


def _speed(p) -> str | None:
    hs = p.get("high_speed")
    if isinstance(hs, int) and hs:
        return f"{hs / 1000:g}G" if hs >= 1000 else f"{hs}M"
    sp = p.get("speed")
    return f"{sp / 1e6:g}M" if isinstance(sp, int) and sp else None


def _bps(v) -> str | None:
    if not isinstance(v, int | float):
        return None
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:.2f}{unit}"
    return f"{v:.0f}"


@power.command("poll")
@pass_app
@click.pass_context
def poll_cmd(ctx: click.Context, app: AppContext) -> None:
    """Poll every device once, store the readings, and report events since the last poll.

    \b
    Exit 0 once the readings are stored, whatever the devices' health (an unreachable
    device is a stored reading too); 1 the poll could not be stored; 2 bad config.
    The health check is `opsctl power status`."""
    from opsctl.power.api import poll_and_detect

    readings, events = poll_and_detect(app.cfg, app.store)
    if app.json:
        app.out.json({"readings": [r.to_dict() for r in readings],
                      "events": [e.to_dict() for e in events]})
    else:
        app.out.table([_("device"), _("kind"), _("reachable"), _("health"), _("reason")],
                      [(r.name, r.kind, r.reachable, r.status, r.reason) for r in readings],
                      title=_("poll"))
        if events:
            app.out.table([_("event"), _("device"), _("severity"), _("message")],
                          [(e.kind, e.device, e.severity, e.message) for e in events],
                          title=_("events since the last poll"))
        else:
            app.out.info(_("no events since the last poll"))
    # Not the worst health: `poll && events` (and cron) must go on once the poll is stored.
    ctx.exit(0)


@power.command("events")
@click.option("-n", "--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@pass_app
def events_cmd(app: AppContext, limit: int) -> None:
    """The most recent power events recorded by `opsctl power poll` (newest first)."""
    from opsctl.power.api import recent_events

    evs = recent_events(app.store, limit)
    if app.json:
        app.out.json(evs)
        return
    app.out.table([_("at"), _("event"), _("device"), _("severity"), _("message")],
                  [(e["at"], e["kind"], e["device"], e["severity"], e["message"]) for e in evs])


@power.command("profiles")
@pass_app
def profiles_cmd(app: AppContext) -> None:
    """The profiles opsctl knows (what `profile:` accepts besides auto)."""
    from opsctl.power.profiles import registry

    profs = registry.all_profiles()
    rows = [{"name": p.name, "kind": p.kind, "description": p.description,
             "sys_object_ids": list(p.sys_object_ids), "fields": p.field_names(),
             "tables": [t.name for t in p.tables], "includes": list(p.includes),
             "tested_with": list(p.tested_with)} for p in profs.values()]
    if app.json:
        app.out.json(rows)
        return
    app.out.table([_("profile"), _("kind"), _("description"), _("tested with")],
                  [(r["name"], r["kind"], r["description"], "; ".join(r["tested_with"]))
                   for r in sorted(rows, key=lambda r: (r["kind"], r["name"]))])


@power.command("probe")
@click.argument("host")
@click.option("--port", default=161, show_default=True, type=click.IntRange(1, 65535))
@click.option("--community", default="public", show_default=True,
              help="SNMP v1/v2c community (see also --community-env).")
@click.option("--community-env", metavar="VAR", help="Read the community from $VAR.")
@click.option("--snmp-version", "version", type=click.Choice(["1", "2c"]), default="2c",
              show_default=True, help="Community-based version (--v3 switches to v3).")
@click.option("--v3", "v3_user", metavar="USER", help="Use SNMPv3 with this user.")
@click.option("--security-level", type=click.Choice(["noAuthNoPriv", "authNoPriv", "authPriv"]),
              default="authPriv", show_default=True)
@click.option("--auth-protocol", type=click.Choice(["MD5", "SHA", "SHA224", "SHA256", "SHA384",
                                                    "SHA512"]), default="SHA", show_default=True)
@click.option("--auth-key-file", metavar="PATH", help="v3 auth key, read from a file.")
@click.option("--auth-key-env", metavar="VAR", help="v3 auth key, read from $VAR.")
@click.option("--priv-protocol", type=click.Choice(["DES", "3DES", "AES", "AES128", "AES192",
                                                    "AES256"]), default="AES", show_default=True)
@click.option("--priv-key-file", metavar="PATH", help="v3 privacy key, read from a file.")
@click.option("--priv-key-env", metavar="VAR", help="v3 privacy key, read from $VAR.")
@click.option("--kind", type=click.Choice(["ups", "switch", "sensor", "pdu"]),
              help="Only consider profiles of this kind.")
@click.option("--timeout", default=2.0, show_default=True, type=click.FloatRange(0.1, 60))
@click.option("--retries", default=1, show_default=True, type=click.IntRange(0, 10))
@pass_app
@click.pass_context
def probe_cmd(ctx: click.Context, app: AppContext, host: str, port: int, community: str,
              community_env: str | None, version: str, v3_user: str | None,
              security_level: str, auth_protocol: str, auth_key_file: str | None,
              auth_key_env: str | None, priv_protocol: str, priv_key_file: str | None,
              priv_key_env: str | None, kind: str | None, timeout: float, retries: int) -> None:
    """Identify an unknown UPS, switch or sensor: which profile matches and why, what it
    reads, what is missing. Needs no config (when there is one, its custom profiles are
    candidates too). Exit 0 when a profile matches, 1 when the agent answers but nothing
    matches or it does not answer.

    \b
    Keys are never taken on the command line (they would show in `ps`): use
    --auth-key-file/--auth-key-env and --priv-key-file/--priv-key-env.
    """
    from opsctl.power.probe import KINDS, probe_target, secret_from

    if app.config_path or app.config_file.exists():
        app.cfg  # noqa: B018 - loading registers the config's custom profiles as candidates
    community = secret_from(community_env, None, "--community-env") or community
    report, snippet = probe_target(
        host=host, port=port, version="3" if v3_user else version, community=community,
        user=v3_user, security_level=security_level, auth_protocol=auth_protocol,
        auth_key=secret_from(auth_key_env, auth_key_file, "--auth-key"),
        priv_protocol=priv_protocol,
        priv_key=secret_from(priv_key_env, priv_key_file, "--priv-key"),
        kinds=(kind,) if kind else KINDS, timeout=timeout, retries=retries)
    if app.json:
        app.out.json({**report.to_dict(), "config": snippet})
        ctx.exit(0 if report.profile else 1)
    s = report.system
    app.out.kv([(_("address"), report.address), ("sysDescr", s.get("descr")),
                ("sysObjectID", s.get("object_id")), ("sysName", s.get("name")),
                (_("uptime"), _("{days:.2f} days").format(days=s["uptime_s"] / 86400)
                 if "uptime_s" in s else None),
                (_("profile"), f"{report.profile} ({report.kind})" if report.profile
                 else _("none")),
                (_("why"), report.reason)], title=_("probe {address}").format(
                    address=report.address))
    app.out.table(
        [_("profile"), _("kind"), "sysObjectID", _("probe objects"), _("tables"), _("match")],
        [(c.profile, c.kind, c.sys_object_id_match or "",
          f"{len(c.probe_hits)}/{c.probe_total}" if c.probe_total else "",
          ", ".join(c.tables_present), _("yes") if c.matches else "")
         for c in report.candidates], title=_("candidates"))
    if report.profile:
        rows = [(k, v if not isinstance(v, list) else _("{count} rows").format(count=len(v)))
                for k, v in report.values.items()]
        app.out.table([_("variable"), _("value")], rows,
                      title=_("values read with {profile}").format(profile=report.profile))
        if report.missing:
            app.out.print(_("not provided by this device: {fields}").format(
                fields=", ".join(report.missing)), markup=False)
        if report.notes:
            app.out.print(_("data quality:"), markup=False)
            for n in report.notes:
                app.out.print(f"  {n['message']}", markup=False)
        import yaml

        app.out.print(_("config:") + "\n" + yaml.safe_dump({"devices": [snippet]},
                                                          sort_keys=False), markup=False)
    ctx.exit(0 if report.profile else 1)


# Shutdown / restore plans live in their own module (owned by the power-plans work).
from opsctl.cli.power_plans import register as _register_plans  # noqa: E402

_register_plans(power)
