"""Administrators register the systems (EHRs) that connect through SMART Backend Services.

Clients are never deleted (the audit trail names them); a client that should no longer connect is disabled.
"""

from fastapi import APIRouter, Depends, status

from api.deps import NowDep, SessionDep, require_role
from api.schemas.clients import BackendClientCreate, BackendClientPublic, BackendClientUpdate
from data.enums import Role
from scheduler import backend_clients

router = APIRouter(prefix="/backend-clients", tags=["backend clients"],
                   dependencies=[Depends(require_role(Role.ADMIN))])


@router.get("", response_model=list[BackendClientPublic])
def list_backend_clients(session: SessionDep):
    return backend_clients.every(session)


@router.post("", response_model=BackendClientPublic, status_code=status.HTTP_201_CREATED)
def register_backend_client(body: BackendClientCreate, session: SessionDep, now: NowDep):
    """Register a client with its public keys and allowed scopes; the answer's client_id is what it signs as."""
    client = backend_clients.register(session, client_name=body.client_name, jwks=body.jwks, jwks_uri=body.jwks_uri,
                                      scope=body.scope, now=now)
    session.commit()
    return client


@router.get("/{client_id}", response_model=BackendClientPublic)
def read_backend_client(client_id: str, session: SessionDep):
    return backend_clients.find(session, client_id)


@router.patch("/{client_id}", response_model=BackendClientPublic)
def change_backend_client(client_id: str, body: BackendClientUpdate, session: SessionDep, now: NowDep):
    """Rename, re-key (jwks or jwks_uri), re-scope, disable or enable; the client's tokens stop working at once."""
    client = backend_clients.change(session, client_id=client_id, values=body.model_dump(exclude_unset=True),
                                    now=now)
    session.commit()
    return client
