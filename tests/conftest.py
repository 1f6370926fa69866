import sys
from pathlib import Path

# Shared test helpers (tests/helpers/*.py) import as plain modules, e.g. `import snmp_agents`.
sys.path.insert(0, str(Path(__file__).parent / "helpers"))
