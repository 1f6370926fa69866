"""SMART assessment on real smartctl 7.3 output: QEMU's emulated ATA disk (captured with
fixtures/capture_smart.sh), a virtio disk (no SMART) and a missing device; failing
variants are the real capture with the values a failing disk reports changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from opsctl.core.errors import Status
from opsctl.inspection.checks.smart import assess

FIX = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def test_real_ata_disk_passes_with_attributes():
    status, text, facts = assess(fixture("smartctl-qemu-ata-passed.json"), 55, 65, 90)
    assert status == Status.OK
    assert text == "/dev/sda: PASSED, 31°C"
    assert facts["passed"] is True and facts["reallocated_sectors"] == 0
    assert facts["temperature"] == 31


def test_scsi_view_of_the_same_disk_has_no_attributes():
    data = fixture("smartctl-qemu-ata-as-scsi.json")
    assert "ata_smart_attributes" not in data  # why the check does not pass "-d scsi"
    status, _, facts = assess(data, 55, 65, 90)
    assert status == Status.OK and "reallocated_sectors" not in facts


def test_disks_without_smart_are_unknown():
    status, text, _ = assess(fixture("smartctl-virtio-unknown-type.json"), 55, 65, 90)
    assert status == Status.UNKNOWN
    assert text == "/dev/vda: SMART unavailable (/dev/vda: Unable to detect device type)"
    status, text, _ = assess(fixture("smartctl-no-such-device.json"), 55, 65, 90)
    assert status == Status.UNKNOWN and "Unable to detect device type" in text


def test_failing_variants_of_the_real_capture():
    base = fixture("smartctl-qemu-ata-passed.json")
    bad = copy.deepcopy(base)
    bad["smart_status"]["passed"] = False
    bad["smartctl"]["exit_status"] |= 8
    assert assess(bad, 55, 65, 90)[0] == Status.CRITICAL
    realloc = copy.deepcopy(base)
    for attr in realloc["ata_smart_attributes"]["table"]:
        if attr["id"] == 5:
            attr["raw"]["value"] = 12
    status, text, facts = assess(realloc, 55, 65, 90)
    assert status == Status.WARNING and "12 reallocated sectors" in text
    failing_now = copy.deepcopy(base)
    failing_now["ata_smart_attributes"]["table"][0]["when_failed"] = "now"
    status, text, _ = assess(failing_now, 55, 65, 90)
    assert status == Status.CRITICAL and "Raw_Read_Error_Rate failing now" in text
    assert assess(base, 30, 65, 90)[0] == Status.WARNING     # 31 °C against warn 30
    assert assess(base, 20, 30, 90)[0] == Status.CRITICAL


def test_nvme_health_log_rules():
    base = fixture("smartctl-qemu-ata-passed.json")
    nvme = {k: v for k, v in base.items() if k != "ata_smart_attributes"}
    nvme["nvme_smart_health_information_log"] = {
        "critical_warning": 0, "temperature": 31, "available_spare": 100,
        "available_spare_threshold": 10, "percentage_used": 3, "media_errors": 0}
    assert assess(nvme, 55, 65, 90)[0] == Status.OK
    worn = copy.deepcopy(nvme)
    worn["nvme_smart_health_information_log"]["percentage_used"] = 95
    assert assess(worn, 55, 65, 90)[0] == Status.WARNING
    spare = copy.deepcopy(nvme)
    spare["nvme_smart_health_information_log"]["available_spare"] = 5
    assert assess(spare, 55, 65, 90)[0] == Status.CRITICAL
    warn = copy.deepcopy(nvme)
    warn["nvme_smart_health_information_log"]["critical_warning"] = 4
    status, text, _ = assess(warn, 55, 65, 90)
    assert status == Status.CRITICAL and "critical warning 0x04" in text


def test_scan_types_are_kept_except_scsi():
    from opsctl.core.runner import Result
    from opsctl.inspection.checks.smart import SmartCheck

    class Replay:  # a recording of the real scan in the SMART VM
        def run(self, argv, **kw):
            return Result(argv, 0, (FIX / "smartctl-scan-qemu-ata.json").read_text())

    class Ctx:
        runner = Replay()
        timeout = 5

    assert SmartCheck._scan(Ctx()) == [("/dev/sda", None)]
