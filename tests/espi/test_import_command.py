"""``manage.py import_greenbutton``: imports, reports progress, and names bad entries."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from custodian.models import IntervalBlock, UsagePoint
from tests.readings import reading_count, reading_rows

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.mark.django_db
def test_command_imports_a_file(customer):
    out = StringIO()
    call_command("import_greenbutton", str(SAMPLES / "test_usage_data.xml"), "--customer", "alice", stdout=out)
    assert "Imported 20 entries and 1340 readings" in out.getvalue()
    assert "planned: 20 entries, 1340 readings, 0.3 MB" in out.getvalue()
    blocks = IntervalBlock.objects.filter(meter_reading__usage_point__customer=customer)
    assert reading_count(blocks) == len(reading_rows(blocks)) == 1340


@pytest.mark.django_db
def test_command_names_the_bad_entry(customer):
    err = StringIO()
    with pytest.raises(CommandError, match="nothing imported: 1 of 3 entries"):
        call_command(
            "import_greenbutton",
            str(SAMPLES / "Usage-Subscription-Feed-Anonymized.xml"),
            "--customer",
            "alice",
            stderr=err,
            stdout=StringIO(),
        )
    assert (
        "entry #2 (urn:uuid:66666666-6666-6666-6666-666666666666, line 44, MeterReading): invalid: schema:"
        in err.getvalue()
    )
    assert not UsagePoint.objects.filter(customer=customer).exists()


@pytest.mark.django_db
def test_command_refuses_an_unknown_customer(db):
    with pytest.raises(CommandError, match="no retail customer"):
        call_command("import_greenbutton", str(SAMPLES / "test_usage_data.xml"), "--customer", "nobody")


@pytest.mark.django_db
def test_command_lenient_imports_a_real_utility_file_reporting_each_normalization(customer):
    path = str(SAMPLES / "BulkSCEIntervalBlock.xml")
    with pytest.raises(CommandError, match="try --lenient"):
        call_command("import_greenbutton", path, "--customer", "alice", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("import_greenbutton", path, "--customer", "alice", "--lenient", stdout=out)
    text = out.getvalue()
    assert "Imported 6 entries and 97 readings for alice" in text and "created 6, updated 0, unchanged 0" in text
    assert (
        "entry #2 (ReadingType, line 38): lenient: atom:id 'D6B30D32-4423-11E6-8F10-349C5700D07A' is a bare UUID"
        in text
    )
    # The same file again: the repeatable ids find what the first import stored, and nothing changes.
    again = StringIO()
    call_command("import_greenbutton", path, "--customer", "alice", "--lenient", stdout=again)
    assert "created 0, updated 0, unchanged 6" in again.getvalue()
