"""The exact argv of every storage tool invocation, in one place.

Read-only probes and changing commands alike are built here so the plan printer, the
executor and the unit tests all see the same command lines.
"""

from __future__ import annotations

import re

from opsctl.core.runner import Runner

# LVM complains about inherited descriptors on every call when run from Python.
LVM_ENV = {"LVM_SUPPRESS_FD_WARNINGS": "1"}
LVM_REPORT = ["--reportformat", "json", "--units", "b", "--nosuffix"]
LVS_FIELDS = "lv_name,vg_name,lv_size,lv_path,lv_dm_path,lv_uuid,lv_attr,segtype,devices"
PVS_FIELDS = ("pv_name,vg_name,pv_size,pv_free,pv_used,pv_uuid,dev_size,pv_pe_count,"
              "pv_pe_alloc_count")
VGS_FIELDS = ("vg_name,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,pv_count,"
              "lv_count,vg_uuid")

LSBLK = ["lsblk", "-J", "-b", "-O"]
FINDMNT = ["findmnt", "-J", "-b", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS,SIZE,USED,AVAIL"]
MDSTAT = "/proc/mdstat"


def lvs() -> list[str]:
    return ["lvs", *LVM_REPORT, "-a", "-o", LVS_FIELDS]


def pvs() -> list[str]:
    return ["pvs", *LVM_REPORT, "-o", PVS_FIELDS]


def vgs() -> list[str]:
    return ["vgs", *LVM_REPORT, "-o", VGS_FIELDS]


def storage_runner(dry_run: bool = False) -> Runner:
    """A Runner with the environment the storage tools want."""
    return Runner(dry_run=dry_run, extra_env=dict(LVM_ENV))


_MD_NUMBERED = re.compile(r"md[0-9]{1,3}")


def md_numbered(name: str) -> bool:
    """``md5`` is a kernel-numbered name: the array must be /dev/md5, not /dev/md127."""
    return _MD_NUMBERED.fullmatch(name) is not None


def md_path(name: str) -> str:
    """``data`` -> ``/dev/md/data``; ``md5`` -> ``/dev/md5``; a path is kept as given."""
    if name.startswith("/dev/"):
        return name
    return f"/dev/{name}" if md_numbered(name) else f"/dev/md/{name}"


def array_key(spec: str) -> str:
    """The bare name of an array given as ``/dev/md5``, ``/dev/md/data`` or ``data``."""
    if spec.startswith("/dev/md/"):
        return spec.removeprefix("/dev/md/")
    return spec.removeprefix("/dev/")


def lv_path(vg: str, lv: str) -> str:
    return f"/dev/{vg}/{lv}"
