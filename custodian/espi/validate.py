"""Offline XSD validation of ESPI entries, one entry at a time.

Schemas ship in ``custodian/espi/xsd`` (provenance and licences in its ``SOURCES.md``; setting ``ESPI_XSD_DIR`` or env var of the same name overrides).
``atom.xsd`` imports the W3C ``xml.xsd`` by https URL; a resolver maps it to the local copy, so
nothing is ever fetched. ``strict_links=True`` swaps in ``atom-linktype-required.xsd`` (every
``link`` needs ``type``), which is what our own exports must satisfy.

Modes of :class:`EntryValidator`:

* strict (default): the whole entry, envelope and content, against Atom (link@type optional) + ESPI;
* ``strict_links``: the same with the strict Atom variant (our exports);
* lenient (``lenient=True`` at validate time, used for imports of old files): only the ESPI content
  element is validated, after the reader's normalisations (2013 ``ServiceDeliveryPoint`` renamed).
  Envelope deviations seen in real files (date-only ``atom:updated``, links without ``type``, entries
  with a single link) are tolerated; what the import needs from the envelope (a ``urn:uuid`` id and
  hrefs to place the entry) is checked in code instead.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from custodian.espi.namespaces import ATOM, CUSTOMER, ESPI
from custodian.espi.parser import SAFE_PARSER_OPTIONS, parse_small_document

_MAX_ERRORS = 5


def xsd_dir() -> Path:
    """Return the directory holding espi.xsd, atom.xsd, customer.xsd and xml.xsd."""
    configured = os.environ.get("ESPI_XSD_DIR")
    if not configured:
        try:
            from django.conf import settings

            configured = getattr(settings, "ESPI_XSD_DIR", None)
        except Exception:  # noqa: BLE001 - outside Django the default applies
            configured = None
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "xsd"


class _LocalResolver(etree.Resolver):
    """Resolve schema imports to local files only; anything unknown is refused."""

    def __init__(self, directory: Path, *, strict_links: bool) -> None:
        super().__init__()
        self.directory = directory
        self.atom = "atom-linktype-required.xsd" if strict_links else "atom.xsd"

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        name = system_url.rstrip("/").rsplit("/", 1)[-1]
        if name == "atom.xsd":
            name = self.atom
        path = self.directory / name
        if name not in {"xml.xsd", "atom.xsd", "atom-linktype-required.xsd", "espi.xsd", "customer.xsd"}:
            raise etree.XMLSchemaParseError(f"refusing to load schema {system_url!r}")
        return self.resolve_filename(str(path), context)


_WRAPPER = f"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x-portal:wrapper">
  <xs:import namespace="{ATOM}" schemaLocation="atom.xsd"/>
  <xs:import namespace="{ESPI}" schemaLocation="espi.xsd"/>
  <xs:import namespace="{CUSTOMER}" schemaLocation="customer.xsd"/>
</xs:schema>
"""


@lru_cache(maxsize=2)
def load_schema(*, strict_links: bool = False) -> Any:
    """Return the combined Atom + ESPI + customer schema (cached; built offline)."""
    directory = xsd_dir()
    parser = etree.XMLParser(**SAFE_PARSER_OPTIONS)
    parser.resolvers.add(_LocalResolver(directory, strict_links=strict_links))
    doc = etree.fromstring(_WRAPPER.encode(), parser, base_url=str(directory / "wrapper.xsd")).getroottree()
    return etree.XMLSchema(doc)


def _errors(schema: Any) -> list[str]:
    return [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:_MAX_ERRORS]]


class EntryValidator:
    """Validate entries while the reader holds them (pass it to ``iter_entries(validator=...)``)."""

    def __init__(self, *, strict_links: bool = False) -> None:
        self.schema = load_schema(strict_links=strict_links)

    def validate(self, entry_element: Any, content_element: Any, *, lenient: bool) -> list[str]:
        """Return the schema errors of one entry (empty if valid)."""
        target = content_element if lenient else entry_element
        if target is None:
            return ["the entry has no content element"]
        if self.schema.validate(target):
            return []
        return _errors(self.schema)


def validate_document(data: bytes, *, strict_links: bool = True) -> list[str]:
    """Validate a whole small document (a feed we exported, a single entry); return its errors."""
    root = parse_small_document(data)
    schema = load_schema(strict_links=strict_links)
    if schema.validate(root):
        return []
    return _errors(schema)
