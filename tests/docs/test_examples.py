"""Every shell example in README.md and docs/ runs as pasted against a live portal with the demo data.

A fenced block's info string says what it is: ``sh runnable`` blocks run, in order, one bash per
document, from a directory holding ``demo.json`` (as after ``make run``); ``sh manual`` blocks need
a browser, a code the reader received, or run until stopped. Every ``sh``/``python`` block must say
which. The portal is a real server process (``manage.py runserver``) on a free loopback port, on its
own SQLite database, seeded by ``seed_demo``; ``http://127.0.0.1:8000`` in the examples is replaced
by its address (the docs tell readers to put their portal's there). ``curl`` fails on an HTTP error
status, so an example that gets a 4xx or 5xx fails the test.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([A-Za-z]*)([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
CODE_LANGUAGES = {"sh", "bash", "shell", "console", "python", "py"}
DEMO_URL = "http://127.0.0.1:8000"


@dataclass
class Block:
    document: Path
    line: int
    language: str
    marks: set[str]
    code: str


def blocks() -> list[Block]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for match in FENCE.finditer(text):
            language, info, code = match.group(1), match.group(2), match.group(3)
            if language in CODE_LANGUAGES:
                line = text.count("\n", 0, match.start()) + 1
                found.append(Block(document, line, language, set(info.split()), code))
    return found


def test_every_code_block_says_whether_it_runs():
    unmarked = [
        f"{b.document.relative_to(ROOT)}:{b.line}" for b in blocks() if len(b.marks & {"runnable", "manual"}) != 1
    ]
    assert unmarked == [], "mark each block `runnable` or `manual` in its fence info string"
    assert all(b.language in ("sh", "bash") for b in blocks() if "runnable" in b.marks)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LivePortal:
    url: str
    workdir: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def live_demo(tmp_path_factory) -> Iterator[LivePortal]:
    """Migrate, seed and serve a portal in its own processes, as ``make run`` does."""
    workdir = tmp_path_factory.mktemp("reader")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PORTAL_", "TEST_"))},
        "DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}",
        "DJANGO_DEBUG": "1",
        "PORTAL_BASE_URL": url,
        # docs/oauth.md's dynamic registration example runs where the utility turned it on.
        "OAUTH_DYNAMIC_REGISTRATION": "1",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, capture_output=True, timeout=600)
    subprocess.run(
        [*manage, "seed_demo", "--json", str(workdir / "demo.json"), "--days", "2"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    # What the README's commands use from the repository, as seen from where the reader stands.
    for name in (".venv", "manage.py", "tests"):
        (workdir / name).symlink_to(ROOT / name)
    server = subprocess.Popen(  # noqa: S603 - our own manage.py
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                requests.get(f"{url}/espi/1_1/resource/ReadServiceStatus", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)  # waiting for a process to listen, not for time to pass
        else:
            raise AssertionError("the portal did not start")
        yield LivePortal(url=url, workdir=workdir, env=env)
    finally:
        server.terminate()
        server.wait(timeout=30)


def script_of(document: Path, url: str) -> str:
    code = "\n".join(b.code for b in blocks() if b.document == document and "runnable" in b.marks)
    # curl: an HTTP error status is a failure, its body shown.
    prelude = 'curl() { command curl --fail-with-body "$@"; }\n'
    return prelude + code.replace(DEMO_URL, url)


@pytest.mark.parametrize(
    "document",
    sorted({b.document for b in blocks() if "runnable" in b.marks}),
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_runnable_examples_run_as_pasted(live_demo, document):
    result = subprocess.run(  # noqa: S603
        ["bash", "-euo", "pipefail", "-c", script_of(document, live_demo.url)],  # noqa: S607
        cwd=live_demo.workdir,
        env=live_demo.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{document.name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
