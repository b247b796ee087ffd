"""Write a realistic bulk Green Button feed to a file, streaming: N usage points x D days of 15-minute readings.

Shaped like the real samples (indented, cost + quality + timePeriod + value): about 250 bytes per reading.
``python -m bench.gen OUT --usage-points N --days D``
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

ATOM = "http://www.w3.org/2005/Atom"
BASE = "/espi/1_1/resource"
START = 1_672_531_200  # 2023-01-01T00:00:00Z
STAMP = "2023-01-01T00:00:00Z"


def _id(*parts: object) -> str:
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts)))).upper()


def _entry(atom_id: str, links: list[tuple[str, str, str]], title: str, content: str) -> str:
    link_xml = "".join(f'\t\t<link rel="{r}" type="{t}" href="{h}"/>\n' for r, t, h in links)
    return (
        f"\t<entry>\n\t\t<id>{atom_id}</id>\n{link_xml}\t\t<title>{title}</title>\n\t\t<content>\n{content}"
        f"\t\t</content>\n\t\t<published>{STAMP}</published>\n\t\t<updated>{STAMP}</updated>\n\t</entry>\n"
    )


def _block(up: int, day: int, rng_seed: int) -> str:
    start = START + day * 86400
    parts = [
        '\t\t\t<IntervalBlock xmlns="http://naesb.org/espi">\n',
        f"\t\t\t\t<interval>\n\t\t\t\t\t<duration>86400</duration>\n\t\t\t\t\t<start>{start}</start>\n\t\t\t\t</interval>\n",
    ]
    value = 200 + (rng_seed % 97)
    for i in range(96):
        value = (value * 1103515245 + 12345 + i) % 2000 + 50
        parts.append(
            "\t\t\t\t<IntervalReading>\n"
            f"\t\t\t\t\t<cost>{value * 13}</cost>\n"
            "\t\t\t\t\t<ReadingQuality>\n\t\t\t\t\t\t<quality>0</quality>\n\t\t\t\t\t</ReadingQuality>\n"
            f"\t\t\t\t\t<timePeriod>\n\t\t\t\t\t\t<duration>900</duration>\n\t\t\t\t\t\t<start>{start + i * 900}</start>\n"
            f"\t\t\t\t\t</timePeriod>\n\t\t\t\t\t<value>{value}</value>\n\t\t\t\t</IntervalReading>\n"
        )
    parts.append("\t\t\t</IntervalBlock>\n")
    return "".join(parts)


def write_feed(
    path: Path,
    *,
    usage_points: int = 0,
    days: int,
    tag: str = "bench",
    points: list[tuple[str, str]] | None = None,
    scope: str | None = None,
) -> int:
    """Write the feed to ``path`` without holding it in memory; return the number of readings.

    ``points`` names existing usage points as (URL id, uuid) pairs, placed under ``scope`` (e.g.
    ``Batch/Bulk/1``), for uploads; otherwise ``usage_points`` new ones are made up under a
    ``Subscription/{tag}`` path.
    """
    sub = scope or f"Subscription/{tag}"
    chosen = points if points is not None else [(f"up{n}", _id(tag, "up", n)[9:]) for n in range(usage_points)]
    with open(path, "w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="{ATOM}">\n')
        out.write(f"\t<id>{_id(tag, 'feed')}</id>\n\t<title>Bulk</title>\n\t<updated>{STAMP}</updated>\n")
        self_href = f"{BASE}/{sub}" if scope else f"{BASE}/Batch/{sub}"
        out.write(f'\t<link rel="self" type="espi-feed/UsagePoint" href="{self_href}"/>\n')
        out.write(
            _entry(
                _id(tag, "rt"),
                [
                    ("self", "espi-entry/ReadingType", f"{BASE}/ReadingType/rt1"),
                    ("up", "espi-feed/ReadingType", f"{BASE}/ReadingType"),
                ],
                "15 minute Wh",
                '\t\t\t<ReadingType xmlns="http://naesb.org/espi">\n\t\t\t\t<accumulationBehaviour>4</accumulationBehaviour>\n'
                "\t\t\t\t<commodity>1</commodity>\n\t\t\t\t<currency>840</currency>\n\t\t\t\t<flowDirection>1</flowDirection>\n"
                "\t\t\t\t<intervalLength>900</intervalLength>\n\t\t\t\t<kind>12</kind>\n\t\t\t\t<powerOfTenMultiplier>0</powerOfTenMultiplier>\n"
                "\t\t\t\t<uom>72</uom>\n\t\t\t</ReadingType>\n",
            )
        )
        for up, (url_id, up_uuid) in enumerate(chosen):
            up_href = f"{BASE}/{sub}/UsagePoint/{url_id}"
            out.write(
                _entry(
                    "urn:uuid:" + str(up_uuid).upper(),
                    [
                        ("self", "espi-entry/UsagePoint", up_href),
                        ("up", "espi-feed/UsagePoint", f"{BASE}/{sub}/UsagePoint"),
                        ("related", "espi-feed/MeterReading", f"{up_href}/MeterReading"),
                    ],
                    f"Meter {up}",
                    '\t\t\t<UsagePoint xmlns="http://naesb.org/espi">\n\t\t\t\t<ServiceCategory>\n\t\t\t\t\t<kind>0</kind>\n'
                    "\t\t\t\t</ServiceCategory>\n\t\t\t\t<status>1</status>\n\t\t\t</UsagePoint>\n",
                )
            )
            mr_href = f"{up_href}/MeterReading/mr1"
            out.write(
                _entry(
                    _id(tag, "mr", up),
                    [
                        ("self", "espi-entry/MeterReading", mr_href),
                        ("up", "espi-feed/MeterReading", f"{up_href}/MeterReading"),
                        ("related", "espi-feed/IntervalBlock", f"{mr_href}/IntervalBlock"),
                        ("related", "espi-entry/ReadingType", f"{BASE}/ReadingType/rt1"),
                    ],
                    "Consumption",
                    '\t\t\t<MeterReading xmlns="http://naesb.org/espi"/>\n',
                )
            )
            for day in range(days):
                out.write(
                    _entry(
                        _id(tag, "ib", up, day),
                        [
                            ("self", "espi-entry/IntervalBlock", f"{mr_href}/IntervalBlock/d{day}"),
                            ("up", "espi-feed/IntervalBlock", f"{mr_href}/IntervalBlock"),
                        ],
                        "",
                        _block(up, day, up * 1000 + day),
                    )
                )
        out.write("</feed>\n")
    return len(chosen) * days * 96


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("out", type=Path)
    args.add_argument("--usage-points", type=int, default=10)
    args.add_argument("--days", type=int, default=30)
    ns = args.parse_args()
    readings = write_feed(ns.out, usage_points=ns.usage_points, days=ns.days)
    size = ns.out.stat().st_size
    print(f"{ns.out}: {size / 1e6:.1f} MB, {readings} readings, {size / readings:.0f} bytes/reading")


if __name__ == "__main__":
    main()
