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
