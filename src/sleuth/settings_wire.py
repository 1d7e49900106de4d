"""Settings carried to another process: a CLI's settings as JSON values, rebuilt exactly in its warm worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from sleuth.config import Settings


def settings_values(settings: Settings) -> dict[str, Any]:
    """`settings` as JSON values that `settings_from` rebuilds in another process (a CLI's, for its warm worker):
    every field, API keys included, relative paths made absolute (that process works in another directory)."""
    values = settings.model_dump(mode="json")
    for name, value in vars(settings).items():
        if isinstance(value, Path) and not value.is_absolute() and not str(value).startswith("~"):
            values[name] = str(value.absolute())
    return values


def settings_from(values: dict[str, Any]) -> Settings:
    """The settings `values` (from `settings_values`) say, validated as ever, with nothing read from this
    process's environment: another process's settings, exactly.

    Raises:
        pydantic.ValidationError: `values` are not valid settings.
    """
    return _Given(**values)


class _Given(Settings):
    """Settings made of the values given only."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
