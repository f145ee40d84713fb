"""Tortoise CLI entry for `tortoise -c core.migrations_config.TORTOISE_ORM makemigrations`."""

from core.db import tortoise_config
from core.settings import Settings

TORTOISE_ORM = tortoise_config(Settings(database_url="sqlite://data/makemigrations.sqlite3"))
