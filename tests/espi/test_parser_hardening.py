"""The reader's safety options are fixed: loosening any of them fails these tests."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from custodian.espi import parser
from custodian.espi.errors import EspiError


def test_safe_options_are_exactly_these():
    assert dict(parser.SAFE_PARSER_OPTIONS) == {
        "resolve_entities": False,
        "no_network": True,
        "load_dtd": False,
        "dtd_validation": False,
        "huge_tree": False,
        "recover": False,
        "attribute_defaults": False,
        "remove_comments": True,
        "remove_pis": True,
        "collect_ids": False,
        "strip_cdata": True,
        "remove_blank_text": True,
    }


def test_cdata_is_read_as_part_of_its_text():
    # A reading's start split by a CDATA section is one number, never two readings' worth of columns.
    block = (
        "<IntervalBlock xmlns='http://naesb.org/espi'><interval><duration>86400</duration><start>0</start></interval>"
        "<IntervalReading><timePeriod><duration>9<![CDATA[00]]></duration><start>1<![CDATA[2]]></start></timePeriod>"
        "<value>5</value></IntervalReading><IntervalReading><value>6</value></IntervalReading></IntervalBlock>"
    )
    element = parser.parse_small_document(block.encode())
    assert element.xpath("*[2]/*[1]/*/text()") == ["900", "12"]


def test_the_factory_passes_the_safe_options_and_nothing_else():
    source = inspect.getsource(parser.make_pull_parser)
    assert "**SAFE_PARSER_OPTIONS" in source
    assert source.count("etree.XMLPullParser(") == 1
    assert "resolve_entities=True" not in inspect.getsource(parser)
    # The reader builds every parser through the factory.
    reader = inspect.getsource(parser.iter_entries)
    assert "etree.XMLPullParser" not in reader and reader.count("make_pull_parser(") == 2


def test_an_external_entity_is_never_read(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER-4711")
    payload = (
        f'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>urn:uuid:00000000-0000-0000-0000-000000000001</id>'
        "<title>&x;</title><content/></entry></feed>"
    ).encode()
    # Also the raw factory, used directly: the entity stays unexpanded.
    pull = parser.make_pull_parser(events=("end",))
    pull.feed(payload)
    root = pull.close()
    assert b"TOP-SECRET" not in parser.etree.tostring(root)
    with pytest.raises(EspiError) as info:
        list(parser.iter_entries(payload))
    assert info.value.code == "forbidden_xml"
    assert "TOP-SECRET" not in str(info.value)
