from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TokenResponse(BaseModel):
    """An OAuth2 access token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class StaffTokenResponse(TokenResponse):
    """A staff session's tokens: the access token and the refresh token to renew it with."""

    refresh_token: str = Field(
        description="Opaque and single-use: exchange it (grant_type=refresh_token) for the "
        "next pair before `refresh_expires_in` runs out. Every use returns a new one; using an "
        "old one again ends the session."
    )
    refresh_expires_in: int = Field(
        description="Seconds until the refresh token stops working if it is not used: the "
        "session's idle timeout or its absolute end, whichever comes first."
    )
