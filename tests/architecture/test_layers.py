"""The apps form layers: ``custodian`` <- ``grants`` <- ``batch``; a lower app never imports a higher one.

Every module of the three apps is parsed with ``ast`` (imports inside functions count too). The
project's wiring modules (settings, root URLs, WSGI/ASGI entry points) are the only exceptions: they
name every app by design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("custodian", "grants", "batch")  # lowest first
PROJECT_WIRING = {"custodian/settings.py", "custodian/urls.py", "custodian/wsgi.py", "custodian/asgi.py"}


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Return (line, module) for every absolute import in ``tree``; a relative one stays inside its app."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.lineno, node.module))
    return found


def layer_violations(source: str, *, path: str) -> list[str]:
    """Return one message per import in ``source`` (the module at ``path``) of an app above its own."""
    app = path.split("/", 1)[0]
    rank = LAYERS.index(app)
    messages = []
    for line, module in _imported_modules(ast.parse(source, filename=path)):
        top = module.split(".", 1)[0]
        if top in LAYERS and LAYERS.index(top) > rank:
            messages.append(f"{path}:{line} imports {module} ({app} sits below {top})")
    return messages


def _app_modules() -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for app in LAYERS
        for path in (ROOT / app).rglob("*.py")
        if "/.venv/" not in str(path)
    )


def test_no_app_imports_a_higher_one():
    modules = [path for path in _app_modules() if path not in PROJECT_WIRING]
    assert len(modules) > 50  # the walk found the apps
    violations = [message for path in modules for message in layer_violations((ROOT / path).read_text(), path=path)]
    assert violations == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("custodian/x.py", "from grants.models import Grant\n", ["custodian/x.py:1 imports grants.models"]),
        ("custodian/x.py", "def f():\n    import batch.feeds\n", ["custodian/x.py:2 imports batch.feeds"]),
        ("grants/x.py", "from batch import reach\n", ["grants/x.py:1 imports batch"]),
        ("grants/x.py", "from custodian.models import UsagePoint\n", []),
        ("batch/x.py", "from grants import selectors\nfrom custodian import models\n", []),
        ("custodian/espi/x.py", "import grants.scopes as scopes\n", ["custodian/espi/x.py:1 imports grants.scopes"]),
        ("custodian/espi/x.py", "from .. import models\n", []),
    ],
)
def test_the_check_sees_every_form_of_import(path, source, expected):
    found = layer_violations(source, path=path)
    assert [message.split(" (")[0] for message in found] == expected
