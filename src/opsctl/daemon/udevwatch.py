"""Block-device events from the kernel/udev (pyudev) into the alert pipeline.

A disk added or removed is an event at once (not at the next inspection); an md array
``change`` asks the RAID job to run now, and that job (which compares with the last known
state) decides whether the array degraded or was rebuilt.

Where udevd does not run (containers, minimal VMs) the kernel's own uevents are used;
where netlink is not allowed at all the daemon logs it and carries on without.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

from opsctl.daemon.alerts import Event

log = logging.getLogger("opsctl.daemon.udev")


def _size_text(name: str) -> str | None:
    try:
        sectors = int(Path(f"/sys/class/block/{name}/size").read_text().strip())
    except (OSError, ValueError):
        return None
    size = sectors * 512
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return None


def describe(props: dict, name: str) -> str:
    parts = [props.get("ID_MODEL") or props.get("ID_VENDOR") or "",
             f"serial {props['ID_SERIAL_SHORT']}" if props.get("ID_SERIAL_SHORT") else "",
             _size_text(name) or ""]
    text = ", ".join(p for p in parts if p)
    return f" ({text})" if text else ""


def event_for(action: str, name: str, devtype: str | None, props: dict,
              ignore: list[str]) -> tuple[str, Event | None]:
    """Classify one uevent: ('md', None), ('disk', Event) or ('ignore', None)."""
    if name.startswith("md") and action in ("change", "add", "remove"):
        return "md", None
    if devtype != "disk" or action not in ("add", "remove"):
        return "ignore", None
    if any(fnmatch.fnmatch(name, pat) for pat in ignore):
        return "ignore", None
    if action == "add":
        return "disk", Event("udev", "disk-added", "minor",
                             f"disk {name} added{describe(props, name)}", subject=name,
                             details={"action": action, "devpath": props.get("DEVPATH")})
    return "disk", Event("udev", "disk-removed", "major",
                         f"disk {name} removed{describe(props, name)}", subject=name,
                         details={"action": action, "devpath": props.get("DEVPATH")})


class MdstatWatcher:
    """Wakes on every md event: the kernel signals pollers of /proc/mdstat (POLLPRI) when
    a member fails, a spare takes over or a resync ends — events that no uevent carries
    (``mdadm --fail`` sends none). ``mdadm --monitor`` listens the same way."""

    def __init__(self, on_change: Callable[[str], None], path: str = "/proc/mdstat"):
        self.on_change = on_change
        self.path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        if not os.path.exists(self.path):
            return False
        self._thread = threading.Thread(target=self._run, name="opsctl-mdstat", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        try:
            with open(self.path, "rb", buffering=0) as f:
                f.read()                      # pollers are woken only after a full read
                poller = select.poll()
                poller.register(f.fileno(), select.POLLPRI | select.POLLERR)
                while not self._stop.is_set():
                    if not poller.poll(1000):
                        continue
                    f.seek(0)
                    f.read()
                    log.info("md event (/proc/mdstat)")
                    self.on_change("mdstat")
        except Exception as exc:  # noqa: BLE001 - the raid job still runs on its interval
            log.error("watching /proc/mdstat stopped: %s", exc)

    def stop(self) -> None:
        self._stop.set()


class UdevWatcher:
    def __init__(self, emit: Callable[[Event], object], on_md_change: Callable[[str], None],
                 ignore: list[str] | None = None):
        self.emit = emit
        self.on_md_change = on_md_change
        self.ignore = list(ignore or [])
        self.state = "off"
        self._observer = None
        self._md: MdstatWatcher | None = None

    def start(self) -> str:
        try:
            import pyudev

            context = pyudev.Context()
            # Without udevd nobody re-broadcasts on the 'udev' group: listen to the kernel.
            source = "udev" if os.path.isdir("/run/udev") else "kernel"
            monitor = pyudev.Monitor.from_netlink(context, source=source)
            monitor.filter_by("block")
            monitor.start()  # bind now, not later in the observer thread: no early event lost
            self._observer = pyudev.MonitorObserver(monitor, callback=self._handle,
                                                    name="opsctl-udev")
            self._observer.daemon = True
            self._observer.start()
            self.state = f"watching ({source} events)"
            log.info("block-device events: %s", self.state)
        except Exception as exc:  # noqa: BLE001 - no udev must never stop the daemon
            self.state = f"unavailable: {exc}"
            log.warning("block-device events unavailable (%s); carrying on without them", exc)
        self._md = MdstatWatcher(self.on_md_change)
        if self._md.start():
            self.state += "; md events (/proc/mdstat)"
        return self.state

    def _handle(self, device) -> None:
        try:
            props = dict(device.properties)
            kind, event = event_for(device.action or "", device.sys_name, device.device_type,
                                    props, self.ignore)
            if kind == "md":
                log.info("md event: %s %s", device.action, device.sys_name)
                self.on_md_change(device.sys_name)
            elif event is not None:
                self.emit(event)
        except Exception as exc:  # noqa: BLE001 - the observer thread must survive
            log.error("handling a udev event failed: %s", exc)

    def stop(self) -> None:
        if self._md is not None:
            self._md.stop()
        if self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.send_stop()
            self._observer = None
