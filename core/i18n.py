"""Message catalogs in `locales/<lang>/*.toml`, shared by the bot and the web API.

Keys are dotted (`products.added`); values are `str.format` templates. Every language must
have every key: `tests/test_locales.py` enforces it, and a missing key falls back to English
and then to the key itself rather than crashing a handler.
"""

from __future__ import annotations

import logging
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LANGUAGES = ("uz", "ru", "en")
DEFAULT_LANGUAGE = "uz"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def _flatten(prefix: str, tree: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        else:
            out[name] = str(value)


@lru_cache(maxsize=len(LANGUAGES))
def catalog(language: str) -> dict[str, str]:
    """Every message of one language, keyed `file.section.key`."""
    messages: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / language).glob("*.toml")):
        with path.open("rb") as fh:
            _flatten(path.stem, tomllib.load(fh), messages)
    return messages


def pick_language(*candidates: str | None) -> str:
    """The first supported language among candidates (`ru-RU` counts as `ru`)."""
    for candidate in candidates:
        if candidate:
            code = candidate.split("-")[0].split("_")[0].lower()
            if code in LANGUAGES:
                return code
    return DEFAULT_LANGUAGE


def t(key: str, language: str | None = None, /, **values: Any) -> str:
    """The message `key` in `language`, formatted with `values`."""
    lang = pick_language(language)
    template = catalog(lang).get(key) or catalog("en").get(key)
    if template is None:
        log.warning("missing locale key %s", key)
        return key
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        log.warning("locale key %s could not be formatted for %s", key, lang)
        return template
