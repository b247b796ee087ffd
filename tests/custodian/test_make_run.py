"""``make run`` serves URLs that follow its HOST and PORT unless PORTAL_BASE_URL is set."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_make(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``make run`` with a stand-in interpreter that records PORTAL_BASE_URL and each command's arguments."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    record = tmp_path / "calls"
    record.unlink(missing_ok=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\necho "$PORTAL_BASE_URL $*" >> {record}\n')
    python.chmod(0o755)
    (venv / ".installed").touch()
    environment = {k: v for k, v in os.environ.items() if k not in ("PORTAL_BASE_URL", "MAKEFLAGS", "MAKELEVEL")}
    environment.update(env or {})
    subprocess.run(
        ["make", "-s", "-C", str(ROOT), "run", f"VENV={venv}", *args],
        env=environment,
        check=True,
        capture_output=True,
        timeout=60,
    )
    # ``make install`` compiles the message catalogues first; the calls that serve are the rest.
    return [line for line in record.read_text().splitlines() if " compilemessages " not in f"{line} "]


def test_portal_base_url_follows_host_and_port(tmp_path):
    calls = run_make(tmp_path, "PORT=8200")
    assert [line.split()[0] for line in calls] == ["http://127.0.0.1:8200"] * 3
    assert calls[-1].endswith("runserver 127.0.0.1:8200")
    assert run_make(tmp_path, "HOST=localhost", "PORT=8123")[-1].startswith("http://localhost:8123 ")


def test_portal_base_url_set_by_the_operator_wins(tmp_path):
    calls = run_make(tmp_path, "PORT=8200", env={"PORTAL_BASE_URL": "https://portal.example.com"})
    assert {line.split()[0] for line in calls} == {"https://portal.example.com"}
