"""/etc/fstab: parse, and edit only inside opsctl's marker block.

Entries are written by UUID (device names change between boots; UUIDs do not), and data
volumes get ``nofail`` plus ``x-systemd.device-timeout=`` so a missing disk delays the
boot by seconds instead of dropping it into an emergency shell.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsctl.core.errors import SafetyError

BEGIN = "# BEGIN opsctl storage (managed by opsctl; edit with `opsctl storage fstab`)"
END = "# END opsctl storage"


@dataclass
class FstabEntry:
    spec: str
    file: str
    vfstype: str
    mntops: str = "defaults"
    freq: int = 0
    passno: int = 2
    managed: bool = False
    lineno: int = 0

    def line(self) -> str:
        return f"{self.spec} {self.file} {self.vfstype} {self.mntops} {self.freq} {self.passno}"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _unescape(field: str) -> str:
    # fstab escapes spaces in paths as \040.
    return field.replace("\\040", " ").replace("\\011", "\t")


def parse(text: str) -> list[FstabEntry]:
    out: list[FstabEntry] = []
    managed = False
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line == BEGIN:
            managed = True
            continue
        if line == END:
            managed = False
            continue
        if not line or line.startswith("#"):
            continue
        f = line.split()
        if len(f) < 3:
            continue
        out.append(FstabEntry(
            spec=_unescape(f[0]), file=_unescape(f[1]), vfstype=f[2],
            mntops=f[3] if len(f) > 3 else "defaults",
            freq=int(f[4]) if len(f) > 4 and f[4].isdigit() else 0,
            passno=int(f[5]) if len(f) > 5 and f[5].isdigit() else 0,
            managed=managed, lineno=i,
        ))
    return out


def data_options(options: str | list[str] | None, device_timeout: str | None) -> str:
    """Mount options for a data volume: the user's, plus nofail and a device timeout."""
    if isinstance(options, list):
        opts = [o for o in options if o]
    else:
        opts = [o for o in (options or "defaults").split(",") if o]
    if not opts:
        opts = ["defaults"]
    if "nofail" not in opts:
        opts.append("nofail")
    if device_timeout and not any(o.startswith("x-systemd.device-timeout=") for o in opts):
        opts.append(f"x-systemd.device-timeout={device_timeout}")
    return ",".join(opts)


def check_add(entries: list[FstabEntry], new: FstabEntry, same_device: set[str]) -> None:
    """Refuse a second entry for the same mount point or the same device.

    ``same_device`` holds every spelling of the new entry's device (UUID=…, /dev/…).
    """
    for e in entries:
        if e.file == new.file and new.file != "none":
            raise SafetyError(f"fstab already has an entry for {new.file} (line {e.lineno}: "
                              f"{e.spec})", hint="remove it first or choose another mount point")
        if e.spec in same_device:
            raise SafetyError(f"fstab already has an entry for this device (line {e.lineno}: "
                              f"{e.spec} on {e.file})")


def add(text: str, entry: FstabEntry) -> str:
    """``text`` with ``entry`` appended inside the marker block (created when missing)."""
    lines = text.splitlines()
    if BEGIN in (ln.strip() for ln in lines):
        end = next((i for i, ln in enumerate(lines) if ln.strip() == END), None)
        if end is None:
            raise SafetyError("fstab has an opsctl BEGIN marker without END; fix it by hand")
        lines.insert(end, entry.line())
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [BEGIN, entry.line(), END]
    return "\n".join(lines) + "\n"


def remove(text: str, target: str) -> tuple[str, FstabEntry]:
    """``text`` without the managed entry mounted at ``target`` (or with that spec)."""
    entries = parse(text)
    match = [e for e in entries if target in (e.file, e.spec)]
    if not match:
        raise SafetyError(f"no fstab entry for {target}")
    e = match[0]
    if not e.managed:
        raise SafetyError(f"the fstab entry for {target} (line {e.lineno}) was not written by "
                          "opsctl; edit it by hand", hint="opsctl only edits its marker block")
    lines = text.splitlines()
    del lines[e.lineno - 1]
    # An empty block is dropped so the file reads as before the first add.
    for i in range(len(lines) - 1):
        if lines[i].strip() == BEGIN and lines[i + 1].strip() == END:
            del lines[i:i + 2]
            # ...and the blank line add() put before it, when the block was last.
            if i > 0 and i == len(lines) and not lines[i - 1].strip():
                del lines[i - 1]
            break
    return ("\n".join(lines) + "\n") if lines else "", e
