"""Signing in: the OAuth2 password flow, answered with a bearer token."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas.people import Token, UserPublic
from api.security import issue_token
from data.accounts import authenticate

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def sign_in(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
):
    user = authenticate(session=session, username=form.username, password=form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    minutes = settings.access_token_minutes
    token = issue_token(user_id=user.id, key=request.app.state.token_key, minutes=minutes)
    return Token(access_token=token, expires_in=minutes * 60)


@router.get("/me", response_model=UserPublic)
def who_am_i(user: CurrentUser):
    return user
