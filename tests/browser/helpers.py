"""What the browser tests share: the axe-core check and the README screenshots."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


def axe_serious(page) -> list[dict]:
    """Run axe-core on the page as it is now; return its serious and critical violations (id, impact, nodes)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def save_screenshot(page, name: str) -> Path:
    """Write ``docs/screenshots/{name}.png`` when ``UPDATE_SCREENSHOTS=1`` (or when it is missing).

    The README shows these; rewriting them on every run would leave a dirty tree after ``make test``
    (a PNG differs in bytes between runs even when nothing changed visibly).
    """
    path = SCREENSHOTS / f"{name}.png"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not path.exists():
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    return path
