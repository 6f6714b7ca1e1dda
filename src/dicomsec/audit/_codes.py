"""The coded values of DICOM audit messages (PS3.15 A.5, PS3.16 CID 400-405) and the RFC 3881
numbers they use, in one place.

Code meanings are those of PS3.16 (pydicom 3 ships the same ``CID400``..``CID405`` tables;
they are copied here so that building a message imports nothing heavy). Every code is in the
``DCM`` coding scheme unless it is one of the RFC 3881 numbers below.

Low-level tables; :mod:`dicomsec.audit.messages` is the API.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACTIVITY", "DCM", "DCM_SYSTEM", "EVENT_IDS", "EVENT_TYPES", "MEDIA_TYPES",
           "OBJECT_ID_TYPES", "RFC3881", "RFC3881_ID_TYPES", "ROLES", "meaning"]

#: codeSystemName of DICOM codes (FHIR system below)
DCM: Final = "DCM"
DCM_SYSTEM: Final = "http://dicom.nema.org/resources/ontology/DCM"
#: codeSystemName of the RFC 3881 numeric ParticipantObjectIDTypeCodes
RFC3881: Final = "RFC-3881"

#: EventID, CID 400 Audit Event ID
EVENT_IDS: Final[dict[str, str]] = {
    "110100": "Application Activity",
    "110101": "Audit Log Used",
    "110102": "Begin Transferring DICOM Instances",
    "110103": "DICOM Instances Accessed",
    "110104": "DICOM Instances Transferred",
    "110105": "DICOM Study Deleted",
    "110106": "Export",
    "110107": "Import",
    "110108": "Network Entry",
    "110109": "Order Record",
    "110110": "Patient Record",
    "110111": "Procedure Record",
    "110112": "Query",
    "110113": "Security Alert",
    "110114": "User Authentication",
}

#: EventTypeCode, CID 401 Audit Event Type Code and CID 403 Security Alert Type Code
EVENT_TYPES: Final[dict[str, str]] = {
    "110120": "Application Start",
    "110121": "Application Stop",
    "110122": "Login",
    "110123": "Logout",
    "110124": "Attach",
    "110125": "Detach",
    "110126": "Node Authentication",
    "110127": "Emergency Override Started",
    "110128": "Network Configuration",
    "110129": "Security Configuration",
    "110130": "Hardware Configuration",
    "110131": "Software Configuration",
    "110132": "Use of Restricted Function",
    "110133": "Audit Recording Stopped",
    "110134": "Audit Recording Started",
    "110135": "Object Security Attributes Changed",
    "110136": "Security Roles Changed",
    "110137": "User Security Attributes Changed",
    "110138": "Emergency Override Stopped",
    "110139": "Remote Service Operation Started",
    "110140": "Remote Service Operation Stopped",
    "110141": "Local Service Operation Started",
    "110142": "Local Service Operation Stopped",
    "110143": "Authentication Decision",
    "110144": "Authorization Decision",
    "110145": "Session start",
    "110146": "Session stop",
    "110147": "Access Control Decision",
}

#: RoleIDCode, CID 402 Audit Active Participant Role ID Code
ROLES: Final[dict[str, str]] = {
    "110150": "Application",
    "110151": "Application Launcher",
    "110152": "Destination Role ID",
    "110153": "Source Role ID",
    "110154": "Destination Media",
    "110155": "Source Media",
}

#: ParticipantObjectIDTypeCode, CID 404 Audit Participant Object ID Type Code
OBJECT_ID_TYPES: Final[dict[str, str]] = {
    "110180": "Study Instance UID",
    "110181": "SOP Class UID",
    "110182": "Node ID",
}

#: MediaType, CID 405 Media Type Code
MEDIA_TYPES: Final[dict[str, str]] = {
    "110010": "Film",
    "110030": "USB Disk Emulation",
    "110031": "Email",
    "110032": "CD",
    "110033": "DVD",
    "110034": "Compact Flash",
    "110035": "Multi-media Card",
    "110036": "Secure Digital Card",
    "110037": "URI",
    "110038": "Paper Document",
}

#: RFC 3881 numeric ParticipantObjectIDTypeCodes (codeSystemName "RFC-3881")
RFC3881_ID_TYPES: Final[dict[str, str]] = {
    "1": "Medical Record Number",
    "2": "Patient Number",
    "3": "Encounter Number",
    "4": "Enrollee Number",
    "5": "Social Security Number",
    "6": "Account Number",
    "7": "Guarantor Number",
    "8": "Report Name",
    "9": "Report Number",
    "10": "Search Criteria",
    "11": "User Identifier",
    "12": "URI",
}

#: ParticipantObjectDataLifeCycle values (RFC 3881 5.5.3; FHIR dicom-audit-lifecycle)
ACTIVITY: Final[dict[int, str]] = {
    1: "Origination / Creation",
    2: "Import / Copy",
    3: "Amendment",
    4: "Verification",
    5: "Translation",
    6: "Access / Use",
    7: "De-identification",
    8: "Aggregation, summarization, derivation",
    9: "Report",
    10: "Export",
    11: "Disclosure",
    12: "Receipt of disclosure",
    13: "Archiving",
    14: "Logical deletion",
    15: "Permanent erasure / Physical destruction",
}

_ALL_DCM: Final[dict[str, str]] = {**EVENT_IDS, **EVENT_TYPES, **ROLES, **OBJECT_ID_TYPES,
                                   **MEDIA_TYPES}


def meaning(code: str) -> str:
    """The Code Meaning of a DCM audit code; an unknown code stands for itself (a message
    with an unlisted code is still sent rather than lost)."""
    return _ALL_DCM.get(code, code)
