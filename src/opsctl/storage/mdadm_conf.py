"""mdadm.conf: ARRAY lines, kept inside opsctl's marker block.

The ARRAY line names the array by UUID only: a ``name=host:x`` that does not match the
homehost would stop the array from assembling as /dev/md/x after a reboot.
"""

from __future__ import annotations

BEGIN = "# BEGIN opsctl arrays (managed by opsctl storage)"
END = "# END opsctl arrays"


def array_line(device: str, uuid: str, *, metadata: str = "1.2", spares: int = 0) -> str:
    line = f"ARRAY {device} metadata={metadata}"
    if spares:
        line += f" spares={spares}"
    return f"{line} UUID={uuid}"


def _uuid_of(line: str) -> str | None:
    for part in line.split():
        if part.startswith("UUID="):
            return part[5:]
    return None


def has_array(text: str, uuid: str) -> bool:
    return any(ln.strip().startswith("ARRAY") and _uuid_of(ln) == uuid for ln in text.splitlines())


def set_array(text: str, line: str) -> str:
    """Add ``line`` to the block, replacing any ARRAY line with the same UUID or device."""
    uuid = _uuid_of(line)
    device = line.split()[1]
    kept = []
    for ln in text.splitlines():
        s = ln.strip()
        if s.startswith("ARRAY") and (_uuid_of(s) == uuid or s.split()[1:2] == [device]):
            continue
        kept.append(ln)
    if BEGIN in (ln.strip() for ln in kept):
        end = next(i for i, ln in enumerate(kept) if ln.strip() == END)
        kept.insert(end, line)
    else:
        if kept and kept[-1].strip():
            kept.append("")
        kept += [BEGIN, line, END]
    return "\n".join(kept) + "\n"


def drop_array(text: str, uuid: str) -> str:
    kept = [ln for ln in text.splitlines()
            if not (ln.strip().startswith("ARRAY") and _uuid_of(ln) == uuid)]
    return "\n".join(kept) + "\n" if kept else ""
