"""Digital signatures on DICOM objects and items (PS3.3 C.12.1.1.3, PS3.15 Annex C).

Public API::

    sign(src, dst, key=..., profile="none", mac="sha256", ...) -> SignResult
    verify(src, trust=..., require=None) -> list[SignatureReport]
    verify_file(path, trust=..., require=None) -> FileReport
    list_signatures(path) -> FileReport
    remove_signatures(src, dst, uids=..., remove_all=False) -> int

``src`` may be a path or a pydicom ``Dataset``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomsec.signatures._core import (
    SignResult,
    dataset_to_bytes,
    list_signatures,
    remove_signatures,
    sign_file,
    verify_dataset_bytes,
    verify_file,
)
from dicomsec.signatures._profiles import PURPOSES, Profile
from dicomsec.signatures.report import FileReport, SignatureReport

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomsec.trust import TrustStore

__all__ = [
    "PURPOSES",
    "FileReport",
    "Profile",
    "SignResult",
    "SignatureReport",
    "list_signatures",
    "remove_signatures",
    "sign",
    "sign_file",
    "verify",
    "verify_file",
]


def sign(src: Path | str | Dataset, dst: Path | str | None = None, **kwargs: Any) -> Any:
    """Sign a file (``dst`` required; may equal ``src``) or a pydicom Dataset.

    For a Dataset, returns a new signed Dataset (the input is not changed); for a path, a
    :class:`SignResult`. Keyword arguments are those of :func:`sign_file`.
    """
    if isinstance(src, str | Path):
        if dst is None:
            raise TypeError("sign(path) needs dst (use the same path to sign in place)")
        return sign_file(Path(src), Path(dst), **kwargs)
    import tempfile

    from pydicom import dcmread

    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        a.write_bytes(dataset_to_bytes(src))
        sign_file(a, b, **kwargs)
        return dcmread(b)


def verify(
    src: Path | str | Dataset, *, trust: TrustStore | None = None, require: str | None = None
) -> list[SignatureReport]:
    """Verify every signature of a file or Dataset; one report per signature."""
    if isinstance(src, str | Path):
        return list(verify_file(src, trust=trust, require=require).signatures)
    return list(verify_dataset_bytes(dataset_to_bytes(src), trust=trust,
                                     require=require).signatures)
