"""Who may call the server: 127.0.0.1 by default; any other address needs a token.

Reads: open on a loopback address (unless a token was given), else the ``X-Tunelab-Token``
header must carry the token. Writes (POST): always need the header, on every address. The
loopback pages carry their token, so a page from another site (which cannot read them, and
cannot send a custom header without CORS, which this server never allows) cannot stop a job.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request

HEADER = "X-Tunelab-Token"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Access:
    """The server's token rules (see the module docstring)."""

    token: str
    open_reads: bool  # reads need no token (loopback and no token given)
    embed_token: bool  # pages carry the token (loopback only)
    allowed_hosts: tuple[str, ...]  # Host headers accepted ("*" = any; DNS rebinding guard)

    @classmethod
    def for_host(cls, host: str, token: str | None = None) -> tuple[Access, bool]:
        """The rules for serving on ``host``; the bool says the token was generated (and is
        to be printed once)."""
        generated = token is None
        tok = token if token is not None else secrets.token_urlsafe(24)
        if host in LOOPBACK:
            return cls(tok, open_reads=generated, embed_token=True,
                       allowed_hosts=("127.0.0.1", "localhost", "[::1]", "::1")), generated
        return cls(tok, open_reads=False, embed_token=False, allowed_hosts=("*",)), generated

    def ok(self, request: Request) -> bool:
        given = request.headers.get(HEADER, "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    def check_read(self, request: Request) -> None:
        if not self.open_reads and not self.ok(request):
            raise HTTPException(401, f"this server needs its token in the {HEADER} header "
                                     "(printed when it started; open the printed address)")

    def check_write(self, request: Request) -> None:
        if not self.ok(request):
            raise HTTPException(401, f"a change needs the server's token in the {HEADER} "
                                     "header")
