"""XML namespaces of Atom and ESPI."""

from __future__ import annotations

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
CUSTOMER = "http://naesb.org/espi/customer"
