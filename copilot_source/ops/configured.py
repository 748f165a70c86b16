"""What the user has set up: decides whether a run without a token may load the demo instead.

A scheduled run must never load fake data because it lost its token or was started where its
settings are not found. The demo stands in only when nothing at all is configured: no
`[sources.copilot]` key (the tests' `today` aside), no destination setting, in the settings files
and the environment alike. The shipped `.dlt/config.toml` sets only the DuckDB destination type,
which counts as nothing configured. Values are never read out: only where a key is set.
"""

from __future__ import annotations

import os
from typing import Any

from dlt.common.configuration.container import Container
from dlt.common.configuration.providers.doc import BaseDocProvider
from dlt.common.configuration.providers.toml import SettingsTomlProvider
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

# set by tests (and exact reruns) to pin the day; says nothing about a deployment
NOT_A_DEPLOYMENT = frozenset({"today"})
# what the shipped .dlt/config.toml sets: the destination of a fresh checkout
SHIPPED_DESTINATION = "duckdb"


def _environment(pipeline_name: str) -> list[str]:
    scoped = pipeline_name.upper()
    found = []
    for name, value in sorted(os.environ.items()):
        upper = name.upper()
        for prefix in ("SOURCES__COPILOT__", f"{scoped}__SOURCES__COPILOT__"):
            if upper.startswith(prefix) and upper[len(prefix) :].lower() not in NOT_A_DEPLOYMENT:
                found.append(f"env {name}")
        if upper.startswith(("DESTINATION__", f"{scoped}__DESTINATION__")):
            found.append(f"env {name}")
        # dlt takes a destination type from any of these (DESTINATION_TYPE switches every pipeline)
        destination_type = upper in (
            f"PIPELINES__{scoped}__DESTINATION_TYPE",
            "PIPELINES__DESTINATION_TYPE",
            "DESTINATION_TYPE",
        )
        if destination_type and value.strip().lower() != SHIPPED_DESTINATION:
            found.append(f"env {name}")
    return found


def _where(provider: BaseDocProvider, key: str, scope: str, *sections: str) -> str:
    location = provider.get_value_location(key, scope, *sections) if isinstance(provider, SettingsTomlProvider) else ""
    return location or provider.name


def _documents(provider: BaseDocProvider, pipeline_name: str) -> list[str]:
    """Keys set in one settings document (a .dlt/*.toml file, global and project merged)."""
    found = []
    # "" looks a key up at the top level, a pipeline name under that pipeline's own section
    for scope in ("", pipeline_name):
        prefix = f"{scope}." if scope else ""
        source: Any = provider.get_value("copilot", Any, scope, "sources")[0]
        if isinstance(source, dict):
            for key in sorted(set(source) - NOT_A_DEPLOYMENT):
                found.append(f"{prefix}sources.copilot.{key} in {_where(provider, key, scope, 'sources', 'copilot')}")
        destination: Any = provider.get_value("destination", Any, scope)[0]
        if destination:
            found.append(f"{prefix}destination in {_where(provider, 'destination', scope)}")
    for sections in (("pipelines", pipeline_name), ("pipelines",)):
        value: Any = provider.get_value("destination_type", Any, "", *sections)[0]
        if value is not None and str(value).strip().lower() != SHIPPED_DESTINATION:
            where = _where(provider, "destination_type", "", *sections)
            found.append(f"{'.'.join(sections)}.destination_type in {where}")
    return found


def configured_settings(pipeline_name: str) -> list[str]:
    """Where each setting that shows a deployment is set, e.g. 'env SOURCES__COPILOT__ENTERPRISE'."""
    found = _environment(pipeline_name)
    for provider in Container()[PluggableRunContext].providers.providers:
        if isinstance(provider, BaseDocProvider):
            found += _documents(provider, pipeline_name)
    return found
