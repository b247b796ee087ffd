"""The one vocabulary of an entry's outcome, shared by the import and the batch POST filter (PRODUCT rule 6)."""

from __future__ import annotations

from enum import StrEnum

OK = "ok"  # an entry planned importable: no reason


class Reason(StrEnum):
    """Why an entry is rejected: the machine-readable reason a batch report shows."""

    NOT_GRANTED = "not_granted"  # unknown usage point, or not in an active grant of the caller (not told apart)
    SCOPE = "scope"  # the grant's function blocks do not cover the kind
    CONFLICT = "conflict"  # the id belongs to a resource elsewhere, or it would change data out of reach
    DUPLICATE = "duplicate"  # the same id earlier in the feed
    INVALID = "invalid"  # fails the ESPI schema or lacks the links to place it
    UNSUPPORTED = "unsupported"  # a kind that cannot be imported


class ImportFailed(Exception):
    """The feed as a whole cannot be imported (unreadable, or changed between plan and apply)."""


class Change(StrEnum):
    """What an accepted entry does to its resource (PRODUCT rule 10), as reports and import summaries count it."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # identical to what is stored: nothing is written
