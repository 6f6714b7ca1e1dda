"""Candidate intermediates and the path-building budget (private; used by
:meth:`TrustStore.validate <dicomsec.trust.TrustStore.validate>` and :mod:`._validate`).

Intermediates come from places an attacker can fill: a signature's own certificate set (CMS
``certificates``, a DICOM signature's Certificate of Signer) and ``--untrusted`` files received
from elsewhere. pyhanko-certvalidator's path builder matches issuers by name (and key
identifiers when both sides carry them) and enumerates *every* simple path before it gives up:
N certificates of one name that sign each other give N! paths (review: N=8 14 s, N=10 > 60 s).
So, before any path is built:

- the pool is de-duplicated (the certificate itself and the anchors are left out);
- at most :data:`MAX_PER_NAME` certificates of one subject name are kept, the first ones given
  (the trust store's own ``--untrusted`` before a signature's certificates): a key rollover
  needs four (old, new, old-with-new, new-with-old);
- the paths pyhanko would walk are counted the way it walks them (issuer name, key identifiers,
  no certificate twice in a path); more than :data:`PATH_BUDGET` steps and the path is not
  built: :func:`over_budget` says why (reason ``invalid``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["MAX_PER_NAME", "PATH_BUDGET", "over_budget", "pool"]

#: at most this many intermediates of one subject name take part in path building
MAX_PER_NAME = 4
#: at most this many partial paths are walked while looking for a path to an anchor
PATH_BUDGET = 2000


def pool(cert: x509.Certificate, anchors: Sequence[x509.Certificate],
         intermediates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The intermediates path building may use: de-duplicated, without ``cert`` and the
    anchors, at most :data:`MAX_PER_NAME` per subject name (first given first kept)."""
    skip = {cert, *anchors}
    seen: set[x509.Certificate] = set()
    per_name: dict[x509.Name, int] = {}
    out = []
    for c in intermediates:
        if c in skip or c in seen:
            continue
        seen.add(c)
        subject = _name(c, "subject")
        if subject is None:  # a name that does not parse cannot issue anything by name
            continue
        count = per_name.get(subject, 0)
        if count >= MAX_PER_NAME:
            continue
        per_name[subject] = count + 1
        out.append(c)
    return tuple(out)


def _name(cert: x509.Certificate, which: str) -> x509.Name | None:
    """The subject or issuer name, ``None`` when it does not parse (names are parsed lazily:
    a crafted certificate fails here, not when it was loaded)."""
    try:
        name: x509.Name = getattr(cert, which)
    except ValueError:
        return None
    return name


def over_budget(cert: x509.Certificate, intermediates: Sequence[x509.Certificate],
                budget: int = PATH_BUDGET) -> str | None:
    """Why path building from ``cert`` is refused (more than ``budget`` partial paths to
    walk), or ``None``. Counts as pyhanko walks: an issuer is a certificate whose subject is
    the child's issuer name and whose subject key identifier, when both carry one, is the
    child's authority key identifier; a path never holds a certificate twice; an anchor ends a
    path (and adds no step)."""
    by_name: dict[x509.Name, list[x509.Certificate]] = {}
    for c in intermediates:
        subject = _name(c, "subject")
        if subject is not None:
            by_name.setdefault(subject, []).append(c)
    steps = 0
    stack: list[tuple[x509.Certificate, frozenset[x509.Certificate]]] = [(cert, frozenset())]
    while stack:
        child, seen = stack.pop()
        issuer_name = _name(child, "issuer")
        for issuer in by_name.get(issuer_name, ()) if issuer_name is not None else ():
            if issuer in seen or not _key_ids_match(child, issuer):
                continue
            steps += 1
            if steps > budget:
                return (f"path building gave up: more than {budget} candidate paths through "
                        f"{len(intermediates)} intermediates (same-name certificates that "
                        "issue each other?)")
            stack.append((issuer, seen | {issuer}))
    return None


def _key_ids_match(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``child``'s authority key identifier allows ``issuer`` (true when either side
    carries none, as pyhanko's ``find_potential_issuers``)."""
    from cryptography import x509

    try:
        aki = child.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return True
    return aki.key_identifier is None or aki.key_identifier == ski.digest
