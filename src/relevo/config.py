"""Configuration: environment variables ``RELEVO_*``, over an optional TOML file.

The file is ``relevo.toml`` in the working directory, or the path in ``RELEVO_CONFIG``. Every
setting is checked at start; a bad one stops the process with a message naming it and the rule.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from relevo.domain.events import DEFAULT_WEIGHTS
from relevo.domain.model_names import HYBRID_BASES
from relevo.domain.strategies import Strategy, strategies


class ConfigError(Exception):
    """Configuration that breaks a rule; the message names each setting and its rule."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELEVO_", extra="forbid", frozen=True)

    data_dir: Path = Field(Path("relevo-data"), description="where the SQLite files live")
    secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="master secret for pseudonyms; if unset, one is generated in data_dir",
    )
    late_horizon: timedelta = Field(
        timedelta(days=7), gt=timedelta(0), description="oldest live event accepted"
    )
    future_skew: timedelta = Field(
        timedelta(minutes=5), ge=timedelta(0), description="how far ahead events may be"
    )
    max_batch_events: int = Field(1000, ge=1, le=10_000)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_event_bytes: int = Field(64 * 1024, ge=256)
    recent_items_limit: int = Field(50, ge=1, le=1000)
    sqlite_synchronous: Literal["full", "normal"] = "full"
    interaction_weights: dict[str, dict[str, float]] = Field(
        {},
        description="weight of each event type for training, by tenant id ('*': every tenant);"
        " merged over the built-in defaults",
    )
    validation: dict[str, Literal["temporal", "random"]] = Field(
        {},
        description="how `relevo train` carves the part it chooses `auto`'s model on, by tenant"
        " id ('*': every tenant): 'temporal' (default: the last tenth of the events) or"
        " 'random' (a random tenth of each person's rows, for data whose times mean little)",
    )
    placements: dict[str, dict[str, Any]] = Field(
        {},
        description="strategy of each placement, by name (see docs/decisions.md); 'default'"
        " answers requests that name no placement",
    )
    cache_people_entries: int = Field(
        50_000,
        ge=100,
        description="people whose model ranking, last ranking and online state each process"
        " keeps in memory (least recently used dropped first; a ranking is about 14 KB); keep"
        " it above the people active at once times the placements' rankers, or most"
        " decisions run the model again",
    )
    cache_answer_entries: int = Field(
        20_000,
        ge=100,
        description="prepared decisions, and answers to identical requests, kept in memory"
        " (each cache; expired ones dropped as new ones come; about 10 KB each)",
    )
    cache_id_entries: int = Field(
        200_000,
        ge=1_000,
        description="person ids remembered with their pseudonym and home region (each cache;"
        " cleared when full; a few hundred bytes each)",
    )
    sqlite_heap_limit_mb: int = Field(
        64,
        ge=0,
        description="soft limit of the heap SQLite holds in a serving process (the page caches"
        " of all its connections), in MB; 0: none",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("RELEVO_CONFIG", "relevo.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))


OTHER_VARIABLES = frozenset({"RELEVO_CONFIG", "RELEVO_TENANT", "RELEVO_SHARED_DATA"})
"""Variables read by the command line rather than by ``Settings``."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and file, or a ConfigError naming each bad setting."""
    config = os.environ.get("RELEVO_CONFIG")
    if config and not Path(config).is_file():
        raise ConfigError(f"RELEVO_CONFIG: file {config} does not exist")
    known = {f"RELEVO_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    unknown = sorted(n for n in os.environ if n.startswith("RELEVO_") and n not in known)
    if unknown:
        raise ConfigError(
            f"invalid configuration:\n  {', '.join(unknown)}: not a Relevo setting"
            f" (known: {', '.join(sorted(known))})"
        )
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = [
            f"RELEVO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        ]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except ValueError as error:  # a malformed TOML file
        raise ConfigError(f"invalid configuration file: {error}") from None


def placement_strategies(settings: Settings) -> dict[str, Strategy]:
    """Every placement's strategy, or a ConfigError naming the placement and the field."""
    try:
        return strategies(settings.placements, HYBRID_BASES)
    except ValueError as error:
        raise ConfigError(f"invalid configuration:\n  RELEVO_{error}") from None


def validation_protocol(settings: Settings, tenant_id: str) -> str:
    """The tenant's validation protocol, else the one for every tenant, else temporal.

    >>> validation_protocol(Settings(validation={"*": "random"}), "shop")
    'random'
    """
    configured = settings.validation
    return configured.get(tenant_id, configured.get("*", "temporal"))


def interaction_weights(settings: Settings, tenant_id: str) -> dict[str, float]:
    """The built-in weights, then the ones configured for every tenant, then this tenant's.

    >>> interaction_weights(Settings(interaction_weights={"shop": {"view": 0.5}}), "shop")["view"]
    0.5
    """
    configured = settings.interaction_weights
    return {**DEFAULT_WEIGHTS, **configured.get("*", {}), **configured.get(tenant_id, {})}
