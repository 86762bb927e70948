"""SMART on FHIR resource scopes of backend clients: ``system/Appointment.rs``, ``system/*.read`` and the like.

A scope names a resource type (or ``*``) and what may be done with it: the SMART v2 letters ``c`` create,
``r`` read, ``u`` update, ``d`` delete, ``s`` search (a subset of ``cruds``, in that order), or the v1 words
``read`` (= ``rs``), ``write`` (= ``cud``) and ``*`` (= ``cruds``). Backend clients act for no user and no
patient, so only ``system/`` scopes are theirs; scopes narrowed by search parameters (``?category=...``) are
not supported and refused rather than widened.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

INTERACTIONS = "cruds"
V1_WORDS = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"(?P<context>[a-z]+)/(?P<type>\*|[A-Za-z]+)\.(?P<permissions>[a-z*]+)(?P<query>\?.*)?")


class ScopeError(ValueError):
    """A scope this server does not understand or does not give backend clients."""


@dataclass(frozen=True)
class Scope:
    resource_type: str  # a FHIR resource type, or "*" for every type
    permissions: frozenset[str]  # letters of "cruds"
    text: str  # as written (a v1 scope stays v1 when it is granted whole)

    def __str__(self) -> str:
        return self.text

    def allows(self, resource_type: str, interaction: str) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.permissions

    def within(self, registered: "Scope") -> "Scope | None":
        """The part of this scope that ``registered`` covers, or None."""
        if registered.resource_type == "*":
            resource_type = self.resource_type
        elif self.resource_type in ("*", registered.resource_type):
            resource_type = registered.resource_type
        else:
            return None
        permissions = self.permissions & registered.permissions
        return system_scope(resource_type, permissions) if permissions else None


def system_scope(resource_type: str, permissions: Iterable[str]) -> Scope:
    """The v2 scope ``system/<type>.<letters>``, letters in SMART's order."""
    letters = "".join(letter for letter in INTERACTIONS if letter in set(permissions))
    return Scope(resource_type, frozenset(letters), f"system/{resource_type}.{letters}")


def parse_scope(text: str) -> Scope:
    match = _SCOPE.fullmatch(text)
    if match is None:
        raise ScopeError(f"{text[:80]!r} is not a SMART resource scope; write system/<resource type>.<rights>, "
                         "e.g. system/Slot.rs")
    if match["context"] != "system":
        raise ScopeError(f"{text[:80]!r}: backend clients get system/ scopes only ({match['context']}/ scopes need "
                         "a user or patient in context)")
    if match["query"]:
        raise ScopeError(f"{text[:80]!r}: scopes narrowed by search parameters are not supported")
    resource_type, permissions = match["type"], match["permissions"]
    if resource_type != "*" and not _is_resource_type(resource_type):
        raise ScopeError(f"{text[:80]!r}: {resource_type} is not a FHIR R4 resource type")
    letters = V1_WORDS.get(permissions, permissions)
    order = iter(INTERACTIONS)
    if not all(letter in order for letter in letters):
        raise ScopeError(f"{text[:80]!r}: give the rights as letters of c r u d s in that order (e.g. .rs or .cu), "
                         "or .read, .write or .*")
    return Scope(resource_type, frozenset(letters), text)


def _is_resource_type(name: str) -> bool:
    try:
        return issubclass(get_fhir_model_class(name), Resource)
    except (KeyError, ValueError):
        return False


def parse_scopes(text: str) -> list[Scope]:
    """A space-separated scope list; each scope once."""
    return [parse_scope(part) for part in dict.fromkeys(text.split())]


def allowed(scopes: Iterable[Scope], resource_type: str, interaction: str) -> bool:
    return any(scope.allows(resource_type, interaction) for scope in scopes)


def granted(requested: Iterable[Scope], registered: list[Scope]) -> list[Scope]:
    """What a token gets: each requested scope as far as the client's registered scopes cover it.

    A scope covered whole is granted as written; one covered in part is granted as the v2 scopes of that part
    (``system/*.rs`` asked by a client registered for ``system/Slot.rs`` gets ``system/Slot.rs``).
    """
    result: dict[str, Scope] = {}
    for wanted in requested:
        covered: dict[str, set[str]] = {}
        for have in registered:
            if (part := wanted.within(have)) is not None:
                covered.setdefault(part.resource_type, set()).update(part.permissions)
        if covered.get(wanted.resource_type) == set(wanted.permissions):
            result.setdefault(wanted.text, wanted)
            continue
        for resource_type, permissions in covered.items():
            scope = system_scope(resource_type, permissions)
            result.setdefault(scope.text, scope)
    return list(result.values())


def spelled(scopes: Iterable[Scope]) -> str:
    return " ".join(scope.text for scope in scopes)
