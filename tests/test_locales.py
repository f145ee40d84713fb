from __future__ import annotations

import re
import string

import pytest

from core.i18n import LANGUAGES, catalog

FIELD = re.compile(r"\{(\w+)")


def test_every_language_has_the_same_keys() -> None:
    keys = {lang: set(catalog(lang)) for lang in LANGUAGES}
    for lang in LANGUAGES:
        assert keys[lang] == keys["en"], f"{lang}: {keys[lang] ^ keys['en']}"


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_placeholders_match_english(lang: str) -> None:
    english = catalog("en")
    for key, text in catalog(lang).items():
        assert set(FIELD.findall(text)) == set(FIELD.findall(english[key])), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_templates_are_well_formed(lang: str) -> None:
    for key, text in catalog(lang).items():
        list(string.Formatter().parse(text)), key
