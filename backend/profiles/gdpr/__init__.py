"""GDPR requests about one person: erasure and access (the export of everything held), in
:mod:`backend.profiles.gdpr.service`; :func:`suppressed` tells whether identifiers belong to an
erased person."""

from backend.profiles.gdpr.service import Erasure, PersonData, erase_profile, export_person
from backend.profiles.suppressions import suppressed

__all__ = ["Erasure", "PersonData", "erase_profile", "export_person", "suppressed"]
