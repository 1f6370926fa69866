"""``opsctl storage``: RAID, LVM, filesystems and fstab: probe, plan, apply."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from opsctl.cli import nagios
from opsctl.cli.context import AppContext, pass_app
from opsctl.cli.nagios import format_option
from opsctl.cli.options import ID, dry_run_option, yes_option

FORCE_HELP = "Use a device that is not free (it is wiped); needs --reason, which is recorded."


def force_options(f):
    f = click.option("--reason", metavar="TEXT", help="Why --force is needed (recorded).")(f)
    return click.option("--force", is_flag=True, help=FORCE_HELP)(f)


@click.group()
def storage() -> None:
    """RAID, LVM, filesystems and fstab: probe, plan, apply.

    \b
    The founding design: mdadm RAID5 over 3+ disks -> LVM PV -> VG -> LVs ->
    ext4/xfs -> mounted from /etc/fstab (by UUID, nofail). Typical life:
      opsctl storage disks                         what is there, what is free
      opsctl storage raid create data --level 5 /dev/sdb /dev/sdc /dev/sdd
      opsctl storage vg create vg0 data            the array becomes a PV
      opsctl storage lv create vg0/srv --size 100G --fs ext4 --mount /srv
      opsctl storage lv resize vg0/srv +50G        the filesystem grows with it
      opsctl storage raid status                   exit 0 OK, 1 rebuilding, 2 degraded
      opsctl storage raid replace data /dev/sdc /dev/sde   fail -> remove -> add
    Or describe it all in a layout file: `storage plan -f layout.yaml`, then `apply`.
    \b
    Every change accepts --dry-run (print the commands, change nothing), asks for
    confirmation unless --yes, and is recorded (`storage history`). Devices that are
    mounted, in an array, a PV, held, or carry a signature are refused unless
    --force --reason TEXT.
    """


# -- helpers -------------------------------------------------------------------------------------
def _runner(dry_run: bool = False):
    from opsctl.storage.tools import storage_runner

    return storage_runner(dry_run)


def _snapshot(runner):
    """Probe once per command; the executor reuses it as the record's "before" state."""
    from opsctl.storage.probe import snapshot

    snap = snapshot(runner)
    _LAST_SNAPSHOT[id(runner)] = snap
    return snap


_LAST_SNAPSHOT: dict[int, object] = {}


def _force(force: bool, reason: str | None):
    from opsctl.storage.devices import Force

    return Force(force, reason)


def _run_plan(app: AppContext, plan, runner, *, action: str, dry_run: bool, yes: bool,
              reason: str | None = None, question: str | None = None,
              detail: dict | None = None) -> dict | None:
    """Show the plan; unless --dry-run, confirm, execute (recorded) and read back."""
    from opsctl.cli.options import confirm
    from opsctl.storage.actions import ExecContext
    from opsctl.storage.plan import execute

    if app.json and (dry_run or plan.empty):
        app.out.json(plan.to_dict())
        return None
    out = app.out
    if plan.empty:
        out.info(f"{plan.title}: no changes")
        return None
    out.info(f"plan: {plan.title}" + (" (dry run: nothing will be changed)" if dry_run else ""))
    for line in plan.render_lines():
        out.info(line)
    for note in plan.notes:
        out.info(f"note: {note}")
    if dry_run:
        return None
    from opsctl.core.identity import require_role_for_change

    require_role_for_change(app.cfg, app.cfg.required_roles.storage,
                            f"change storage ({plan.title})")
    confirm(app, question or f"{plan.title}: go ahead?", yes)
    settings = app.cfg.storage
    ctx = ExecContext(runner=runner, info=out.info, warn=out.warn)
    result = execute(plan, ctx, store=app.store, files=[settings.mdadm_conf, settings.fstab],
                     action=action, reason=reason, detail=detail,
                     before=_LAST_SNAPSHOT.get(id(runner)), cfg=app.cfg)
    if app.json:
        out.json({"plan": plan.to_dict(), "result": result, "ok": True})
    elif result:
        out.kv([(k, _fmt(k, v)) for k, v in result.items() if k != "next_steps"],
               title="read back after the change")
        for line in result.get("next_steps") or []:
            out.info(line)
    return result


def _fmt(key: str, value):
    from opsctl.storage.sizes import human

    if key.endswith("bytes") and isinstance(value, int):
        return f"{human(value)} ({value})"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return value


# -- disks ---------------------------------------------------------------------------------------
@storage.command("disks")
@click.option("--free", "only_free", is_flag=True, help="Only devices free to use.")
@pass_app
def disks_cmd(app: AppContext, only_free: bool) -> None:
    """Every block device: size, model, serial, signatures, holders, mounts, free or why not."""
    from opsctl.storage.probe import disks
    from opsctl.storage.sizes import human

    runner = _runner()
    rows = disks(_snapshot(runner), runner)
    if only_free:
        rows = [d for d in rows if d.free]
    if app.json:
        app.out.json([d.to_dict() for d in rows])
        return
    app.out.table(
        ["device", "type", "size", "model", "serial", "signature", "holders", "mounted", "free"],
        [[d.path, d.type, human(d.size), d.model, d.serial, d.fstype or d.pttype,
          ", ".join(d.holders) or None, ", ".join(d.mountpoints) or None,
          "yes" if d.free else "no: " + "; ".join(d.why_not_free)] for d in rows],
        title="block devices")


# -- raid ----------------------------------------------------------------------------------------
@storage.group("raid")
def raid_group() -> None:
    """mdadm software RAID: create, status, fail/remove/add, replace, grow."""


@raid_group.command("create")
@click.argument("name")
@click.argument("devices", nargs=-1, required=True)
@click.option("--level", required=True, type=click.Choice(["0", "1", "4", "5", "6", "10"]),
              help="RAID level (RAID5 needs at least 3 devices).")
@click.option("--spare", "spares", multiple=True, metavar="DEVICE", help="Hot spare (repeat).")
@click.option("--chunk", metavar="SIZE", help="Chunk size, e.g. 512K.")
@click.option("--wait", is_flag=True, help="Follow the initial sync to the end (progress bar).")
@force_options
@dry_run_option
@yes_option
@pass_app
def raid_create(app: AppContext, name: str, devices: tuple[str, ...], level: str,
                spares: tuple[str, ...], chunk: str | None, wait: bool, force: bool,
                reason: str | None, dry_run: bool, yes: bool) -> None:
    """Create array NAME (/dev/md/NAME) over DEVICES; records the ARRAY line in mdadm.conf,
    then rebuilds the initramfs. The initial sync runs in the background."""
    from opsctl.storage.raid import create_plan

    runner = _runner(dry_run)
    plan = create_plan(_snapshot(runner), runner, app.cfg.storage, name, level, list(devices),
                       list(spares), chunk, _force(force, reason))
    _run_plan(app, plan, runner, action="raid.create", dry_run=dry_run, yes=yes, reason=reason,
              question=f"create RAID{level} {name} on {', '.join(devices)} (erases them)?")
    if wait and not dry_run:
        _follow(app, runner, name)


@raid_group.command("status")
@click.argument("name", required=False)
@format_option
@pass_app
def raid_status(app: AppContext, name: str | None, fmt: str) -> None:
    """Level, size, state (clean / degraded / resyncing / recovering with % and ETA / failed)
    and every member's role. Exit 0 OK, 1 WARNING (resync/rebuild running), 2 CRITICAL
    (degraded or failed), 3 UNKNOWN."""
    from opsctl.core.errors import OpsError, Status, worst
    from opsctl.storage.probe import md_driver_loaded, probe_arrays
    from opsctl.storage.raid import find_array
    from opsctl.storage.sizes import human

    def unknown(message: str, hint: str | None = None) -> NoReturn:
        # A check that cannot say: UNKNOWN (3), in the format asked for.
        if fmt == "nagios":
            nagios.emit(Status.UNKNOWN, message)
        if app.json:
            app.out.json({"status": Status.UNKNOWN.name, "arrays": [], "error": message})
            sys.exit(int(Status.UNKNOWN))
        raise OpsError(message, hint=hint, exit_code=int(Status.UNKNOWN))

    if not md_driver_loaded():
        # No /proc/mdstat: nothing can be said about arrays, which is not "none there".
        unknown("the md (software RAID) driver is not loaded: no /proc/mdstat",
                "modprobe md_mod (arrays assemble when it loads)")
    try:
        arrays = probe_arrays(_runner())
    except OpsError as exc:
        unknown(exc.message, exc.hint)
    if name:
        found = find_array(arrays, name)
        if found is None:
            unknown(f"no RAID array named {name!r} is assembled",
                    "mdadm --assemble --scan assembles the arrays mdadm.conf lists; "
                    "cat /proc/mdstat shows what the kernel has")
        arrays = [found]
    if fmt == "nagios":
        nagios.raid(arrays)
    status = worst(a.health for a in arrays)
    if app.json:
        app.out.json({"status": status.name, "arrays": [a.to_dict() for a in arrays]})
        sys.exit(int(status))
    if not arrays:
        app.out.info("no RAID arrays")
        sys.exit(0)
    for a in arrays:
        progress = None
        if a.percent is not None:
            progress = f"{a.operation or 'sync'} {a.percent:g}%"
            if a.eta_minutes is not None:
                progress += f", about {a.eta_minutes:g} min left"
        app.out.kv([("device", f"{a.device} ({a.kernel_name or '?'})"), ("level", a.level),
                    ("size", human(a.size_bytes)), ("state", a.state), ("health", a.health),
                    ("progress", progress), ("uuid", a.uuid)], title=f"array {a.name}")
        app.out.table(["member", "slot", "role", "state"],
                      [[m["device"] or "(missing)", m["slot"], m["role"], m["state"]]
                       for m in a.members])
        if a.state == "inactive":
            app.out.warn(f"{a.name} is held by the kernel but not started (a reshape cut by a "
                         f"power loss leaves it so): `opsctl storage raid assemble {a.name}` "
                         "starts it, or run the interrupted grow command again")
    sys.exit(int(status))


@raid_group.command("assemble")
@click.argument("name")
@dry_run_option
@yes_option
@pass_app
def raid_assemble(app: AppContext, name: str, dry_run: bool, yes: bool) -> None:
    """Start array NAME that the boot left inactive (e.g. a reshape cut by a power loss):
    stop the inactive remains, assemble from the members' superblocks (with the grow's
    backup file when there is one), let the reshape go on and activate its volume groups."""
    from opsctl.storage.raid import assemble_plan

    runner = _runner(dry_run)
    plan = assemble_plan(_snapshot(runner), name)
    _run_plan(app, plan, runner, action="raid.assemble", dry_run=dry_run, yes=yes,
              question=f"assemble {name}?")


def _member_cmd(verb: str, doc: str):
    @raid_group.command(verb, help=doc)
    @click.argument("name")
    @click.argument("device")
    @dry_run_option
    @yes_option
    @pass_app
    def cmd(app: AppContext, name: str, device: str, dry_run: bool, yes: bool) -> None:
        from opsctl.storage import raid

        runner = _runner(dry_run)
        snap = _snapshot(runner)
        if verb == "fail":
            plan = raid.fail_plan(snap, name, device)
        elif verb == "remove":
            plan = raid.remove_plan(snap, name, device)
        else:
            plan = raid.add_plan(snap, runner, name, device)
        _run_plan(app, plan, runner, action=f"raid.{verb}", dry_run=dry_run, yes=yes,
                  question=f"{verb} {device} {'in' if verb == 'fail' else 'for'} {name}?")

    return cmd


_member_cmd("fail", "Mark DEVICE failed in array NAME (refused if it would lose data).")
_member_cmd("remove", "Remove a failed (or spare) DEVICE from array NAME; a working member "
            "is refused: fail it first.")
_member_cmd("add", "Add a free DEVICE to array NAME: it rebuilds onto it when degraded, "
            "else it becomes a hot spare.")


def _follow(app: AppContext, runner, name: str) -> None:
    from opsctl.storage.raid import follow

    out = app.out
    last = [-10.0]
    progress = out.progress(transient=False)
    task = None
    with progress:
        def show(arr) -> None:
            nonlocal task
            pct = arr.percent if arr.percent is not None else (
                100.0 if arr.operation is None else 0.0)
            if task is None:
                task = progress.add_task(f"{arr.name} {arr.operation or 'rebuild'}", total=100)
            progress.update(task, completed=pct)
            if not sys.stderr.isatty() and pct - last[0] >= 10:
                last[0] = pct
                eta = f", about {arr.eta_minutes:g} min left" if arr.eta_minutes else ""
                out.info(f"{arr.name}: {arr.operation or 'rebuild'} {pct:g}%{eta}")

        final = follow(runner, name, on_progress=show)
    out.info(f"{final.name}: {final.state} ({final.health.name})")


@raid_group.command("replace")
@click.argument("name")
@click.argument("old")
@click.argument("new")
@click.option("--no-wait", is_flag=True, help="Do not follow the rebuild to the end.")
@force_options
@dry_run_option
@yes_option
@pass_app
def raid_replace(app: AppContext, name: str, old: str, new: str, no_wait: bool, force: bool,
                 reason: str | None, dry_run: bool, yes: bool) -> None:
    """Replace OLD with NEW in array NAME: fail OLD, remove it, add NEW, then follow the
    rebuild with a progress bar (unless --no-wait)."""
    from opsctl.storage.raid import replace_plan

    runner = _runner(dry_run)
    plan = replace_plan(_snapshot(runner), runner, name, old, new, _force(force, reason))
    _run_plan(app, plan, runner, action="raid.replace", dry_run=dry_run, yes=yes, reason=reason,
              question=f"replace {old} with {new} in {name}?")
    if not dry_run and not no_wait:
        _follow(app, runner, name)


@raid_group.command("wait")
@click.argument("name")
@pass_app
def raid_wait(app: AppContext, name: str) -> None:
    """Follow a running resync/rebuild/reshape of NAME until it ends (progress bar)."""
    _follow(app, _runner(), name)


@raid_group.command("grow")
@click.argument("name")
@click.option("--add", "devices", required=True, multiple=True, metavar="DEVICE",
              help="The disk to add (repeat for more).")
@click.option("--wait", is_flag=True,
              help="Follow the reshape to its end, then pvresize the array's PV.")
@click.option("--extend", "extend", multiple=True, metavar="VG/LV:SIZE",
              help="After the PV grew, grow this LV and its filesystem, e.g. vg0/srv:+10G or "
                   "vg0/srv:100%FREE (implies --wait; repeatable).")
@force_options
@dry_run_option
@yes_option
@pass_app
def raid_grow(app: AppContext, name: str, devices: tuple[str, ...], wait: bool,
              extend: tuple[str, ...], force: bool, reason: str | None, dry_run: bool,
              yes: bool) -> None:
    """Grow array NAME by disks: add, reshape (mdadm.conf and initramfs updated) and with
    --wait/--extend the whole path: follow the reshape, pvresize, lvextend + filesystem.

    \b
    Interrupted (Ctrl-C, a reboot mid-reshape), the kernel goes on reshaping once the
    array is assembled; run the same command again: it adds nothing twice and picks up
    where it was.
      opsctl storage raid grow md5 --add /dev/sde --wait --extend vg5/data:100%FREE
    """
    from opsctl.storage.raid import grow_plan

    runner = _runner(dry_run)
    plan = grow_plan(_snapshot(runner), runner, app.cfg.storage, name, list(devices),
                     _force(force, reason), wait=wait, extend=list(extend))
    _run_plan(app, plan, runner, action="raid.grow", dry_run=dry_run, yes=yes, reason=reason,
              question=f"grow {name} onto {', '.join(devices)}? (the reshape takes long)")


# -- pv / vg / lv ----------------------------------------------------------------------------------
@storage.group("pv")
def pv_group() -> None:
    """LVM physical volumes."""


@pv_group.command("list")
@pass_app
def pv_list(app: AppContext) -> None:
    """Physical volumes with their VG, size and free space."""
    from opsctl.storage.probe import probe_lvm
    from opsctl.storage.sizes import human

    pvs, _, _ = probe_lvm(_runner())
    if app.json:
        app.out.json(pvs)
        return
    if not pvs:
        app.out.info("no LVM physical volumes")
        return
    app.out.table(["pv", "vg", "size", "free", "used"],
                  [[p["pv_name"], p.get("vg_name") or None, human(p["pv_size"]),
                    human(p["pv_free"]), human(p.get("pv_used"))] for p in pvs],
                  title="physical volumes")


@storage.group("vg")
def vg_group() -> None:
    """LVM volume groups: list, create, extend, reduce."""


@vg_group.command("list")
@pass_app
def vg_list(app: AppContext) -> None:
    """Volume groups with size and free space."""
    from opsctl.storage.api import vg_usage
    from opsctl.storage.sizes import human

    rows = vg_usage(_runner())
    if app.json:
        app.out.json(rows)
        return
    if not rows:
        app.out.info("no LVM volume groups")
        return
    app.out.table(["vg", "size", "free", "PVs", "LVs"],
                  [[v["vg"], human(v["size_bytes"]), human(v["free_bytes"]), v["pv_count"],
                    v["lv_count"]] for v in rows], title="volume groups")


@vg_group.command("create")
@click.argument("name")
@click.argument("pvs", nargs=-1, required=True)
@force_options
@dry_run_option
@yes_option
@pass_app
def vg_create(app: AppContext, name: str, pvs: tuple[str, ...], force: bool,
              reason: str | None, dry_run: bool, yes: bool) -> None:
    """Create volume group NAME on PVS (array names like `data`, or device paths)."""
    from opsctl.storage.lvm import vg_create_plan

    runner = _runner(dry_run)
    plan = vg_create_plan(_snapshot(runner), runner, name, list(pvs), _force(force, reason))
    _run_plan(app, plan, runner, action="vg.create", dry_run=dry_run, yes=yes, reason=reason,
              question=f"create volume group {name} on {', '.join(pvs)}?")


@vg_group.command("extend")
@click.argument("name")
@click.argument("pvs", nargs=-1, required=True)
@force_options
@dry_run_option
@yes_option
@pass_app
def vg_extend(app: AppContext, name: str, pvs: tuple[str, ...], force: bool,
              reason: str | None, dry_run: bool, yes: bool) -> None:
    """Add PVS (arrays or devices) to volume group NAME."""
    from opsctl.storage.lvm import vg_extend_plan

    runner = _runner(dry_run)
    plan = vg_extend_plan(_snapshot(runner), runner, name, list(pvs), _force(force, reason))
    _run_plan(app, plan, runner, action="vg.extend", dry_run=dry_run, yes=yes, reason=reason)


@vg_group.command("reduce")
@click.argument("name")
@click.argument("pv")
@dry_run_option
@yes_option
@pass_app
def vg_reduce(app: AppContext, name: str, pv: str, dry_run: bool, yes: bool) -> None:
    """Take PV out of volume group NAME: pvmove its extents to the other PVs first
    (refused when they lack the free space), then vgreduce and pvremove."""
    from opsctl.storage.lvm import vg_reduce_plan

    runner = _runner(dry_run)
    plan = vg_reduce_plan(_snapshot(runner), name, pv)
    _run_plan(app, plan, runner, action="vg.reduce", dry_run=dry_run, yes=yes,
              question=f"move data off {pv} and remove it from {name}?")


@storage.group("lv")
def lv_group() -> None:
    """LVM logical volumes: list, create (with filesystem and mount), resize."""


@lv_group.command("list")
@pass_app
def lv_list(app: AppContext) -> None:
    """Logical volumes with size, filesystem usage and mount point."""
    from opsctl.storage.probe import probe_lvm, probe_mounts
    from opsctl.storage.sizes import human

    runner = _runner()
    _, _, lvs = probe_lvm(runner)
    mounts = {m.get("source"): m for m in probe_mounts(runner)}
    rows = []
    for lv in lvs:
        m = mounts.get(lv.get("lv_dm_path")) or mounts.get(lv.get("lv_path")) or {}
        rows.append({"lv": f"{lv['vg_name']}/{lv['lv_name']}", "path": lv["lv_path"],
                     "size_bytes": lv["lv_size"], "mountpoint": m.get("target"),
                     "fstype": m.get("fstype"), "fs_size_bytes": m.get("size"),
                     "fs_used_bytes": m.get("used")})
    if app.json:
        app.out.json(rows)
        return
    if not rows:
        app.out.info("no LVM logical volumes")
        return
    app.out.table(["lv", "size", "mounted at", "fs", "fs size", "used"],
                  [[r["lv"], human(r["size_bytes"]), r["mountpoint"], r["fstype"],
                    human(r["fs_size_bytes"]) if r["fs_size_bytes"] else None,
                    human(r["fs_used_bytes"]) if r["fs_used_bytes"] else None] for r in rows],
                  title="logical volumes")


@lv_group.command("create")
@click.argument("volume", metavar="VG/NAME")
@click.option("--size", required=True, help="e.g. 10G, 512M, 50%FREE.")
@click.option("--fs", type=click.Choice(["ext4", "xfs"]), help="Make this filesystem.")
@click.option("--mount", metavar="PATH", help="Mount it here and add it to fstab (by UUID).")
@click.option("--options", metavar="OPTS", help="Mount options (nofail is always added).")
@click.option("--move-data", is_flag=True,
              help="PATH is an existing directory: copy its data onto the new volume "
                   "(verified) before mounting it there; the old copy stays, hidden.")
@click.option("--force", is_flag=True,
              help="With --move-data: go ahead although processes use PATH (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why --force is needed (recorded).")
@dry_run_option
@yes_option
@pass_app
def lv_create(app: AppContext, volume: str, size: str, fs: str | None, mount: str | None,
              options: str | None, move_data: bool, force: bool, reason: str | None,
              dry_run: bool, yes: bool) -> None:
    """Create logical volume VG/NAME, optionally with a filesystem, fstab entry and mount.

    \b
    A non-empty PATH is refused (the mount would hide its data) unless --move-data:
      opsctl storage lv create vg0/var --size 20G --fs ext4 --mount /var --move-data
    makes the fs, mounts it at a temporary place, copies PATH onto it (rsync -aHAXS
    --numeric-ids, or cp -a --sparse=always), verifies the copy (owners, modes, links,
    xattrs, content), then adds the fstab entry and mounts it at PATH. Refused while
    processes use PATH (stop them, or work from rescue mode). The old data stays hidden
    under PATH; the command prints how to free it after checking.
    """
    from opsctl.storage.lvm import lv_create_plan, parse_vg_lv

    vg, name = parse_vg_lv(volume)
    runner = _runner(dry_run)
    plan = lv_create_plan(_snapshot(runner), runner, app.cfg.storage, vg, name, size, fs, mount,
                          options, move_data=move_data, force=_force(force, reason))
    moving = any(a.kind == "data.copy" for a in plan.actions)
    _run_plan(app, plan, runner, action="lv.move-data" if moving else "lv.create",
              dry_run=dry_run, yes=yes, reason=reason,
              question=f"{plan.title}?" if moving else None,
              detail={"move_data": mount} if moving else None)


@lv_group.command("resize", context_settings={"ignore_unknown_options": True})
@click.argument("volume", metavar="VG/NAME")
@click.argument("size", metavar="SIZE|+SIZE|-SIZE")
@dry_run_option
@yes_option
@pass_app
def lv_resize(app: AppContext, volume: str, size: str, dry_run: bool, yes: bool) -> None:
    """Resize VG/NAME and its filesystem: ext4 and xfs grow online; ext4 shrinks only
    unmounted, after fsck and a check that the data fits; xfs cannot shrink (refused)."""
    from opsctl.storage.lvm import lv_resize_plan, parse_vg_lv

    vg, name = parse_vg_lv(volume)
    runner = _runner(dry_run)
    plan = lv_resize_plan(_snapshot(runner), runner, vg, name, size)
    _run_plan(app, plan, runner, action="lv.resize", dry_run=dry_run, yes=yes,
              question=f"{plan.title}?")


# -- fstab ---------------------------------------------------------------------------------------
@storage.group("fstab")
def fstab_group() -> None:
    """fstab entries in opsctl's marker block: add, remove, verify, list."""


@fstab_group.command("add")
@click.argument("device")
@click.argument("mountpoint")
@click.option("--options", metavar="OPTS", help="Mount options (nofail is always added).")
@click.option("--no-mount", is_flag=True, help="Only write the entry; do not mount now.")
@dry_run_option
@yes_option
@pass_app
def fstab_add(app: AppContext, device: str, mountpoint: str, options: str | None,
              no_mount: bool, dry_run: bool, yes: bool) -> None:
    """Add DEVICE (by its filesystem UUID) at MOUNTPOINT, verify with findmnt, mount it."""
    from opsctl.storage.fsops import fstab_add_plan

    runner = _runner(dry_run)
    plan = fstab_add_plan(_snapshot(runner), runner, app.cfg.storage, device, mountpoint,
                          options, mount=not no_mount)
    _run_plan(app, plan, runner, action="fstab.add", dry_run=dry_run, yes=yes)


@fstab_group.command("remove")
@click.argument("target", metavar="MOUNTPOINT|SPEC")
@click.option("--umount", is_flag=True, help="Also unmount it now.")
@dry_run_option
@yes_option
@pass_app
def fstab_remove(app: AppContext, target: str, umount: bool, dry_run: bool, yes: bool) -> None:
    """Remove an opsctl-managed fstab entry (entries outside the block are not touched)."""
    from opsctl.storage.fsops import fstab_remove_plan

    runner = _runner(dry_run)
    plan = fstab_remove_plan(_snapshot(runner), app.cfg.storage, target, umount=umount)
    _run_plan(app, plan, runner, action="fstab.remove", dry_run=dry_run, yes=yes,
              question=f"remove {target} from fstab?")


@fstab_group.command("list")
@pass_app
def fstab_list(app: AppContext) -> None:
    """fstab entries, whether opsctl manages them and whether they are mounted."""
    from opsctl.storage import fstab
    from opsctl.storage.files import read_text
    from opsctl.storage.probe import probe_mounts

    mounted = {m.get("target") for m in probe_mounts(_runner())}
    entries = fstab.parse(read_text(app.cfg.storage.fstab))
    rows = [e.to_dict() | {"mounted": e.file in mounted} for e in entries]
    if app.json:
        app.out.json(rows)
        return
    app.out.table(["line", "device", "mount point", "type", "options", "managed", "mounted"],
                  [[r["lineno"], r["spec"], r["file"], r["vfstype"], r["mntops"], r["managed"],
                    r["mounted"] if r["file"] not in ("none", "swap") else None] for r in rows],
                  title=str(app.cfg.storage.fstab))


@fstab_group.command("verify")
@pass_app
def fstab_verify(app: AppContext) -> None:
    """findmnt --verify on fstab, and every opsctl entry mounted. Exit 1 on any problem."""
    from opsctl.storage import fstab
    from opsctl.storage.files import read_text
    from opsctl.storage.fsops import _verify_errors
    from opsctl.storage.probe import probe_mounts

    runner = _runner()
    path = app.cfg.storage.fstab
    problems = list(_verify_errors(runner, path))
    mounted = {m.get("target") for m in probe_mounts(runner)}
    for e in fstab.parse(read_text(path)):
        if e.managed and e.file not in mounted:
            problems.append(f"{e.file}: not mounted ({e.spec})")
    if app.json:
        app.out.json({"fstab": str(path), "ok": not problems, "problems": problems})
    elif problems:
        for p in problems:
            app.out.info(f"problem: {p}")
    else:
        app.out.info(f"{path}: OK (findmnt --verify clean, all opsctl entries mounted)")
    sys.exit(1 if problems else 0)


# -- layout --------------------------------------------------------------------------------------
def _layout_plan(app: AppContext, path: str, runner):
    from opsctl.storage.layout import load_layout, plan_layout

    lay = load_layout(path)
    return plan_layout(lay, _snapshot(runner), runner, app.cfg.storage)


@storage.command("plan")
@click.option("-f", "--file", "path", required=True, metavar="LAYOUT", help="Layout YAML.")
@pass_app
def plan_cmd(app: AppContext, path: str) -> None:
    """Print the ordered actions and exact commands that would make the machine match
    the layout; touches nothing."""
    runner = _runner(True)
    plan = _layout_plan(app, path, runner)
    _run_plan(app, plan, runner, action="layout.apply", dry_run=True, yes=False)


@storage.command("apply")
@click.option("-f", "--file", "path", required=True, metavar="LAYOUT", help="Layout YAML.")
@dry_run_option
@yes_option
@pass_app
def apply_cmd(app: AppContext, path: str, dry_run: bool, yes: bool) -> None:
    """Make the machine match the layout. Stops at the first failure and undoes what it
    had done; a second apply of the same layout does nothing ("no changes")."""
    runner = _runner(dry_run)
    plan = _layout_plan(app, path, runner)
    _run_plan(app, plan, runner, action="layout.apply", dry_run=dry_run, yes=yes,
              question=f"apply {path} ({len(plan.actions)} steps)?", detail={"layout": path})


# -- history -------------------------------------------------------------------------------------
@storage.command("history")
@click.option("--limit", default=50, show_default=True, help="How many records.")
@click.option("--id", "record_id", type=ID, help="Show one record in full.")
@pass_app
def history_cmd(app: AppContext, limit: int, record_id: int | None) -> None:
    """Recorded storage changes: who, when, what, status, commands; --id for the full
    record with the before/after snapshots of mdadm.conf, fstab and the RAID/LVM state."""
    from opsctl.core.errors import NotFoundError
    from opsctl.core.journal import list_changes

    rows = list_changes(app.store, domain="storage", limit=limit if not record_id else 100000)
    if record_id is not None:
        rows = [r for r in rows if r["id"] == record_id]
        if not rows:
            raise NotFoundError(f"no storage change record #{record_id}")
        if app.json:
            app.out.json(rows[0])
            return
        r = rows[0]
        app.out.kv([(k, r[k]) for k in ("id", "action", "target", "actor", "started_at",
                                         "finished_at", "status", "reason")],
                   title=f"change #{r['id']}")
        for c in r.get("commands") or []:
            app.out.info(f"$ {' '.join(c['argv'])}  (exit {c['returncode']})")
        return
    if app.json:
        app.out.json(rows)
        return
    app.out.table(["id", "when", "who", "action", "target", "status", "commands"],
                  [[r["id"], r["started_at"], r["actor"], r["action"], r["target"], r["status"],
                    len(r.get("commands") or [])] for r in rows], title="storage changes")
