"""Who the source is to GitHub: a personal access token, or a GitHub App's installation tokens.

A token is a secret wherever it comes from: each one is registered for redaction the moment it
exists, and only the API client ever puts it on the wire (to the configured API host).

A GitHub App signs a short-lived JWT with its private key (RS256, PyJWT) and exchanges it for an
installation token per enterprise or organization installation. Installation tokens live one hour:
each is renewed a few minutes before it expires, and once more if GitHub answers 401 with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import jwt

from copilot_source.errors import ConfigurationError, InvalidCredentials, InvalidPermissions, NoResource
from copilot_source.github.redaction import register_secret

# what a token's prefix says it is (https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/)
TOKEN_KINDS = {
    "ghp_": "classic personal access token",
    "github_pat_": "fine-grained personal access token",
    "gho_": "OAuth app token",
    "ghu_": "GitHub App user token",
    "ghs_": "GitHub App installation token",
}
CLASSIC = "classic personal access token"
FINE_GRAINED = "fine-grained personal access token"
INSTALLATION = "GitHub App installation token"
# renew an installation token this long before GitHub says it expires
RENEW_BEFORE_SECONDS = 300.0
# GitHub accepts app JWTs valid for at most ten minutes; iat is backdated against clock drift
JWT_LIFETIME_SECONDS = 540
JWT_BACKDATE_SECONDS = 60


def token_kind(token: str) -> str:
    """The kind of a token by its prefix; tokens older than 2021 have none and are classic."""
    for prefix, kind in TOKEN_KINDS.items():
        if token.startswith(prefix):
            return kind
    return CLASSIC


class Credentials(Protocol):
    """What the API client asks for each request: the Authorization header for one scope entity."""

    def authorization(self, scope: str, entity: str) -> str: ...

    def kind(self, scope: str, entity: str) -> str: ...

    def renew(self, scope: str, entity: str, rejected: str) -> bool:
        """After a 401 with `rejected`: True if a different token is now available."""
        ...


class PersonalToken:
    """One token for every request: a classic or fine-grained PAT (or an OAuth app token)."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self._header = f"Bearer {token}"
        self._kind = token_kind(token)

    def authorization(self, scope: str, entity: str) -> str:
        return self._header

    def kind(self, scope: str, entity: str) -> str:
        return self._kind

    def renew(self, scope: str, entity: str, rejected: str) -> bool:
        return False


def load_private_key(value: str, key: str) -> str:
    """PEM text, or the path of a PEM file; checked by loading it, never echoed."""
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        path = Path(text).expanduser()
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"{key} is neither PEM text nor a readable file ({type(exc).__name__} reading the path).",
                "Paste the App's private key (the .pem file GitHub gave you) or give the path of that file.",
            ) from None
    register_secret(text)
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"{key} is not a PEM private key that can be read.",
            "Use the private key GitHub generated for the App (Settings > Developer settings > GitHub Apps"
            " > your App > Private keys), unencrypted, as PEM text or the path of the .pem file.",
        ) from None
    return text


@dataclass
class InstallationToken:
    token: str
    expires_at: float


# (method, path, jwt, what) -> the JSON body of GitHub's 2xx answer; raises CopilotSourceError otherwise
AppRequest = Callable[[str, str, str, str], Any]


class GitHubApp:
    """Installation tokens of one GitHub App, one per enterprise or organization installation."""

    def __init__(
        self,
        app_id: str,
        private_key: str,
        installation_ids: tuple[int, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id = app_id
        self._private_key = private_key
        register_secret(private_key)
        # the installations configured (`installation_ids`); empty: found through the API per account
        self.configured = installation_ids
        # "<scope>:<account>" -> installation id
        self._installations: dict[str, int] = {}
        self._clock = clock
        self._tokens: dict[int, InstallationToken] = {}
        self._lock = threading.Lock()
        self._request: AppRequest | None = None

    def connect(self, request: AppRequest) -> None:
        """Give the App the client's way of asking GitHub (it needs the API host, not the token)."""
        self._request = request

    def jwt(self) -> str:
        """A fresh app JWT (RS256, iss = the App's id or client id)."""
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_SECONDS, "exp": now + JWT_LIFETIME_SECONDS, "iss": self.app_id}
        token: str = jwt.encode(claims, self._private_key, algorithm="RS256")
        register_secret(token)
        return token

    def _ask(self, method: str, path: str, what: str) -> Any:
        if self._request is None:
            raise RuntimeError("GitHubApp.connect() was not called")
        return self._request(method, path, self.jwt(), what)

    def _learn_configured(self) -> None:
        """Which account each configured installation is on (`GET /app/installations/{id}`)."""
        for installation in self.configured:
            body = self._ask(
                "GET", f"app/installations/{installation}", f"the GitHub App's installation {installation}"
            )
            account = body.get("account") or {}
            login = str(account.get("slug") or account.get("login") or "")
            scope = "enterprise" if str(body.get("target_type", "")).lower() == "enterprise" else "organization"
            self._installations[f"{scope}:{login.lower()}"] = installation

    def installation_id(self, scope: str, account: str) -> int:
        key = f"{scope}:{account.lower()}"
        with self._lock:
            if self.configured and not self._installations:
                self._learn_configured()
            found = self._installations.get(key)
            if found is None and self.configured:
                raise InvalidPermissions(
                    f"None of the GitHub App's configured `installation_ids` ({', '.join(map(str, self.configured))})"
                    f" is installed on {scope} {account!r}.",
                    f"Install the App on {scope} {account!r} and add that installation's id, or remove"
                    " `installation_ids` to let the source find each installation itself.",
                )
            if found is None:
                path = f"{'enterprises' if scope == 'enterprise' else 'orgs'}/{account}/installation"
                try:
                    body = self._ask("GET", path, f"the GitHub App's installation on {scope} {account!r}")
                except NoResource:
                    raise InvalidPermissions(
                        f"The GitHub App {self.app_id} is not installed on {scope} {account!r} (GitHub answered 404).",
                        f"Install the App on {scope} {account!r} with read access to its Copilot metrics and seats"
                        " (an enterprise App on the enterprise account itself).",
                    ) from None
                found = int(body["id"])
                self._installations[key] = found
            return found

    def _token(self, installation: int, force: bool = False) -> InstallationToken:
        with self._lock:
            current = self._tokens.get(installation)
            if current is not None and not force and current.expires_at - self._clock() > RENEW_BEFORE_SECONDS:
                return current
            body = self._ask(
                "POST",
                f"app/installations/{installation}/access_tokens",
                f"an installation token for installation {installation}",
            )
            token = str(body["token"])
            register_secret(token)
            expires = _epoch(body.get("expires_at")) or self._clock() + 3600
            fresh = InstallationToken(token, expires)
            self._tokens[installation] = fresh
            return fresh

    def authorization(self, scope: str, entity: str) -> str:
        return f"Bearer {self._token(self.installation_id(scope, entity)).token}"

    def kind(self, scope: str, entity: str) -> str:
        return INSTALLATION

    def renew(self, scope: str, entity: str, rejected: str) -> bool:
        installation = self.installation_id(scope, entity)
        with self._lock:
            current = self._tokens.get(installation)
        if current is not None and f"Bearer {current.token}" != rejected:
            return True  # another thread renewed it already
        return f"Bearer {self._token(installation, force=True).token}" != rejected


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def bad_app_key(what: str, said: str) -> InvalidCredentials:
    return InvalidCredentials(
        f"GitHub rejected the GitHub App's JWT (401) on {what}: the private key does not belong to the App,"
        f" the App id is wrong, or this machine's clock is off by minutes.{said}",
        "Check `app_id` and `private_key` under [sources.copilot.github_app] (a key of this App, from its"
        " settings page), and the machine's clock.",
    )
