"""Make ``example_helpers`` (next to this file) and the routed-inference helpers importable
under --import-mode=importlib."""
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for where in (_HERE, _HERE.parent / "infer"):
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))
