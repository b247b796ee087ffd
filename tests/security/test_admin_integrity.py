"""Staff edits through the admin never move data between owners, turn a Third Party into a back-office
client, or rename a Bulk ID that scopes were issued under."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.test import Client
from django.urls import reverse

from custodian.models import UsagePoint
from grants.models import BulkUser, ThirdParty
from tests import factories

pytestmark = pytest.mark.django_db


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _value(value):
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _form_fields(form, data: dict) -> None:
    for name in form.fields:
        value = form[name].value()
        if value is False:
            continue
        data[form.add_prefix(name)] = [_value(v) for v in value] if isinstance(value, list) else _value(value)


def change_form_data(page) -> dict:
    """Return the change form as the browser would POST it back: every editable field and inline."""
    data: dict = {}
    _form_fields(page.context["adminform"].form, data)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        _form_fields(formset.management_form, data)
        for form in formset.forms:
            _form_fields(form, data)
    return data


def test_usage_point_cannot_be_given_to_another_customer(admin_client, customer, other_customer, usage_point, grant):
    page = admin_client.get(change_url(usage_point))
    assert page.status_code == 200
    data = change_form_data(page)
    data["customer"] = str(other_customer.pk)
    data["title"] = "Home, renamed"
    response = admin_client.post(change_url(usage_point), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    usage_point.refresh_from_db()
    assert usage_point.title == "Home, renamed"  # the edit went through...
    assert usage_point.customer_id == customer.pk  # ...but the owner did not change
    assert not UsagePoint.objects.filter(customer=other_customer).exists()


def test_third_party_role_cannot_be_changed_to_back_office(admin_client, third_party):
    page = admin_client.get(change_url(third_party))
    assert page.status_code == 200
    data = change_form_data(page)
    data["role"] = ThirdParty.Role.CUSTODIAN
    data["name"] = "Solar Co (renamed)"
    response = admin_client.post(change_url(third_party), data)
    assert response.status_code == 302
    third_party.refresh_from_db()
    assert third_party.name == "Solar Co (renamed)"
    assert third_party.role == ThirdParty.Role.THIRD_PARTY


def test_bulk_id_cannot_be_renamed_or_added_from_the_third_party_page(admin_client, third_party, bulk_user):
    page = admin_client.get(change_url(third_party))
    data = change_form_data(page)
    data["bulk_users-0-id"] = str(bulk_user.pk)
    data["bulk_users-0-third_party"] = str(third_party.pk)
    data["bulk_users-0-bulk_id"] = "10"
    data.update({"bulk_users-TOTAL_FORMS": "2", "bulk_users-1-bulk_id": "99", "bulk_users-1-name": "Sneaky"})
    response = admin_client.post(change_url(third_party), data)
    assert response.status_code == 302
    assert list(BulkUser.objects.values_list("bulk_id", flat=True)) == ["1"]


def test_a_new_usage_point_still_gets_its_customer(admin_client, customer):
    """Read-only applies to existing usage points only; the add form still asks whose it is."""
    page = admin_client.get(reverse("admin:custodian_usagepoint_add"))
    assert "customer" in page.context["adminform"].form.fields
    factories.make_usage_point(customer=customer)


@pytest.mark.parametrize("object_id", ["abc", "1abc", "-1", "1.0", "%C3%A9", "9" * 40])
def test_import_page_with_a_malformed_customer_id_is_404(admin_user, customer, object_id):
    staff = Client(raise_request_exception=False)
    staff.force_login(admin_user)
    response = staff.get(f"/admin/custodian/retailcustomer/{object_id}/import/")
    assert response.status_code == 404
    assert b"Server Error" not in response.content
    assert staff.get(f"/admin/custodian/retailcustomer/{customer.pk}/import/").status_code == 200
