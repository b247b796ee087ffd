"""Importing a retail customer's own records (customer.xsd): real feed shapes, all or nothing, repeatable."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from lxml import etree

from custodian.espi.namespaces import ATOM
from custodian.espi.parser import parse_small_document
from custodian.imports import customer_feed_import_with_records
from custodian.models import AuditEvent, CustomerRecord, UsagePoint
from tests import factories

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
RECORDS = SAMPLES / "customer" / "retail_customer_feed.xml"


def mixed_feed() -> bytes:
    """The OpenESPI usage fixture and the Batch/RetailCustomer feed in one file (what a full export holds)."""
    usage = parse_small_document((SAMPLES / "test_usage_data.xml").read_bytes())
    records = parse_small_document(RECORDS.read_bytes())
    for entry in records.iterfind(f"{{{ATOM}}}entry"):
        usage.append(copy.deepcopy(entry))
    return etree.tostring(usage, xml_declaration=True, encoding="UTF-8")


def test_a_batch_retail_customer_feed_imports_every_record_under_its_parent():
    customer = factories.make_customer()
    outcome = customer_feed_import_with_records(customer=customer, source=RECORDS)
    assert outcome.imported, outcome.rejected
    records = {record.kind: record for record in CustomerRecord.objects.filter(customer=customer)}
    assert set(records) == {"Customer", "CustomerAccount", "CustomerAgreement", "ServiceLocation", "Meter", "Statement"}
    assert records["Customer"].label == "Ana Ramos"
    assert records["CustomerAccount"].label == "0098765432-1"
    assert records["ServiceLocation"].label == "742 Evergreen Terrace, Springfield, 94105"
    assert records["Meter"].label == "1010187342"
    assert records["CustomerAccount"].parent == records["Customer"]
    assert records["CustomerAgreement"].parent == records["CustomerAccount"]
    assert records["ServiceLocation"].parent == records["CustomerAgreement"]
    assert records["Meter"].parent == records["ServiceLocation"]
    assert records["Statement"].parent == records["CustomerAccount"]
    assert outcome.records_result is not None and outcome.records_result.created == 6
    # The ServiceLocation names a usage point this customer does not have: a warning, nothing linked.
    assert any("5446AF3F" in line and "link it in the admin" in line for line in outcome.warnings())
    assert not records["ServiceLocation"].usage_points.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_RECORDS_IMPORTED, customer=customer).count() == 1


def test_a_mixed_file_links_the_service_location_to_the_usage_point_of_the_same_file():
    customer = factories.make_customer()
    outcome = customer_feed_import_with_records(customer=customer, source=mixed_feed())
    assert outcome.imported, outcome.rejected
    point = UsagePoint.objects.get(customer=customer)
    location = CustomerRecord.objects.get(customer=customer, kind="ServiceLocation")
    meter = CustomerRecord.objects.get(customer=customer, kind="Meter")
    assert list(location.usage_points.all()) == [point]
    assert list(meter.usage_points.all()) == [point]  # a Meter serves its ServiceLocation's usage points
    assert outcome.readings > 0


def test_importing_the_same_records_twice_changes_nothing_the_second_time():
    customer = factories.make_customer()
    customer_feed_import_with_records(customer=customer, source=RECORDS)
    before = list(CustomerRecord.objects.filter(customer=customer).values("id", "uuid", "parent_id", "content"))
    events = AuditEvent.objects.count()
    again = customer_feed_import_with_records(customer=customer, source=RECORDS)
    assert again.records_result is not None
    assert (again.records_result.created, again.records_result.updated, again.records_result.unchanged) == (0, 0, 6)
    assert list(CustomerRecord.objects.filter(customer=customer).values("id", "uuid", "parent_id", "content")) == before
    assert AuditEvent.objects.count() == events


def test_another_customers_record_id_is_a_conflict_and_nothing_is_imported():
    first, second = factories.make_customer(), factories.make_customer()
    customer_feed_import_with_records(customer=first, source=RECORDS)
    outcome = customer_feed_import_with_records(customer=second, source=RECORDS)
    assert not outcome.imported
    assert all("conflict" in line for line in outcome.rejected)
    assert not CustomerRecord.objects.filter(customer=second).exists()


def test_a_record_that_fails_the_schema_refuses_the_whole_file_with_its_line():
    customer = factories.make_customer()
    bad = RECORDS.read_bytes().replace(b"<cust:isPrePay>false</cust:isPrePay>", b"<cust:isPrePay>maybe</cust:isPrePay>")
    outcome = customer_feed_import_with_records(customer=customer, source=bad)
    assert not outcome.imported
    assert len(outcome.rejected) == 1 and "CustomerAgreement" in outcome.rejected[0] and "schema" in outcome.rejected[0]
    assert not CustomerRecord.objects.exists()


def test_the_import_command_imports_a_records_feed_and_reports_its_counts(capsys):
    customer = factories.make_customer(username="ana")
    call_command("import_greenbutton", str(RECORDS), customer="ana")
    out = capsys.readouterr().out
    assert "created 6, updated 0, unchanged 0" in out
    assert CustomerRecord.objects.filter(customer=customer).count() == 6
    call_command("import_greenbutton", str(RECORDS), customer="ana")
    assert "created 0, updated 0, unchanged 6" in capsys.readouterr().out


def test_the_import_command_refuses_a_broken_records_feed_and_says_which_entry(capsys, tmp_path):
    factories.make_customer(username="ana")
    bad = RECORDS.read_bytes().replace(b"1B5E4C7A-0005-4C1E-9C2B-6F4D2E1A0C05", b"1B5E4C7A-0004-4C1E-9C2B-6F4D2E1A0C04")
    path = tmp_path / "dup.xml"
    path.write_bytes(bad)
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_greenbutton", str(path), customer="ana")
    assert "duplicate" in capsys.readouterr().err
    assert not CustomerRecord.objects.exists()


def test_gbas_own_retail_customer_sample_needs_lenient_and_then_imports():
    """The OpenESPI anonymized Customer feed writes ``<cust:status>active</cust:status>``: invalid, wrapped in lenient."""
    customer = factories.make_customer()
    sample = SAMPLES / "Customer-Subscription-Feed-Anonymized.xml"
    strict = customer_feed_import_with_records(customer=customer, source=sample)
    assert not strict.imported and "schema" in strict.rejected[0]
    lenient = customer_feed_import_with_records(customer=customer, source=sample, lenient=True)
    assert lenient.imported, lenient.rejected
    assert any("status/value" in line for line in lenient.warnings())
    record = CustomerRecord.objects.get(customer=customer)
    assert (record.kind, record.label) == ("Customer", "123 Test Street, Test City, 12345-6789")
