"""Make the inference tests' helpers (``tests/infer/infer_helpers.py``) and ``export_helpers`` importable."""
import sys
from pathlib import Path

for here in (Path(__file__).resolve().parents[1] / "export", Path(__file__).resolve().parents[1] / "infer"):
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
