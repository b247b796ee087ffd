"""``manage.py seed_demo [--json PATH]``: demo customers, meter data, third parties and grants."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from grants.demo import DemoOptions, seed_demo


class Command(BaseCommand):
    help = "Create demo data (idempotent) and optionally write what was created as JSON for API scripts."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", dest="json_path", help="Write the demo description (logins, client ids, tokens) here."
        )
        parser.add_argument(
            "--days", type=int, default=7, help="Days of 15-minute readings per usage point (default 7)."
        )

    def handle(self, *args, json_path: str | None = None, days: int = 7, **options):
        if days < 1 or days > 400:
            self.stderr.write(self.style.ERROR("--days must be between 1 and 400."))
            raise SystemExit(2)
        verbosity = options.get("verbosity", 1)

        def progress(message: str) -> None:
            if verbosity >= 1:
                self.stdout.write(message)
                self.stdout.flush()

        description = seed_demo(options=DemoOptions(days=days), progress=progress)
        if json_path:
            Path(json_path).write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
            progress(f"Wrote {json_path} (it holds demo secrets: keep it out of version control).")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {len(description['customers'])} customers, {len(description['grants'])} grants. "
                f"Staff login: {description['staff']['username']} / {description['staff']['password']}"
            )
        )
