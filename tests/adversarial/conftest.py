"""The adversarial suite (issue 19): faults and hostile input, each case a regression test.

Helpers: ``hostile.py`` (misbehaving HTTP servers and clients) and the daemon test
support module (real webhook/SMTP servers, configs, the daemon process).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "daemon"))
