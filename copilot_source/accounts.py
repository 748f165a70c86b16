"""Which enterprises and organizations a run loads, and how the source authenticates to them.

`enterprise` (a slug or a list of slugs) and `organizations` (a list of logins) name the accounts;
at least one is needed. Authentication is one of:

* `access_token`: a classic personal access token (enterprise and organization endpoints), or a
  fine-grained one (organization endpoints only: GitHub refuses them at enterprise scope);
* `github_app`: `app_id`, `private_key` (PEM text or a path) and optionally `installation_ids`:
  the source signs the App's JWT and exchanges it for one installation token per account.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.typing import TSecretStrValue

from copilot_source.declarations import Scope
from copilot_source.github.auth import Credentials, GitHubApp, PersonalToken


@dataclass(frozen=True)
class Account:
    """One enterprise or organization to load."""

    scope: Scope
    slug: str

    @property
    def key(self) -> str:
        """Its name in the source's state: each account keeps its own cursor, holes and first day."""
        return f"{self.scope.name}:{self.slug}"

    def __str__(self) -> str:
        return f"{self.scope.name} {self.slug!r}"


@configspec
class GitHubAppCredentials(CredentialsConfiguration):
    """`[sources.copilot.github_app]`: the App that reads the accounts (secrets.toml or env)."""

    app_id: str | None = None
    private_key: TSecretStrValue | None = None
    installation_ids: list[int] | None = None


@dataclass(frozen=True)
class AppSettings:
    app_id: str
    private_key: str
    installation_ids: tuple[int, ...] = ()


def make_credentials(token: str | None, app: AppSettings | None) -> Credentials:
    """The credentials the API client sends: the token, or the App's installation tokens."""
    if app is not None:
        return GitHubApp(app.app_id, app.private_key, app.installation_ids)
    assert token is not None
    return PersonalToken(token)
