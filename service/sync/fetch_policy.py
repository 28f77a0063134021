"""The outbound fetch policy every sync in this process uses, from settings.

The API's workers, `guildgraph worker`, `guildgraph sync` and the checks made when a
source is saved all build it here from the same settings, so a source that syncs in
one syncs in the others; a refusal the policy makes names the setting behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from connectors.framework.contract import Fetcher
from connectors.framework.errors import RefusedByPolicy
from connectors.net.fetcher import SafeFetcher
from connectors.net.policy import FetchPolicy
from service.settings import Settings, setting_name

FetcherFactory = Callable[[], AbstractAsyncContextManager[Fetcher]]

# The setting each policy field is made from, and what a value of it looks like.
POLICY_SETTINGS: dict[str, tuple[str, str]] = {
    "allowed_networks": ("fetch_allowed_networks", '["127.0.0.1/32", "10.0.0.0/8"]'),
    "allow_file_roots": ("fetch_file_roots", '["/srv/registries"]'),
}


def fetch_policy(settings: Settings, extra_file_roots: Sequence[Path] = ()) -> FetchPolicy:
    """The settings' networks and file roots, plus roots the program itself ships."""
    roots = [*settings.fetch_file_roots, *extra_file_roots]
    return FetchPolicy(
        allowed_networks=settings.fetch_allowed_networks,
        allow_file_roots=[str(p.resolve()) for p in roots],
    )


def fetcher_factory(settings: Settings, extra_file_roots: Sequence[Path] = ()) -> FetcherFactory:
    policy = fetch_policy(settings, extra_file_roots)

    def open_fetcher() -> AbstractAsyncContextManager[Fetcher]:
        return SafeFetcher(policy)

    return open_fetcher


def explained(error: Exception) -> str:
    """The error's message, naming the setting that decides it when the policy refused."""
    text = str(error)
    if isinstance(error, RefusedByPolicy) and error.policy_field in POLICY_SETTINGS:
        field, example = POLICY_SETTINGS[error.policy_field]
        text += (
            f" (the setting {setting_name(field)} decides this, the same for the server, "
            f"its workers and the CLI; e.g. {setting_name(field)}='{example}')"
        )
    return text
