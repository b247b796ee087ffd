"""Staff see submissions read-only, with the per-entry report and the raw payload to download."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from batch.models import Submission
from tests.batch.conftest import bulk_path, post, sample_feed

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(db):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-staff-123")
    client = Client()
    client.force_login(user)
    return client


def test_admin_shows_submission_report_and_serves_the_payload_to_staff_only(upload_world, staff_client):
    body = sample_feed(usage_point=upload_world.a2, salt="adm")  # not granted: every entry rejected
    post(bulk_path("1"), body, upload_world.tp_token)
    submission = Submission.objects.get()
    listing = staff_client.get("/admin/batch/submission/")
    assert listing.status_code == 200
    assert submission.public_id in listing.content.decode()
    page = staff_client.get(f"/admin/batch/submission/{submission.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "not_granted" in html and "IntervalBlock" in html
    assert 'name="_save"' not in html  # read-only
    download = staff_client.get(f"/admin/batch/submission/{submission.pk}/payload/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == body
    assert "attachment" in download["Content-Disposition"]
    # A customer login gets nothing.
    customer_client = Client()
    customer_client.force_login(upload_world.alice.user)
    assert customer_client.get(f"/admin/batch/submission/{submission.pk}/payload/").status_code == 302
    assert staff_client.post("/admin/batch/submission/add/").status_code == 403
