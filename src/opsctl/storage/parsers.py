"""Parsers for what the storage tools print (fed real captured output in the unit tests).

Each parser is a pure function from text to plain data, so probing, planning and the
inspection checks share one reading of ``mdadm --detail``, ``/proc/mdstat``, LVM's JSON
reports, ``lsblk -J``, ``blkid -o export`` and ``findmnt -J``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from opsctl.core.errors import CommandError

# -- mdadm --detail -------------------------------------------------------------------------


@dataclass
class MdMember:
    device: str | None          # /dev/vda, None for an empty ("removed") slot
    number: int | None
    raid_device: int | None     # slot in the array; None for spares and faulty members
    state: str                  # "active sync", "spare rebuilding", "faulty", "spare", "removed"

    @property
    def role(self) -> str:
        s = self.state
        if "faulty" in s:
            return "faulty"
        if s == "removed":
            return "removed"
        if "rebuilding" in s:
            return "rebuilding"
        if "spare" in s:
            return "spare"
        if "active" in s:
            return "active"
        return s or "held"       # an inactive array's members: held, in no role yet

    def to_dict(self) -> dict:
        return {"device": self.device, "slot": self.raid_device, "role": self.role,
                "state": self.state}


@dataclass
class MdDetail:
    device: str
    fields: dict[str, str]
    members: list[MdMember] = field(default_factory=list)

    @property
    def level(self) -> str:
        return self.fields.get("Raid Level", "")

    @property
    def state_words(self) -> list[str]:
        return [w.strip() for w in self.fields.get("State", "").split(",") if w.strip()]

    @property
    def name(self) -> str:
        # "host:data" -> "data": the part people type.
        return self.fields.get("Name", "").split(" ")[0].split(":")[-1]

    @property
    def uuid(self) -> str:
        return self.fields.get("UUID", "")

    @property
    def size_bytes(self) -> int:
        return _kib(self.fields.get("Array Size"))

    @property
    def used_dev_bytes(self) -> int:
        return _kib(self.fields.get("Used Dev Size"))

    def count(self, what: str) -> int:
        try:
            return int(self.fields.get(f"{what} Devices", "0"))
        except ValueError:
            return 0

    @property
    def rebuild_percent(self) -> float | None:
        for key in ("Rebuild Status", "Resync Status", "Reshape Status", "Check Status"):
            m = re.match(r"(\d+(?:\.\d+)?)%", self.fields.get(key, ""))
            if m:
                return float(m.group(1))
        return None

    @property
    def chunk(self) -> str | None:
        return self.fields.get("Chunk Size")


def _kib(value: str | None) -> int:
    if not value:
        return 0
    m = re.match(r"(\d+)", value)
    return int(m.group(1)) * 1024 if m else 0


_MEMBER_RE = re.compile(
    r"^\s*(?P<num>-|\d+)\s+(?P<major>\d+)\s+(?P<minor>\d+)\s+(?P<rd>-|\d+)\s+"
    r"(?P<state>.*?)\s*(?P<dev>/dev/\S+)?\s*$"
)


def parse_mdadm_detail(text: str) -> MdDetail:
    lines = text.splitlines()
    if not lines or not lines[0].rstrip().endswith(":"):
        raise CommandError("unexpected mdadm --detail output (no device header)")
    device = lines[0].rstrip()[:-1]
    fields: dict[str, str] = {}
    members: list[MdMember] = []
    in_table = False
    for line in lines[1:]:
        if not line.strip():
            continue
        if line.strip().startswith("Number") and "RaidDevice" in line:
            in_table = True
            continue
        if in_table:
            m = _MEMBER_RE.match(line)
            if m:
                members.append(MdMember(
                    device=m.group("dev"),
                    number=None if m.group("num") == "-" else int(m.group("num")),
                    raid_device=None if m.group("rd") == "-" else int(m.group("rd")),
                    state=m.group("state").strip(),
                ))
            continue
        if " : " in line:
            k, v = line.split(" : ", 1)
            fields[k.strip()] = v.strip()
    return MdDetail(device, fields, members)


def parse_detail_scan(text: str) -> list[dict[str, str]]:
    """``mdadm --detail --scan`` / ``--brief``: one ARRAY line per array; an array the
    kernel holds but has not started (e.g. a reshape cut by a power loss, which udev's
    incremental assembly leaves alone) is an INACTIVE-ARRAY line."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] not in ("ARRAY", "INACTIVE-ARRAY"):
            continue
        entry = {"device": parts[1]}
        if parts[0] == "INACTIVE-ARRAY":
            entry["inactive"] = "yes"
        for p in parts[2:]:
            if "=" in p:
                k, v = p.split("=", 1)
                entry[k] = v
        out.append(entry)
    return out


# -- /proc/mdstat ---------------------------------------------------------------------------


@dataclass
class MdstatArray:
    name: str                    # md127
    active: bool
    level: str | None
    members: dict[str, str]      # vda -> "" | "F" (faulty) | "S" (spare) | "W" …
    raid_disks: int | None = None
    working_disks: int | None = None
    status: str | None = None    # "UU_"
    operation: str | None = None  # resync / recovery / reshape / check
    percent: float | None = None
    finish_minutes: float | None = None
    speed_kib: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_PROGRESS_RE = re.compile(
    r"(?P<op>resync|recovery|reshape|check|repair)\s*=\s*(?P<pct>[\d.]+)%.*?"
    r"(?:finish=(?P<fin>[\d.]+)min)?\s*(?:speed=(?P<speed>\d+)K/sec)?\s*$"
)


def parse_mdstat(text: str) -> dict[str, MdstatArray]:
    arrays: dict[str, MdstatArray] = {}
    cur: MdstatArray | None = None
    for line in text.splitlines():
        m = re.match(r"^(md\w+)\s*:\s*(\S+)\s*(.*)$", line)
        if m:
            name, state, rest = m.groups()
            words = rest.split()
            level = None
            if words and not re.match(r"\w+\[\d+\]", words[0]):
                level = words.pop(0)
                if level.startswith("("):  # "(auto-read-only)"
                    level = words.pop(0) if words else None
            members = {}
            for w in words:
                mm = re.match(r"(\S+?)\[\d+\](?:\((\w)\))?", w)
                if mm:
                    members[mm.group(1)] = mm.group(2) or ""
            cur = MdstatArray(name, state == "active", level, members)
            arrays[name] = cur
            continue
        if cur is None:
            continue
        m = re.search(r"\[(\d+)/(\d+)\]\s*\[([U_]+)\]", line)
        if m:
            cur.raid_disks, cur.working_disks = int(m.group(1)), int(m.group(2))
            cur.status = m.group(3)
            continue
        m = _PROGRESS_RE.search(line)
        if m:
            cur.operation = m.group("op")
            cur.percent = float(m.group("pct"))
            cur.finish_minutes = float(m.group("fin")) if m.group("fin") else None
            cur.speed_kib = int(m.group("speed")) if m.group("speed") else None
            continue
        if re.search(r"(resync|recovery|reshape)\s*=\s*(DELAYED|PENDING)", line):
            cur.operation = line.split("=")[0].split()[-1]
            cur.percent = 0.0
    return arrays


# -- LVM JSON reports ------------------------------------------------------------------------

_INT_FIELDS = {
    "lv_size", "pv_size", "pv_free", "pv_used", "dev_size", "pv_pe_count", "pv_pe_alloc_count",
    "vg_size", "vg_free", "vg_extent_size", "vg_extent_count", "vg_free_count", "pv_count",
    "lv_count",
}


def parse_lvm_report(text: str, kind: str) -> list[dict[str, Any]]:
    """``lvs/pvs/vgs --reportformat json --units b --nosuffix``; numbers become ints."""
    try:
        data = json.loads(text) if text.strip() else {"report": []}
    except json.JSONDecodeError as exc:
        raise CommandError(f"unexpected {kind}s output: not JSON ({exc.msg})") from None
    rows: list[dict[str, Any]] = []
    for rep in data.get("report", []):
        for row in rep.get(kind, []):
            clean = {}
            for k, v in row.items():
                if k in _INT_FIELDS and isinstance(v, str) and v.strip().isdigit():
                    clean[k] = int(v)
                else:
                    clean[k] = v
            rows.append(clean)
    return rows


# -- lsblk / blkid / findmnt ------------------------------------------------------------------


def parse_lsblk(text: str) -> list[dict[str, Any]]:
    try:
        return json.loads(text).get("blockdevices", [])
    except json.JSONDecodeError as exc:
        raise CommandError(f"unexpected lsblk output: not JSON ({exc.msg})") from None


def parse_blkid_export(text: str) -> list[dict[str, str]]:
    """``blkid -o export``: blank-line separated KEY=value blocks."""
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
                cur = {}
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            cur[k] = v
    if cur:
        out.append(cur)
    return out


def parse_findmnt(text: str) -> list[dict[str, Any]]:
    """``findmnt -J``: the tree flattened to a list of mounts."""
    try:
        data = json.loads(text) if text.strip() else {"filesystems": []}
    except json.JSONDecodeError as exc:
        raise CommandError(f"unexpected findmnt output: not JSON ({exc.msg})") from None
    out: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for n in nodes:
            kids = n.pop("children", [])
            out.append(n)
            walk(kids)

    walk(data.get("filesystems", []))
    return out


def parse_findmnt_verify(text: str) -> list[str]:
    """The [E]rror lines of ``findmnt --verify --verbose``, with the target they belong to."""
    errors: list[str] = []
    target = ""
    for line in text.splitlines():
        if line and not line.startswith(" "):
            target = line.strip()
        elif line.strip().startswith("[E]"):
            errors.append(f"{target}: {line.strip()[3:].strip()}")
    return errors


def parse_resize2fs_min(text: str) -> int | None:
    """``resize2fs -P``: the estimated minimum size in filesystem blocks."""
    m = re.search(r"minimum size of the filesystem:\s*(\d+)", text)
    return int(m.group(1)) if m else None


def parse_dumpe2fs(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out
