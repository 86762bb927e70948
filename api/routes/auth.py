"""Signing in: the OAuth2 password flow, answered with a bearer token."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, NowDep, SessionDep, SettingsDep, client_key
from api.openapi import also_answers
from api.schemas.people import Token, UserPublic
from api.security import issue_token
from data.accounts import authenticate
from scheduler import sign_in

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token, responses=also_answers(401, 429))
def sign_in_with_password(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep,
    now: NowDep,
):
    """A bearer token for a username and password; repeated failures are refused for a while (429)."""
    username_key, address_key = sign_in.keys(form.username, client_key(request))
    sign_in.check(session, username_key=username_key, address_key=address_key, now=now, settings=settings)
    user = authenticate(session=session, username=form.username, password=form.password)
    if user is None:
        sign_in.failed(session, username_key=username_key, address_key=address_key, now=now)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    sign_in.succeeded(session, username_key=username_key)
    minutes = settings.access_token_minutes
    token = issue_token(user_id=user.id, stamp=user.security_stamp, key=request.app.state.token_key,
                        minutes=minutes)
    return Token(access_token=token, expires_in=minutes * 60)


@router.post("/renew", response_model=Token)
def renew(request: Request, user: CurrentUser, settings: SettingsDep):
    """A fresh token for the signed-in staff member, while the one sent is still valid: the web app renews as the
    desk works, so a sign-in lasts while the tab is in use (it ran out after an hour, mid-booking, and the desk was
    sent to the sign-in page with the patient and search lost; found by a probe). An idle tab's token still runs
    out. (A backend client's token is refused here, as on every staff endpoint: it signs a new assertion.)"""
    minutes = settings.access_token_minutes
    token = issue_token(user_id=user.id, stamp=user.security_stamp, key=request.app.state.token_key,
                        minutes=minutes)
    return Token(access_token=token, expires_in=minutes * 60)


@router.get("/me", response_model=UserPublic)
def who_am_i(user: CurrentUser):
    return user
