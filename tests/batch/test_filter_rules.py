"""One test (or more) per rule of PRODUCT "The batch POST filter", through HTTP, on both databases."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings

from batch import services
from batch.models import Submission
from batch.reports import report_json
from custodian.espi.parser import parse_small_document
from custodian.espi.validate import validate_document
from custodian.models import AuditEvent, IntervalBlock, MeterReading, ReadingType, UsageSummary
from custodian.selectors import audit_events_for_customer
from grants.models import Notification
from grants.services import grant_revoke
from tests.batch.conftest import (
    access_token,
    bulk_path,
    customer_path,
    lease_held_elsewhere,
    post,
    sample_feed,
    sample_uuid,
    snapshot,
    subscription_path,
)
from tests.readings import reading_rows, reading_value

pytestmark = pytest.mark.django_db

SAMPLE_MR = "F77FBF34-A09E-4EBC-9606-FF1A59A17CAE"
SAMPLE_RT = "3430B025-65D5-493A-BEC2-053603C91CD7"
SAMPLE_BLOCK = "FE9A61BB-6913-42D4-88BE-9634A218EF53"


def rows_by_kind(response) -> dict[str, set]:
    result: dict[str, set] = {}
    for row in response.json()["entries"]:
        result.setdefault(row["kind"], set()).add((row["status"], row["reason"]))
    return result


# ---- Rule 1: one hardened streaming parser, a byte cap, malformed bodies say where -----------------


def test_rule1_malformed_body_is_400_with_line_and_column_and_applies_nothing(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="m")[:-200]
    before = snapshot()
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 400
    data = response.json()
    assert data["error"] == "malformed"
    assert data["line"] > 1 and data["column"] >= 0
    assert snapshot() == before
    assert Submission.objects.get().outcome == Submission.Outcome.MALFORMED


@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        b'<!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
    ],
)
def test_rule1_doctype_and_entities_are_forbidden_xml(upload_world, prolog):
    body = sample_feed(usage_point=upload_world.a1, salt="d").replace(b"<feed ", prolog + b"<feed ", 1)
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 400
    assert response.json()["error"] == "forbidden_xml"
    assert not MeterReading.objects.exists()


def test_rule1_root_not_an_atom_feed_is_400(upload_world):
    response = post(
        bulk_path("1"), b'<?xml version="1.0"?><UsagePoint xmlns="http://naesb.org/espi"/>', upload_world.tp_token
    )
    assert response.status_code == 400
    assert response.json()["error"] == "not_atom_feed"


def test_rule1_nesting_beyond_the_limit_is_400(upload_world):
    deep = b"<a>" * 300 + b"</a>" * 300
    body = sample_feed(usage_point=upload_world.a1, salt="n").replace(
        b"<MeterReading xmlns", deep + b"<MeterReading xmlns", 1
    )
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 400
    assert not MeterReading.objects.exists()


def test_rule1_body_over_the_cap_is_413_before_it_is_read(upload_world, settings):
    settings.BATCH_MAX_BODY_BYTES = 1000
    body = sample_feed(usage_point=upload_world.a1, salt="c")
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    # Refused from the header alone: no submission, no spooled file.
    assert not Submission.objects.exists()
    assert not list(Path(settings.MEDIA_ROOT).glob("**/*.part"))


def test_rule1_missing_length_or_chunked_body_is_411(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="l")
    assert post(bulk_path("1"), body, upload_world.tp_token, CONTENT_LENGTH="").status_code == 411
    chunked = post(bulk_path("1"), body, upload_world.tp_token, HTTP_TRANSFER_ENCODING="chunked")
    assert chunked.status_code == 411
    assert chunked.json()["error"] == "length_required"
    assert not Submission.objects.exists()


def test_rule1_wrong_content_type_is_415(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="t")
    for content_type in ("application/json", "text/plain", "multipart/form-data; boundary=x"):
        response = post(bulk_path("1"), body, upload_world.tp_token, content_type=content_type)
        assert response.status_code == 415, content_type
    assert post(bulk_path("1"), body, upload_world.tp_token, content_type="application/xml").status_code == 200


@pytest.mark.parametrize("query", ["mode=lenient", "dry_run=yes", "mode=strict&mode=partial", "foo=1"])
def test_rule1_query_parameter_of_the_wrong_form_is_400(upload_world, query):
    body = sample_feed(usage_point=upload_world.a1, salt="q")
    response = post(f"{bulk_path('1')}?{query}", body, upload_world.tp_token)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_query"


# ---- Rule 2: the usage point comes from the UsagePoint/{id} segment, never from other segments ------


def test_rule2_granted_retail_customer_segment_with_another_customers_usage_point_is_rejected(upload_world):
    # The href names alice (who granted bulk 1) as RetailCustomer, but bob's usage point.
    body = sample_feed(usage_point=upload_world.b1, salt="r2", customer_segment=upload_world.alice.public_id)
    before = snapshot()
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 403
    assert {row["reason"] for row in response.json()["entries"]} == {"not_granted"}
    assert snapshot() == before


def test_rule2_granted_subscription_segment_with_another_customers_usage_point_is_rejected(upload_world):
    token = access_token(upload_world.grant_c)
    body = sample_feed(usage_point=upload_world.b1, salt="r2s").replace(
        b"RetailCustomer/9B6C7066", b"Subscription/" + upload_world.grant_c.subscription_id.encode()
    )
    before = snapshot()
    response = post(subscription_path(upload_world.grant_c), body, token)
    assert response.status_code == 403
    assert {row["reason"] for row in response.json()["entries"]} == {"not_granted"}
    assert snapshot() == before


def test_rule2_existing_resource_without_usage_point_segment_is_placed_where_it_lives(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="live")
    assert post(bulk_path("1"), body, upload_world.tp_token).status_code == 200
    assert (
        post(
            customer_path(upload_world.bob),
            sample_feed(usage_point=upload_world.b1, salt="bobs"),
            upload_world.custodian_token,
        ).status_code
        == 200
    )
    a1_block, b1_block = sample_uuid("live", SAMPLE_BLOCK), sample_uuid("bobs", SAMPLE_BLOCK)

    def bare_block(block_uuid, value):
        # An IntervalBlock whose hrefs name no usage point at all.
        return (
            b'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            b"<id>urn:uuid:00000000-0000-4000-8000-000000000001</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>"
            b"<entry><id>urn:uuid:" + str(block_uuid).encode() + b"</id>"
            b'<link rel="self" href="/espi/1_1/resource/IntervalBlock/x"/><link rel="up" href="/espi/1_1/resource/IntervalBlock"/>'
            b'<title/><content><IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>900</duration><start>1330578000</start></interval>'
            b"<IntervalReading><timePeriod><duration>900</duration><start>1330578000</start></timePeriod><value>"
            + value
            + b"</value></IntervalReading>"
            b"</IntervalBlock></content><published>2024-01-01T00:00:00Z</published><updated>2024-01-01T00:00:00Z</updated></entry></feed>"
        )

    own = post(bulk_path("1"), bare_block(a1_block, b"4242"), upload_world.tp_token)
    assert own.status_code == 200
    assert reading_value(IntervalBlock.objects.filter(uuid=a1_block), start=1330578000) == 4242
    foreign = post(bulk_path("1"), bare_block(b1_block, b"4242"), upload_world.tp_token)
    assert foreign.status_code == 403
    assert foreign.json()["entries"][0]["reason"] == "not_granted"
    assert reading_value(IntervalBlock.objects.filter(uuid=b1_block), start=1330578000) != 4242
    unknown = post(bulk_path("1"), bare_block("00000000-0000-4000-8000-0000000000ff", b"1"), upload_world.tp_token)
    assert unknown.json()["entries"][0]["reason"] == "invalid"


# ---- Rule 3: active grant of the caller, function blocks ---------------------------------------


def test_rule3_bulk_applies_granted_usage_points_and_rejects_the_rest(upload_world):
    granted = sample_feed(usage_point=upload_world.a1, salt="g")
    not_granted = sample_feed(usage_point=upload_world.a2, salt="ng")
    not_granted = not_granted.replace(b"ReadingType/07", b"ReadingType/08").replace(b"Parameters/01", b"Parameters/02")
    # Two feeds in one: the second feed's entries appended to the first.
    tail = not_granted.split(b"<entry>", 1)[1].rsplit(b"</feed>", 1)[0]
    body = granted.replace(b"</feed>", b"<entry>" + tail + b"</feed>")
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 200
    data = response.json()
    assert data["counts"]["received"] == 40
    assert data["counts"]["accepted"] + data["counts"]["rejected"] == 40
    assert {row["reason"] for row in data["entries"][20:]} == {"not_granted"}
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).count() == 14
    assert not IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a2).exists()


def test_rule3_bulk_one_token_cannot_write_into_bulk_ten(upload_world):
    body = sample_feed(usage_point=upload_world.b1, salt="b10")
    # The client token scoped BR=1 does not reach bulk 10 at all.
    assert post(bulk_path("10"), body, upload_world.tp_token).status_code == 404
    # Through bulk 1, bob's usage point (a member of bulk 10 only) is not granted.
    response = post(bulk_path("1"), body, upload_world.tp_any_bulk_token)
    assert response.status_code == 403
    assert {row["reason"] for row in response.json()["entries"]} == {"not_granted"}
    assert not MeterReading.objects.filter(usage_point=upload_world.b1).exists()
    # And bulk 1 is not a prefix of bulk 10 the other way round.
    assert (
        post(
            bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="b1"), upload_world.tp_any_bulk_token
        ).status_code
        == 200
    )


def test_rule3_function_blocks_cover_the_kind_or_scope(upload_world):
    token = access_token(upload_world.grant_c)  # FB 1, 3, 35: core only
    response = post(subscription_path(upload_world.grant_c), sample_feed(usage_point=upload_world.c1, salt="fb"), token)
    assert response.status_code == 200
    kinds = rows_by_kind(response)
    assert kinds["IntervalBlock"] == {("rejected", "scope")}
    assert kinds["ElectricPowerUsageSummary"] == {("rejected", "scope")}
    assert kinds["ElectricPowerQualitySummary"] == {("rejected", "scope")}
    assert kinds["MeterReading"] == {("accepted", None)}
    assert kinds["ReadingType"] == {("accepted", None)}
    assert kinds["LocalTimeParameters"] == {("accepted", None)}
    assert MeterReading.objects.filter(usage_point=upload_world.c1).count() == 1
    assert not IntervalBlock.objects.exists()
    assert not UsageSummary.objects.exists()


def test_rule3_revoked_grant_reaches_nothing(upload_world):
    grant_revoke(grant=upload_world.grant_a)
    response = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="rv"), upload_world.tp_token)
    assert response.status_code == 403
    assert not MeterReading.objects.exists()


def test_rule3_subscription_token_reaches_only_its_grant(upload_world):
    token = access_token(upload_world.grant_a)
    response = post(
        subscription_path(upload_world.grant_a), sample_feed(usage_point=upload_world.c1, salt="sub"), token
    )
    assert response.status_code == 403
    other = post(subscription_path(upload_world.grant_c), sample_feed(usage_point=upload_world.c1, salt="sub"), token)
    assert other.status_code == 404


def test_rule3_retail_customer_upload_reaches_that_customers_usage_points_only(upload_world):
    token = upload_world.custodian_token
    own = post(customer_path(upload_world.alice), sample_feed(usage_point=upload_world.a2, salt="own"), token)
    assert own.status_code == 200
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a2).count() == 14
    foreign = post(customer_path(upload_world.alice), sample_feed(usage_point=upload_world.b1, salt="for"), token)
    assert foreign.status_code == 403
    assert {row["reason"] for row in foreign.json()["entries"]} == {"not_granted"}
    assert not MeterReading.objects.filter(usage_point=upload_world.b1).exists()


def test_tokens_of_the_wrong_kind_are_403_and_missing_is_401(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="tk")
    access = access_token(upload_world.grant_a)
    assert post(bulk_path("1"), body, access).status_code == 403
    assert post(customer_path(upload_world.alice), body, upload_world.tp_token).status_code == 403
    assert post(subscription_path(upload_world.grant_a), body, upload_world.custodian_token).status_code == 403
    missing = post(bulk_path("1"), body, None)
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert not MeterReading.objects.exists()


def test_rule6_unknown_and_foreign_usage_points_give_the_same_answer(upload_world):
    foreign = post(bulk_path("1"), sample_feed(usage_point=upload_world.b1, salt="u"), upload_world.tp_token)
    unknown = post(
        bulk_path("1"),
        sample_feed(usage_point=upload_world.b1, salt="u", usage_point_ref="00000000deadbeef"),
        upload_world.tp_token,
    )
    assert foreign.status_code == unknown.status_code == 403

    def shape(response):
        data = response.json()
        return [(r["index"], r["kind"], r["status"], r["reason"]) for r in data["entries"]], data["reasons"]

    assert shape(foreign) == shape(unknown)


# ---- Rule 4: shared resources ------------------------------------------------------------------


def test_rule4_reading_type_used_by_another_customers_data_is_not_changed(upload_world):
    # The utility uploads bob's data with ReadingType 07 (uom 72 = Wh).
    assert (
        post(
            customer_path(upload_world.bob),
            sample_feed(usage_point=upload_world.b1, salt="bob"),
            upload_world.custodian_token,
        ).status_code
        == 200
    )
    shared = ReadingType.objects.get(uuid=sample_uuid("bob", SAMPLE_RT))
    before = (shared.uom, shared.content, shared.updated)
    # The Third Party uploads alice's data naming the same ReadingType id, with another unit.
    body = (
        sample_feed(usage_point=upload_world.a1, salt="alice")
        .replace(str(sample_uuid("alice", SAMPLE_RT)).encode(), str(shared.uuid).encode())
        .replace(b"<uom>72</uom>", b"<uom>169</uom>")
    )
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 200
    assert rows_by_kind(response)["ReadingType"] == {("rejected", "conflict")}
    shared.refresh_from_db()
    assert (shared.uom, shared.content, shared.updated) == before
    # alice's meter reading still links to the (unchanged) shared ReadingType.
    assert MeterReading.objects.get(usage_point=upload_world.a1).reading_type_id == shared.pk


def test_rule4_shared_resource_nobody_accepted_refers_to_is_rejected(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="lonely")
    head, rest = body.split(b"<entry>", 1)
    entries = [b"<entry>" + part for part in rest.split(b"<entry>")]
    reading_type = next(e for e in entries if b"<ReadingType" in e)
    lonely = head + reading_type.split(b"</feed>")[0] + b"</feed>"
    response = post(bulk_path("1"), lonely, upload_world.tp_token)
    assert response.status_code == 403
    assert response.json()["entries"][0]["reason"] == "not_granted"
    assert not ReadingType.objects.exists()


# ---- Rule 5: owners never change; duplicates ---------------------------------------------------


def test_rule5_id_living_under_another_customers_usage_point_is_rejected_and_unchanged(upload_world):
    assert (
        post(
            customer_path(upload_world.bob),
            sample_feed(usage_point=upload_world.b1, salt="same"),
            upload_world.custodian_token,
        ).status_code
        == 200
    )
    bobs = IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.b1)
    before = (snapshot()["blocks"], reading_rows(bobs))
    # The same resource ids, aimed at alice's granted usage point, with other values.
    body = sample_feed(usage_point=upload_world.a1, salt="same").replace(b"<value>", b"<value>9")
    response = post(bulk_path("1"), body, upload_world.tp_token)
    kinds = rows_by_kind(response)
    for kind in ("MeterReading", "IntervalBlock", "ElectricPowerUsageSummary", "ElectricPowerQualitySummary"):
        assert kinds[kind] == {("rejected", "conflict")}, kind
    assert (snapshot()["blocks"], reading_rows(bobs)) == before
    assert not IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).exists()


def test_rule5_same_id_twice_in_one_feed_is_a_duplicate(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="dup")
    block = body.split(b"<entry>")[5]  # the first IntervalBlock entry
    body = body.replace(b"</feed>", b"<entry>" + block.split(b"</feed>")[0] + b"</feed>")
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 200
    last = response.json()["entries"][-1]
    assert (last["kind"], last["status"], last["reason"]) == ("IntervalBlock", "rejected", "duplicate")
    assert IntervalBlock.objects.filter(uuid=sample_uuid("dup", SAMPLE_BLOCK)).count() == 1


# ---- Rule 6: machine-readable reasons ----------------------------------------------------------


def test_rule6_schema_errors_are_invalid_and_only_invalid_is_400(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="inv").replace(b"<value>", b"<value>x", 1)
    response = post(bulk_path("1"), body, upload_world.tp_token)
    assert response.status_code == 200
    rows = response.json()["entries"]
    assert rows[4]["reason"] == "invalid"
    only_invalid = sample_feed(usage_point=upload_world.a1, salt="inv2").replace(b"<kind>", b"<kind>x")
    only_invalid = (
        only_invalid.split(b"<entry>")[0]
        + b"<entry>"
        + only_invalid.split(b"<entry>")[1].split(b"</entry>")[0]
        + b"</entry></feed>"
    )
    response = post(bulk_path("1"), only_invalid, upload_world.tp_token)
    assert response.status_code == 400
    assert response.json()["entries"][0]["reason"] == "invalid"


def test_rule6_kinds_that_cannot_be_uploaded_are_unsupported(upload_world):
    authorization = (Path(settings.BASE_DIR) / "tests/samples/Authorization-Entry-Anonymized.xml").read_bytes()
    entry = authorization[authorization.index(b"<entry") :]
    entry = entry[: entry.rindex(b"</entry>") + len(b"</entry>")]
    body = sample_feed(usage_point=upload_world.a1, salt="uns").replace(b"</feed>", entry + b"</feed>")
    response = post(bulk_path("1"), body, upload_world.tp_token)
    last = response.json()["entries"][-1]
    assert (last["kind"], last["reason"]) == ("Authorization", "unsupported")


# ---- Rule 7: all or none, under the grant locks --------------------------------------------------


def test_rule7_failure_during_apply_leaves_nothing_and_marks_the_submission_failed(upload_world, caplog):
    def explode(*, stage, submission):
        if stage == "applied":
            raise RuntimeError("injected failure after the entries were written")

    services.apply_observers.append(explode)
    try:
        before = snapshot()
        response = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="boom"), upload_world.tp_token)
    finally:
        services.apply_observers.remove(explode)
    assert response.status_code == 500
    assert response.json()["error"] == "apply_failed"
    assert "injected" not in response.content.decode()
    assert snapshot() == before
    submission = Submission.objects.get()
    assert submission.outcome == Submission.Outcome.FAILED
    # The cause is logged for operators, without the token.
    logged = [r for r in caplog.records if r.name == "batch.services"]
    assert logged and submission.public_id in logged[0].getMessage()
    assert "injected failure" in logged[0].exc_text or "injected failure" in str(logged[0].exc_info[1])
    assert upload_world.tp_token not in caplog.text


def test_rule7_failed_submission_can_be_retried_with_the_same_key(upload_world):
    def explode(*, stage, submission):
        raise RuntimeError("injected")

    body = sample_feed(usage_point=upload_world.a1, salt="retry")
    services.apply_observers.append(explode)
    try:
        assert post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="k-retry").status_code == 500
    finally:
        services.apply_observers.remove(explode)
    retry = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="k-retry")
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert IntervalBlock.objects.filter(meter_reading__usage_point=upload_world.a1).count() == 14


def test_rule7_applied_data_enqueues_new_data_notifications_in_the_same_transaction(upload_world):
    upload_world.tp.notify_uri = "https://thirdparty.example/notify"
    upload_world.tp.save(update_fields=["notify_uri"])
    post(f"{bulk_path('1')}?dry_run=1", sample_feed(usage_point=upload_world.a1, salt="nt"), upload_world.tp_token)
    assert not Notification.objects.exists()
    assert (
        post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="nt"), upload_world.tp_token).status_code
        == 200
    )
    notice = Notification.objects.get()
    assert notice.third_party == upload_world.tp and notice.bulk_user == upload_world.bulk1
    assert notice.kind == Notification.Kind.NEW_DATA


def test_rule7_grant_revoked_before_the_batch_applies_gets_nothing(upload_world):
    def revoke(*, stage, submission):
        if stage == "planned":
            grant_revoke(grant=upload_world.grant_a)

    services.apply_observers.append(revoke)
    try:
        response = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="late"), upload_world.tp_token)
    finally:
        services.apply_observers.remove(revoke)
    assert response.status_code == 403
    assert {row["reason"] for row in response.json()["entries"]} == {"not_granted"}
    assert not MeterReading.objects.exists()


# ---- Rule 8: the report -------------------------------------------------------------------------


def test_rule8_json_report_counts_and_one_row_per_entry(upload_world):
    response = post(bulk_path("1"), sample_feed(usage_point=upload_world.a1, salt="rep"), upload_world.tp_token)
    data = response.json()
    assert response.status_code == 200
    assert data["counts"]["received"] == len(data["entries"]) == 20
    assert data["counts"]["accepted"] == 20 and data["counts"]["readings_written"] == 1340
    assert set(data["entries"][0]) == {"index", "id", "kind", "status", "reason", "change"}
    assert [row["index"] for row in data["entries"]] == list(range(20))


def test_rule8_atom_report_echoes_entries_with_batch_item_info(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="atom").replace(
        b"</feed>",
        sample_feed(usage_point=upload_world.a2, salt="atom2").split(b"<entry>", 1)[1].join([b"<entry>", b""]),
    )
    response = post(bulk_path("1"), body, upload_world.tp_token, HTTP_ACCEPT="application/atom+xml")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    document = b"".join(response.streaming_content)
    assert validate_document(document, strict_links=True) == []
    root = parse_small_document(document)
    ns = {"a": "http://www.w3.org/2005/Atom", "e": "http://naesb.org/espi"}
    codes = root.xpath("//e:batchItemInfo/e:statusCode/text()", namespaces=ns)
    reasons = root.xpath("//e:batchItemInfo/e:statusReason/text()", namespaces=ns)
    assert len(root.findall("a:entry", ns)) == 40
    assert codes.count("200") == 20 and codes.count("403") == 20
    assert set(reasons) == {"accepted", "not_granted"}


def test_rule8_strict_mode_applies_nothing_unless_every_entry_is_accepted(upload_world):
    token = access_token(upload_world.grant_c)
    before = snapshot()
    response = post(
        f"{subscription_path(upload_world.grant_c)}?mode=strict",
        sample_feed(usage_point=upload_world.c1, salt="st"),
        token,
    )
    assert response.status_code == 403
    assert response.json()["applied"] is False
    assert snapshot() == before
    ok = post(
        f"{bulk_path('1')}?mode=strict", sample_feed(usage_point=upload_world.a1, salt="st2"), upload_world.tp_token
    )
    assert ok.status_code == 200 and ok.json()["applied"] is True


def test_rule8_dry_run_reports_without_applying(upload_world):
    before = snapshot()
    response = post(
        f"{bulk_path('1')}?dry_run=1", sample_feed(usage_point=upload_world.a1, salt="dry"), upload_world.tp_token
    )
    assert response.status_code == 200
    data = response.json()
    assert data["outcome"] == "dry_run" and data["applied"] is False
    assert data["counts"]["accepted"] == 20
    assert snapshot() == before


# ---- Rule 9: the submission, its payload, Idempotency-Key -----------------------------------------


def test_rule9_submission_keeps_payload_report_and_audit(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="sub9")
    response = post(bulk_path("1"), body, upload_world.tp_token)
    submission = Submission.objects.get()
    assert response["X-Submission-Id"] == submission.public_id
    assert submission.payload.open("rb").read() == body
    assert submission.sha256 == hashlib.sha256(body).hexdigest() and submission.bytes == len(body)
    assert submission.caller == upload_world.tp and submission.token_kind == "client_access_token"
    assert (submission.target_kind, submission.target_id) == ("bulk", "1")
    # The stored report is the answer; its rows are kept beside the payload, one line each.
    assert submission.outcome == "applied" and report_json(submission, submission.report) == response.json()
    assert "entries" not in submission.report
    assert submission.finished_at is not None
    assert AuditEvent.objects.filter(action=AuditEvent.Action.BATCH_RECEIVED, object_id=submission.public_id).exists()
    history = audit_events_for_customer(customer=upload_world.alice)
    assert any(e.action == AuditEvent.Action.DATA_UPLOADED and e.actor_client == upload_world.tp for e in history)
    assert not [
        e for e in audit_events_for_customer(customer=upload_world.bob) if e.action == AuditEvent.Action.DATA_UPLOADED
    ]


def test_rule9_same_idempotency_key_and_body_replays_without_applying_twice(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="idem")
    first = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="key-1")
    readings = reading_rows()
    audits = AuditEvent.objects.count()
    second = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="key-1")
    assert second.status_code == first.status_code == 200
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1
    assert reading_rows() == readings and AuditEvent.objects.count() == audits


def test_rule9_same_idempotency_key_with_another_body_is_422(upload_world):
    post(
        bulk_path("1"),
        sample_feed(usage_point=upload_world.a1, salt="k"),
        upload_world.tp_token,
        HTTP_IDEMPOTENCY_KEY="key-2",
    )
    response = post(
        bulk_path("1"),
        sample_feed(usage_point=upload_world.a1, salt="k2"),
        upload_world.tp_token,
        HTTP_IDEMPOTENCY_KEY="key-2",
    )
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert not MeterReading.objects.filter(uuid=sample_uuid("k2", SAMPLE_MR)).exists()


def test_rule9_idempotency_key_still_in_progress_is_409(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="busy")
    busy = Submission.objects.create(
        caller=upload_world.tp,
        token_kind="client_access_token",
        target_kind="bulk",
        target_id="1",
        idempotency_key="key-3",
        sha256=hashlib.sha256(body).hexdigest(),
        bytes=len(body),
    )
    with lease_held_elsewhere(busy):  # its worker is alive and applying it
        response = post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="key-3")
    assert response.status_code == 409
    assert not MeterReading.objects.exists()


def test_rule9_idempotency_keys_are_per_caller(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="percaller")
    assert post(bulk_path("1"), body, upload_world.tp_token, HTTP_IDEMPOTENCY_KEY="same-key").status_code == 200
    token = upload_world.custodian_token
    response = post(customer_path(upload_world.alice), body, token, HTTP_IDEMPOTENCY_KEY="same-key")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response


# ---- Rule 10: ids kept, re-upload changes nothing -------------------------------------------------


def test_rule10_resources_keep_their_ids_and_a_second_upload_changes_nothing(upload_world):
    body = sample_feed(usage_point=upload_world.a1, salt="twice")
    assert post(bulk_path("1"), body, upload_world.tp_token).status_code == 200
    assert MeterReading.objects.get(uuid=sample_uuid("twice", SAMPLE_MR)).usage_point == upload_world.a1
    before = snapshot()
    again = post(bulk_path("1"), body, upload_world.tp_token)
    assert again.status_code == 200
    assert again.json()["counts"]["accepted"] == again.json()["counts"]["unchanged"] == 20
    assert snapshot() == before
