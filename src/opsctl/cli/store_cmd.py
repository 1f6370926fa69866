"""``opsctl store``: the store's status, and copying a SQLite store into PostgreSQL."""

from __future__ import annotations

import click

from opsctl.cli.context import AppContext, pass_app
from opsctl.core.i18n import _


@click.group()
def store() -> None:
    """The store: status; copy SQLite into PostgreSQL."""


@store.command("status")
@pass_app
def status(app: AppContext) -> None:
    """Backend, location, schema versions, size and connection health."""
    from opsctl.core.errors import StoreError
    from opsctl.core.store import Store
    from opsctl.core.storecopy import status as store_status

    try:
        st = Store.for_config(app.cfg, migrate=False, readonly=None)
    except StoreError as exc:
        data = {"backend": "postgresql" if app.cfg.store.url else "sqlite",
                "healthy": False, "error": exc.message}
    else:
        try:
            data = store_status(st)
        finally:
            st.close()
    if app.json:
        app.out.json(data)
    else:
        pairs = [(_("backend"), data["backend"]), (_("location"), data.get("location")),
                 (_("healthy"), _("yes") if data["healthy"]
                  else _("NO: {error}").format(error=data.get("error")))]
        if data["healthy"]:
            pairs += [(_("server"), data.get("server_version")),
                      (_("latency"), f"{data['latency_ms']} ms"),
                      (_("size"), f"{data.get('size_bytes', 0) / 1e6:.1f} MB"),
                      (_("duty log entries"), data.get("duty_log_entries"))]
        app.out.kv(pairs, title="opsctl store")
        if data.get("schema"):
            app.out.table([_("component"), _("stored"), _("this opsctl"), _("state")],
                          [(s["component"], s["stored"], s["known"],
                            _("current") if s["current"] else _("needs migration"))
                           for s in data["schema"]], title=_("schema versions"))
    if not data["healthy"]:
        raise SystemExit(1)


@store.command("migrate")
@click.option("--to", "url", required=True, metavar="URL",
              help="postgresql://USER@HOST/DB of a new, empty database.")
@click.option("--password-file", type=click.Path(dir_okay=False), default=None,
              help="File holding the database password (mode 0600).")
@click.option("--sslmode", default=None,
              type=click.Choice(["disable", "allow", "prefer", "require", "verify-ca",
                                 "verify-full"]))
@click.option("--sslrootcert", type=click.Path(dir_okay=False), default=None)
@pass_app
def migrate(app: AppContext, url: str, password_file: str | None, sslmode: str | None,
            sslrootcert: str | None) -> None:
    """Copy this config's SQLite store into PostgreSQL, then verify the chain there."""
    from pathlib import Path

    from pydantic import ValidationError

    from opsctl.core.config.store import StoreSettings
    from opsctl.core.errors import UsageError
    from opsctl.core.pgstore import pg_engine
    from opsctl.core.store import Store
    from opsctl.core.storecopy import copy_store
    from opsctl.handover.chain import key_for_config

    if app.cfg.store.url is not None:
        raise UsageError(_("this config's store is already PostgreSQL; migrate copies the "
                           "SQLite store in state_dir"))
    try:
        settings = StoreSettings(url=url, password_file=Path(password_file) if password_file
                                 else None, sslmode=sslmode,
                                 sslrootcert=Path(sslrootcert) if sslrootcert else None)
    except ValidationError as exc:
        msg = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        raise UsageError(f"--to: {msg}") from None
    src = Store.for_config(app.cfg, readonly=None)
    dst = Store(pg_engine(settings, lambda loc: "--" + loc[-1].replace("_", "-")), None)
    dst.url_text = dst.engine.url.render_as_string(hide_password=True)
    try:
        dst.migrate()
        res = copy_store(src, dst, key_for_config(app.cfg))
    finally:
        dst.close()
        src.close()
    if app.json:
        app.out.json(res)
        return
    app.out.kv([(_("from"), res["from"]), (_("to"), res["to"]),
                (_("rows"), sum(res["rows"].values())),
                (_("duty log"), _("{count} entries, chain verified, head {head}").format(
                    count=res["chain"]["entries"], head=res["chain"]["head_hash"])),
                (_("took"), f"{res['seconds']} s")], title=_("store copied"))
    app.out.info(_("now set store.url (and password_file) in the config of every host"))
