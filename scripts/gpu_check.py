#!/usr/bin/env python3
"""`mocobench check` (mocobench/check/) from a checkout, mocobench not installed: same options and report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's mocobench
from mocobench.check.main import main

raise SystemExit(main())
