"""Meter values in the units customers read: kWh rather than Wh, therms rather than millitherms.

ESPI stores a reading as an integer ``value`` in ``uom`` times ``10 ** powerOfTenMultiplier``
(espi.xsd ReadingType). :func:`customer_unit` decides, once, which unit a reading type is shown in
and the factor to get there; the CSV download and the dashboard both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

# UnitSymbolKind codes customers meet, the unit they are shown in and its power of ten.
_CUSTOMER_UNITS: dict[int, tuple[str, int]] = {
    72: ("kWh", 3),  # Wh
    38: ("kW", 3),  # W
    73: ("kVArh", 3),
    71: ("kVAh", 3),
    169: ("therm", 0),
    42: ("m³", 0),
    128: ("ft³", 0),
    29: ("V", 0),
    5: ("A", 0),
}

# espi.xsd QualityOfReading.
QUALITY_WORDS = {
    0: _("valid"),
    7: _("edited by hand"),
    8: _("estimated from a similar day"),
    9: _("estimated by interpolation"),
    10: _("questionable"),
    11: _("calculated"),
    12: _("forecast"),
    13: _("mixed"),
    14: _("not yet validated"),
    15: _("normalized for weather"),
    16: _("other"),
    17: _("validated"),
    18: _("verified"),
    19: _("revenue quality"),
}


@dataclass(frozen=True)
class CustomerUnit:
    """The unit a reading type's values are shown in, and how to convert a stored integer to it."""

    label: str
    exponent: int  # shown value = stored value * 10 ** exponent

    def convert(self, value: int | None) -> Decimal | None:
        """Return a stored integer value in this unit, exactly (a Decimal, never a rounded float)."""
        if value is None:
            return None
        return Decimal(value).scaleb(self.exponent).normalize()


def customer_unit(*, uom: int | None, power_of_ten_multiplier: int | None) -> CustomerUnit:
    """Return the unit customers read for values of this unit of measure and multiplier."""
    multiplier = power_of_ten_multiplier or 0
    if uom in _CUSTOMER_UNITS:
        label, power = _CUSTOMER_UNITS[uom]
        return CustomerUnit(label=label, exponent=multiplier - power)
    return CustomerUnit(label=str(_("meter units")), exponent=multiplier)


def quality_words(code: int | None) -> str:
    """Return a reading quality code in words; no code means the reading was not flagged."""
    if code is None:
        return str(_("not flagged"))
    return str(QUALITY_WORDS.get(code, _("code %(code)s") % {"code": code}))
