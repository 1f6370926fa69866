"""The exact argv of every storage tool invocation, in one place.

Read-only probes and changing commands alike are built here so the plan printer, the
executor and the unit tests all see the same command lines.
"""

from __future__ import annotations

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


def md_path(name: str) -> str:
    """``data`` -> ``/dev/md/data``; a path is kept as given."""
    return name if name.startswith("/dev/") else f"/dev/md/{name}"


def lv_path(vg: str, lv: str) -> str:
    return f"/dev/{vg}/{lv}"
