"""``manage.py staff_groups``: create or update the "Third Party manager" and "Auditor" groups (migrate runs it too)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from batch.staff_groups import staff_groups_sync


class Command(BaseCommand):
    help = 'Create or update the staff groups "Third Party manager" and "Auditor" with exactly their permissions.'

    def handle(self, *args, **options):
        for name, count in staff_groups_sync().items():
            self.stdout.write(f"{name}: {count} permissions")
