"""Peak memory of this process, for logs and benchmarks."""

from __future__ import annotations

import sys


def peak_memory_gb() -> float:
    """Peak resident memory of this process so far, in GiB (0 where unknown)."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (2**30 if sys.platform == "darwin" else 2**20), 2)
    except (ImportError, OSError):  # pragma: no cover - Windows
        return 0.0
