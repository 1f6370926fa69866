"""``opsctl config``: check and show the configuration."""

from __future__ import annotations

import click

from opsctl.cli.context import AppContext, pass_app


@click.group()
def config() -> None:
    """Check and show the configuration."""


@config.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@pass_app
def check(app: AppContext, path: str | None) -> None:
    """Validate a config file (default: the -c/--config one) and print a summary."""
    from opsctl.core import i18n
    from opsctl.core.config import load_config

    # Always a full check; a valid config also refreshes the compiled cache.
    cfg = load_config(path or app.config_path, cache="refresh")
    i18n.set_language(cfg.site.language)
    from opsctl.core.config.secrets import find_unresolved
    from opsctl.core.errors import ConfigError

    # Secrets are read lazily (a missing key file stops only its device), so the check
    # reports them here.
    problems = [s.message for _, s in find_unresolved(cfg)]
    if problems:
        from opsctl.core.i18n import ngettext

        more = ngettext(" (and {n} more)", " (and {n} more)", len(problems) - 1).format(
            n=len(problems) - 1) if len(problems) > 1 else ""
        err = ConfigError(problems[0] + more)
        err.all_messages = problems  # type: ignore[attr-defined]
        raise err
    summary = {
        "file": str(cfg.source),
        "valid": True,
        "site": cfg.site.name,
        "state_dir": str(cfg.state_dir),
        "people": len(cfg.people),
        "hosts": len(cfg.hosts),
        "devices": {k: sum(1 for d in cfg.devices if d.kind == k)
                    for k in ("ups", "switch", "sensor")},
        "inspection_profiles": [p.name for p in cfg.inspection.profiles],
        "power_plans": [p.name for p in cfg.power.plans],
        "alert_targets": [t.name for t in cfg.alerts.targets],
        "shifts": [s.name for s in cfg.duty.roster.shifts],
    }
    if app.json:
        app.out.json(summary)
        return
    from opsctl.core.i18n import _

    app.out.info(_("{file}: OK").format(file=cfg.source))
    # The English labels are the JSON keys.
    labels = {"site": _("site"), "state_dir": _("state_dir"), "people": _("people"),
              "hosts": _("hosts"), "devices": _("devices"),
              "inspection_profiles": _("inspection_profiles"), "power_plans": _("power_plans"),
              "alert_targets": _("alert_targets"), "shifts": _("shifts")}
    app.out.kv([(labels[k], ", ".join(map(str, v)) if isinstance(v, list) else
                 (", ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else v))
                for k, v in summary.items() if k not in ("file", "valid")],
               title=_("site {name}").format(name=cfg.site.name))


@config.command("init")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_app
def init(app: AppContext, path: str | None, force: bool) -> None:
    """Write a minimal commented config to PATH (default: the -c/--config one, else
    $OPSCTL_CONFIG, else /etc/opsctl/opsctl.yaml); it passes `config check` as written."""
    from pathlib import Path

    from opsctl.core.config import resolve_config_path
    from opsctl.core.config.template import write_initial_config

    target = Path(path) if path else resolve_config_path(app.config_path)
    write_initial_config(target, force=force)
    if app.json:
        app.out.json({"file": str(target), "written": True})
        return
    app.out.info(f"wrote {target}")
    app.out.info(f"next: edit it, then `opsctl -c {target} config check`")


@config.command("show")
@pass_app
def show(app: AppContext) -> None:
    """Print the effective config (defaults filled in, secrets masked)."""
    import yaml

    data = app.cfg.model_dump(mode="json")
    if app.json:
        app.out.json(data)
    else:
        from opsctl.core.safetext import visible

        click.echo(visible(yaml.safe_dump(data, sort_keys=False, allow_unicode=True)), nl=False)


@config.command("schema")
def schema() -> None:
    """Print the JSON schema of the config file."""
    import json

    from opsctl.core.config.models import OpsConfig

    click.echo(json.dumps(OpsConfig.model_json_schema(), indent=2))


@config.command("reference")
def reference() -> None:
    """Print the configuration reference (Markdown) generated from the schema."""
    from opsctl.core.config.reference import render_markdown

    click.echo(render_markdown(), nl=False)
