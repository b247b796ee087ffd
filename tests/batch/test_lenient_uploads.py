"""Lenient uploads, per client: real files' deviations are normalized and reported; security is the same."""

from __future__ import annotations

import re

from custodian.models import AuditEvent, IntervalBlock, MeterReading
from grants.services import third_party_set_lenient_uploads
from tests.batch.conftest import bulk_path, post, sample_feed, sample_uuid, snapshot

SAMPLE_MR = "F77FBF34-A09E-4EBC-9606-FF1A59A17CAE"


def bare_ids(feed: bytes) -> bytes:
    """Return the feed with PG&E/SCE-style ids: bare upper-case UUIDs, no ``urn:uuid:``."""
    return re.sub(rb"<id>urn:uuid:([0-9A-Fa-f-]{36})</id>", lambda m: b"<id>" + m.group(1).upper() + b"</id>", feed)


def lenient(third_party, on: bool = True) -> None:
    third_party_set_lenient_uploads(third_party=third_party, lenient=on)


def test_staff_set_lenient_uploads_per_client_in_the_admin(upload_world, admin_client):
    page = admin_client.get(f"/admin/grants/thirdparty/{upload_world.tp.pk}/change/")
    assert page.status_code == 200 and b'name="lenient_uploads"' in page.content
    assert not upload_world.tp.lenient_uploads  # strict is the default
    lenient(upload_world.tp)
    event = AuditEvent.objects.filter(action=AuditEvent.Action.THIRD_PARTY_UPDATED).latest("created_at")
    assert event.detail == {"fields": ["lenient_uploads"], "lenient_uploads": True}


def test_strict_is_the_default_and_refuses_bare_ids(upload_world):
    body = bare_ids(sample_feed(usage_point=upload_world.a1, salt="bare"))
    before = snapshot()
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 400
    assert {row["reason"] for row in response.json()["entries"]} == {"invalid"}
    assert snapshot() == before


def test_a_lenient_client_gets_bare_ids_read_and_each_one_reported(upload_world):
    lenient(upload_world.tp)
    body = bare_ids(sample_feed(usage_point=upload_world.a1, salt="bare"))
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 200, response.json()
    report = response.json()
    # Every resource is new but the usage point, which the utility made: it gets the file's content.
    assert (report["counts"]["accepted"], report["counts"]["created"], report["counts"]["updated"]) == (20, 19, 1)
    warned = [row for row in report["entries"] if any("bare UUID" in w for w in row.get("warnings", ()))]
    assert len(warned) == 20
    # The ids are the ones the file meant: the same resources as the urn:uuid form of the same feed.
    assert MeterReading.objects.get(uuid=sample_uuid("bare", SAMPLE_MR)).usage_point == upload_world.a1
    # Uploaded again (strict or lenient, urn or bare), nothing changes.
    before = snapshot()
    lenient(upload_world.tp, on=False)
    again = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="bare"), upload_world.tp_token)
    assert again.status_code == 200
    assert again.json()["counts"]["unchanged"] == 20
    assert snapshot() == before


def test_hrefs_of_another_host_never_place_an_entry_under_a_usage_point_not_granted(upload_world):
    lenient(upload_world.tp)
    # bob's usage point b1 is in bulk 10, not in bulk 1: named by an absolute href of another host.
    body = sample_feed(usage_point=upload_world.b1, salt="elsewhere")
    body = body.replace(b'href="/espi/1_1/resource/', b'href="https://other-custodian.example/espi/1_1/resource/')
    before = snapshot()
    response = post(bulk_path("1"), bare_ids(body), upload_world.tp_token)
    assert response.status_code == 403
    rows = response.json()["entries"]
    assert {row["reason"] for row in rows} == {"not_granted"}
    assert snapshot() == before
    assert not IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.b1).exists()
