"""One exception hierarchy for everything the ESPI reader refuses."""

from __future__ import annotations


class EspiError(Exception):
    """A feed the reader refuses: ``code`` says why, ``line``/``column`` say where (1-based, 0 if unknown).

    Codes: ``malformed``, ``forbidden_xml``, ``too_large``, ``too_deep``, ``not_atom_feed``, ``encoding``.
    """

    code = "malformed"

    def __init__(self, message: str, *, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line else ""
        return f"{self.code}: {self.message}{where}"


class MalformedXml(EspiError):
    code = "malformed"


class ForbiddenXml(EspiError):
    code = "forbidden_xml"


class TooLarge(EspiError):
    code = "too_large"


class TooDeep(EspiError):
    code = "too_deep"


class NotAtomFeed(EspiError):
    code = "not_atom_feed"


class BadEncoding(EspiError):
    code = "encoding"
