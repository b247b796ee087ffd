"""The staff groups: "Third Party manager" runs registrations and grants; "Auditor" reads everything, changes nothing.

``staff_groups_sync`` sets each group's permissions to exactly the lists here; ``migrate`` runs it
(post_migrate of this app, the last installed), and ``manage.py staff_groups`` runs it by hand.
No admin page shows a secret to anyone (client secrets are hashed, tokens masked), and the pages
that show a new secret once need the add or change permission, which auditors never get.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

THIRD_PARTY_MANAGER = "Third Party manager"
AUDITOR = "Auditor"

#: The apps whose models auditors read, and the models among them that are left out.
AUDITED_APPS = ("custodian", "grants", "batch", "oauth2_provider", "auth", "axes")
NOT_AUDITED = {("auth", "permission")}

#: (app_label, model, actions) a Third Party manager holds.
THIRD_PARTY_MANAGER_PERMISSIONS = (
    ("grants", "thirdparty", ("view", "add", "change")),
    ("grants", "bulkuser", ("view", "add", "change")),
    ("grants", "grant", ("view", "change")),
    ("grants", "notification", ("view", "change")),
    ("oauth2_provider", "accesstoken", ("view",)),
    ("oauth2_provider", "refreshtoken", ("view",)),
    ("custodian", "auditevent", ("view",)),
    ("batch", "submission", ("view",)),
)


def _auditor_codenames() -> list[tuple[str, str]]:
    wanted = []
    installed = {config.label for config in apps.get_app_configs()}
    for label in AUDITED_APPS:
        if label not in installed:
            continue
        for model in apps.get_app_config(label).get_models():
            meta = model._meta
            if (meta.app_label, meta.model_name) in NOT_AUDITED or meta.swapped:
                continue
            wanted.append((meta.app_label, f"view_{meta.model_name}"))
    return wanted


def _permissions(pairs: list[tuple[str, str]]) -> list[Permission]:
    found = []
    for app_label, codename in pairs:
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


@transaction.atomic
def staff_groups_sync() -> dict[str, int]:
    """Create or update the two staff groups with exactly their permissions; return how many each holds."""
    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0)
    manager_pairs = [
        (label, f"{action}_{model}") for label, model, actions in THIRD_PARTY_MANAGER_PERMISSIONS for action in actions
    ]
    result = {}
    for name, pairs in ((THIRD_PARTY_MANAGER, manager_pairs), (AUDITOR, _auditor_codenames())):
        group, _created = Group.objects.get_or_create(name=name)
        permissions = _permissions(pairs)
        group.permissions.set(permissions)
        result[name] = len(permissions)
    return result


def sync_after_migrate(sender, **kwargs) -> None:
    """post_migrate hook: keep the staff groups in step with the models after every migrate."""
    staff_groups_sync()
