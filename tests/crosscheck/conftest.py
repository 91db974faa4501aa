"""Shared by the cross-check suites: the SDK suite's harness (paymux_harness: starting
`paymux serve` and the channel simulators) is imported from tests/sdk/python, not copied."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python"))
