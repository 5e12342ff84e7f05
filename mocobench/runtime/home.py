"""The cache root for everything mocobench generates or converts once: datasets, benchmark images, betons."""

from __future__ import annotations

import os
from pathlib import Path


def mocobench_home() -> Path:
    """`$MOCOBENCH_HOME`, or the user cache dir (e.g. ~/.cache/mocobench)."""
    env = os.environ.get("MOCOBENCH_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mocobench"))
