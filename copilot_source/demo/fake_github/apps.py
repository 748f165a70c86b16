"""Who a request to the fake GitHub is: a classic token, a fine-grained token, a GitHub App's JWT,
or one of its installation tokens, and what each may read.

As on GitHub: the App's JWT (RS256, signed with the App's private key, `exp` at most ten minutes
ahead) is good only for the App's own endpoints; it buys installation tokens that last
`token_ttl` seconds and read only their installation's account; fine-grained tokens read
organizations, never an enterprise.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ENTERPRISE_KIND = "enterprise"
ORGANIZATION_KIND = "organization"


def new_private_key() -> str:
    """A fresh RSA private key in PEM, as GitHub hands an App's out (for tests and the demo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return pem.decode()


def public_key_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode()


@dataclass
class Installation:
    id: int
    # "enterprise" or "organization", and the account's slug or login
    kind: str
    account: str


@dataclass
class Caller:
    """What a request's Authorization header turned out to be."""

    kind: str  # "classic", "fine-grained", "jwt", "installation"
    installation: Installation | None = None


@dataclass
class FakeApp:
    """One GitHub App and its installations on the fake's accounts."""

    app_id: str
    private_key: str
    installations: list[Installation] = field(default_factory=list)
    token_ttl: float = 3600.0
    # requests an installation token serves before the fake treats it as expired, whatever its
    # expires_at said (GitHub revokes tokens too): None for never
    revoke_after: int | None = None
    _tokens: dict[str, tuple[Installation, float]] = field(default_factory=dict)
    _uses: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # how many installation tokens were handed out (tests count renewals)
    issued: int = 0

    @property
    def public_key(self) -> str:
        return public_key_of(self.private_key)

    def verify_jwt(self, token: str) -> str | None:
        """None if `token` is the App's valid JWT, else GitHub's complaint."""
        try:
            claims = jwt.decode(
                token, self.public_key, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}
            )
        except jwt.ExpiredSignatureError:
            return "'Expiration time' claim ('exp') is too far in the future or in the past"
        except jwt.InvalidTokenError:
            return "A JSON web token could not be decoded"
        if str(claims["iss"]) != self.app_id:
            return "Integration not found"
        if claims["exp"] - time.time() > 600 + 5:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    def installation(self, installation_id: int) -> Installation | None:
        return next((i for i in self.installations if i.id == installation_id), None)

    def installation_on(self, kind: str, account: str) -> Installation | None:
        return next((i for i in self.installations if i.kind == kind and i.account.lower() == account.lower()), None)

    def issue(self, installation: Installation) -> tuple[str, float]:
        """A new installation token and when it expires (epoch seconds)."""
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_ttl
        with self._lock:
            self._tokens[token] = (installation, expires)
            self.issued += 1
        return token, expires

    def caller(self, token: str) -> Caller | str | None:
        """The installation of a token (or "expired"), or None if the token is not one of ours."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            return None
        installation, expires = found
        with self._lock:
            self._uses[token] = self._uses.get(token, 0) + 1
            used = self._uses[token]
        if time.time() >= expires or (self.revoke_after is not None and used > self.revoke_after):
            return "expired"
        return Caller("installation", installation)
