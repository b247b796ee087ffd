"""The Retail Customer resources of ESPI 4.0 ``customer.xsd`` (namespace ``http://naesb.org/espi/customer``).

Pure code, no ORM. The portal stores each resource's content element as it was imported (it is
schema-validated on the way in) and reads a few fields out of it for staff (a label) and for
linking (the ``UsagePoints`` of a ServiceLocation). On the way out the UsagePoint references are
rewritten to the reader's own hrefs (FB_58: the absolute https href of the UsagePoint's self link).

The kinds form one tree, which is also the shape of their ESPI paths::

    RetailCustomer/{id}/Customer/{id}/CustomerAccount/{id}/CustomerAgreement/{id}/ServiceLocation/{id}/Meter/{id}
                                                         /Statement/{id}        /ServiceSupplier/{id}  /EndDevice/{id}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree

from custodian.espi.namespaces import CUSTOMER
from custodian.espi.parser import parse_small_document

# Each kind and the kind it sits under in the tree (None: directly under the RetailCustomer).
PARENT_KIND: dict[str, str | None] = {
    "Customer": None,
    "CustomerAccount": "Customer",
    "CustomerAgreement": "CustomerAccount",
    "Statement": "CustomerAccount",
    "ServiceLocation": "CustomerAgreement",
    "ServiceSupplier": "CustomerAgreement",
    "Meter": "ServiceLocation",
    "EndDevice": "ServiceLocation",
}
RECORD_KINDS = frozenset(PARENT_KIND)

# Kinds that sit at one place of the customer's premises: linked to usage points, served only with them.
PREMISES_KINDS = frozenset({"ServiceLocation", "Meter", "EndDevice"})

# What a customer shares, in two separate choices (PRODUCT: never implied by usage consent).
NAME_AND_ADDRESS = "name_address"
ACCOUNT_AND_BILLING = "account_billing"
RECORD_CATEGORIES: dict[str, frozenset[str]] = {
    NAME_AND_ADDRESS: frozenset({"Customer", "ServiceLocation", "Meter", "EndDevice"}),
    ACCOUNT_AND_BILLING: frozenset({"CustomerAccount", "CustomerAgreement", "Statement", "ServiceSupplier"}),
}


def record_category(kind: str) -> str:
    """Return which of the two customer choices carries a kind of record."""
    return next(key for key, kinds in RECORD_CATEGORIES.items() if kind in kinds)


def kinds_shared(categories: Iterable[str]) -> frozenset[str]:
    """Return the record kinds these categories share."""
    return frozenset().union(*(RECORD_CATEGORIES[key] for key in categories if key in RECORD_CATEGORIES))


def ancestry(kind: str) -> list[str]:
    """Return the kinds above ``kind``, top first (``Meter`` -> Customer, CustomerAccount, CustomerAgreement, ServiceLocation)."""
    chain: list[str] = []
    parent = PARENT_KIND.get(kind)
    while parent is not None:
        chain.insert(0, parent)
        parent = PARENT_KIND[parent]
    return chain


def _q(name: str) -> str:
    return f"{{{CUSTOMER}}}{name}"


def _text(element: Any, *path: str) -> str:
    node = element
    for name in path:
        node = node.find(_q(name)) if node is not None else None
    return (node.text or "").strip() if node is not None and node.text else ""


def _address(address: Any) -> str:
    """Return a street address element as one line ("123 Main St, Springfield, 12345")."""
    if address is None:
        return ""
    street = " ".join(
        part
        for part in (
            _text(address, "streetDetail", "number"),
            _text(address, "streetDetail", "name"),
            _text(address, "streetDetail", "addressGeneral"),
            _text(address, "streetDetail", "suiteNumber"),
        )
        if part
    )
    town = _text(address, "townDetail", "name")
    postal = _text(address, "postalCode")
    return ", ".join(part for part in (street, town, postal) if part)


def record_label(kind: str, element: Any) -> str:
    """Return what staff recognise a record by: a name, a number or an address (may be empty)."""
    if kind == "Customer":
        organisation = element.find(_q("Organisation"))
        return (
            _text(element, "customerName")
            or _text(organisation, "organisationName")
            or _address(organisation.find(_q("streetAddress")) if organisation is not None else None)
        )
    if kind == "CustomerAccount":
        return _text(element, "accountId") or _text(element, "name")
    if kind in {"CustomerAgreement", "Statement", "ServiceSupplier"}:
        return _text(element, "name") or _text(element, "agreementId") or _text(element, "issuerIdentificationNumber")
    if kind == "ServiceLocation":
        return _address(element.find(_q("mainAddress"))) or _text(element, "name")
    if kind in {"Meter", "EndDevice"}:
        return _text(element, "serialNumber") or _text(element, "name")
    return ""


def usage_point_hrefs(element: Any) -> list[str]:
    """Return the UsagePoint references of a ServiceLocation (``UsagePoints/UsagePoint``), in order."""
    return [
        (node.text or "").strip()
        for points in element.iterfind(_q("UsagePoints"))
        for node in points.iterfind(_q("UsagePoint"))
        if (node.text or "").strip()
    ]


def content_with_usage_point_hrefs(content: bytes, hrefs: list[str]) -> bytes:
    """Return a stored ServiceLocation with exactly these UsagePoint references, in place of those it had.

    Used on the way out: a ServiceLocation names usage points by the reader's own hrefs (FB_58),
    never one the reader may not see, whatever the file it was imported from said.
    """
    root = parse_small_document(content)
    old = root.findall(_q("UsagePoints"))
    position = list(root).index(old[0]) if old else None
    for points in old:
        root.remove(points)
    if hrefs:
        points = etree.Element(_q("UsagePoints"))
        for href in hrefs:
            etree.SubElement(points, _q("UsagePoint")).text = href
        if position is None:
            outage = root.find(_q("outageBlock"))
            position = list(root).index(outage) if outage is not None else len(root)
        root.insert(position, points)
    return etree.tostring(root, with_tail=False)
