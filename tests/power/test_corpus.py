"""The 48 real recordings of tests/fixtures/ups-corpus (LibreNMS test data, GPL; see its
README) served by snmpsim, each read with ``profile: auto`` exactly as a poll reads it,
and scored against LibreNMS's readings (tests/power/corpus_score.py says how).

The gate (issue 13): every UPS shows a status, >= 95 % of the comparable values match,
no value is wrong, the DC power system is not read as an on-line UPS.
"""

from __future__ import annotations

import pytest
from corpus_score import (
    CORPUS,
    field_index,
    load_expected,
    load_index,
    score_device,
    summarise,
)
from snmp_agents import Snmpsim
from test_cards_common import read, sim_available

pytestmark = [pytest.mark.snmp,
              pytest.mark.skipif(not sim_available(), reason="snmpsim venv not installed")]

INDEX = load_index()
UPS = [e["file"] for e in INDEX if e["group"] == "ups"]
# The kind a user would configure: a UPS card, a PDU, a sensor; the DC system calls
# itself a UPS card, so it is configured as one.
KIND = {"ups": "ups", "edge": "ups", "pdu": "pdu", "env": "sensor"}


@pytest.fixture(scope="module")
def readings():
    sim = Snmpsim(sorted((CORPUS / "recordings").glob("*.snmprec"))).start()
    try:
        out = {}
        for e in INDEX:
            if e["group"] not in ("ups", "edge"):
                continue
            r = read(sim.port, e["file"], kind=KIND[e["group"]])
            out[e["file"]] = {"kind": getattr(r, "kind", None) or KIND[e["group"]],
                              "profile": r.profile.name, "reason": r.profile_reason,
                              "values": r.values, "notes": r.notes}
        yield out
    finally:
        sim.stop()


def _ups_score(readings):
    from opsctl.power.profiles import registry

    index = field_index(registry.all_profiles().values())
    outcomes = {f: score_device(f, load_expected(f), readings[f]["values"], index)
                for f in UPS}
    return outcomes, summarise(outcomes, readings, UPS)


def test_ups_corpus_score(readings):
    outcomes, s = _ups_score(readings)
    lines = [f"UPS: {s.match}/{s.comparable} comparable values match ({s.percent:.1f} %), "
             f"{s.wrong} wrong, {s.missing} missing; {s.with_status}/{len(UPS)} with status"]
    lines += [f"  wrong: {w}" for w in s.wrong_items]
    lines += [f"  no status: {f} ({readings[f]['profile']}: {readings[f]['reason']})"
              for f in s.no_status]
    for f, outs in outcomes.items():
        for o in outs:
            if o.result == "missing":
                lines.append(f"  missing: {f}: {o.klass} {o.descr} ({o.oid}) -> {o.fields}")
    print("\n".join(lines))
    assert s.wrong == 0, "\n".join(lines)
    # Ratchet: raised with every profile batch (issue 13's goal: all, >= 95 %).
    assert s.with_status >= 28, "\n".join(lines)
    assert s.percent >= 76.0, "\n".join(lines)
