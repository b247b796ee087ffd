"""Round trip helpers: what an export says of each resource, Download My Data of everything, an empty portal."""

from __future__ import annotations

from datetime import date

from batch.downloads import DownloadRequest, download_xml_chunks
from custodian.espi.fingerprint import xml_fingerprint
from custodian.espi.parser import iter_entries
from custodian.models import LocalTimeParameters, ReadingType, UsagePoint
from custodian.readings import readings_pack
from grants.resource_uris import espi_resource_base


def download_my_data(customer) -> bytes:
    """Return the customer's Download My Data XML: every usage point, every day there can be data."""
    request = DownloadRequest(
        customer=customer,
        usage_points=list(UsagePoint.objects.filter(customer=customer).order_by("pk")),
        first_day=date(1970, 1, 2),
        last_day=date(2100, 1, 1),
        format="xml",
    )
    return b"".join(download_xml_chunks(request=request, base=espi_resource_base()))


def resources(feed: bytes) -> list[tuple]:
    """Return what a feed says of each resource, without our hrefs: kind, id, title, stamps, content, readings."""
    out = []
    for entry in iter_entries(feed, keep_block_xml=True):
        content = entry.content
        if entry.kind == "IntervalBlock":
            body = (content.start, content.duration, readings_pack(content.readings))
        else:
            body = xml_fingerprint(entry.content_xml)
        out.append((entry.kind, entry.uuid, entry.title, entry.published, entry.updated, body))
    return sorted(out, key=repr)


def wipe() -> None:
    """Leave the portal with no usage data (customers stay)."""
    UsagePoint.objects.all().delete()
    ReadingType.objects.all().delete()
    LocalTimeParameters.objects.all().delete()
