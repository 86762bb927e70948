"""Who may use a FHIR route: staff by their role, backend clients by the SMART scopes of their token.

The scope a request needs follows from the route itself: the resource type is the first path segment under
``/fhir`` and the interaction is the method and what follows it (``GET /fhir/Slot`` searches, ``s``;
``GET /fhir/Slot/{id}`` and its versions read, ``r``; ``POST`` creates, ``c``; ``PUT``/``PATCH`` update, ``u``;
``DELETE`` deletes, ``d``). Argonaut's ``$find`` searches (``s``); ``$hold`` and ``$book`` create (``c``), or
update (``u``) the appointment they name; any other operation needs all of ``cruds``. A route added later
therefore cannot forget its scope, and ``/.well-known/smart-configuration`` lists the scopes the routes check.
"""

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from api.deps import Caller, has_role
from data.enums import Role
from data.errors import Forbidden
from data.tables import User
from scheduler.backend_clients import ClientActor
from scheduler.smart_scopes import allowed, spelled, system_scope

PREFIX = "/fhir/"
WORDS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
EVERYTHING = "cruds"
SEARCHING_OPERATIONS, WRITING_OPERATIONS = {"$find"}, {"$hold", "$book"}


def interaction(method: str, path: str) -> tuple[str, str]:
    """The resource type and the SMART interaction letters of a request to ``path`` (``/fhir/Slot/s3-l1-c2-t9``),
    or of a route (``/fhir/Slot/{ident}``)."""
    resource_type, *rest = path.partition(PREFIX)[2].split("/")
    if rest and rest[-1].startswith("$"):
        operation = rest[-1]
        if operation in SEARCHING_OPERATIONS:
            return resource_type, "s"
        return resource_type, ("u" if len(rest) > 1 else "c") if operation in WRITING_OPERATIONS else EVERYTHING
    if method == "GET":
        return resource_type, "s" if rest in ([], ["_history"]) else "r"
    if method == "POST":
        return resource_type, "c" if not rest else "s" if rest == ["_search"] else EVERYTHING
    return resource_type, {"PUT": "u", "PATCH": "u", "DELETE": "d"}.get(method, EVERYTHING)


def fhir_access(*roles: Role):
    """A dependency: staff of these roles, or a backend client whose scopes allow this route's interaction."""

    def check(request: Request, caller: Caller) -> User | ClientActor:
        if not isinstance(caller, ClientActor):
            return has_role(caller, roles)
        resource_type, letters = interaction(request.method, request.url.path)
        missing = "".join(letter for letter in letters if not allowed(caller.scopes, resource_type, letter))
        if missing:
            needed = system_scope(resource_type, missing)
            doing = " and ".join(WORDS[letter] for letter in missing)
            raise Forbidden(f"to {doing} {resource_type} this token needs the scope {needed} (or a scope that "
                            f"includes it); it has {spelled(caller.scopes) or 'none'}")
        return caller

    check.checks_smart_scopes = True
    return check


def scoped_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(resource type, interaction letters) of every FHIR route that checks scopes."""
    found = []
    for route in iter_route_contexts(app.routes):
        if (isinstance(route.original_route, APIRoute) and route.path.startswith(PREFIX)
                and _checks_scopes(route.original_route.dependant)):
            found += [interaction(method, route.path) for method in sorted(route.methods)]
    return found


def served_scopes(app: FastAPI) -> list[str]:
    """The v2 ``system/`` scope of each resource type, with the interactions this server offers on it."""
    letters: dict[str, set[str]] = {}
    for resource_type, interactions in scoped_routes(app):
        letters.setdefault(resource_type, set()).update(interactions)
    return [system_scope(resource_type, offered).text for resource_type, offered in sorted(letters.items())]


def _checks_scopes(dependant: Dependant) -> bool:
    return any(getattr(d.call, "checks_smart_scopes", False) or _checks_scopes(d) for d in dependant.dependencies)
