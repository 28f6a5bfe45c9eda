"""Checks on the documentation's shape (the site itself is built by scripts/docs.sh, with
warnings as errors, in .ci/run)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    missing = [link for link in links if not link.startswith("http")
               and not (ROOT / link).exists()]
    assert links and missing == []


def test_the_library_never_switches_the_matplotlib_backend():
    """A notebook user's backend is theirs: library plots are pyplot-free Figures."""
    offenders = [f"{path.relative_to(ROOT)}:{n}"
                 for path in (ROOT / "gpo_vae").rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if re.match(r"\s*(matplotlib\.use\(|import matplotlib\.pyplot|from matplotlib "
                             r"import pyplot)", line)]
    assert offenders == []
