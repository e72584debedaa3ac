"""The .po catalogs and the translator over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tgshop.i18n import Translator
from tgshop.i18n.translator import normalize_locale, placeholders, read_catalog

LOCALES = Path(__file__).parents[2] / "src" / "tgshop" / "i18n" / "locales"


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator.load()


def test_shipped_catalogs_load_without_a_compile_step(translator: Translator) -> None:
    assert translator.locales == ["en", "ru"]
    assert translator.get("en").gettext("order.status.shipped") == "shipped"
    assert translator.get("ru").gettext("order.status.shipped") == "отправлен"


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (LOCALES / "en" / "LC_MESSAGES").glob("*.po"))
)
def test_every_translation_has_an_english_original_with_the_same_placeholders(
    name: str,
) -> None:
    english = read_catalog(LOCALES / "en" / "LC_MESSAGES" / name)
    russian = read_catalog(LOCALES / "ru" / "LC_MESSAGES" / name)
    assert set(russian) == set(english), f"ru and en must translate the same keys in {name}"
    for key, text in russian.items():
        assert placeholders(text) == placeholders(english[key]), key


def test_both_locales_have_the_same_catalog_files() -> None:
    names = {
        locale: sorted(p.name for p in (LOCALES / locale / "LC_MESSAGES").glob("*.po"))
        for locale in ("en", "ru")
    }
    assert names["en"] == names["ru"]


def test_a_key_defined_in_two_files_of_one_locale_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "en" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    (folder / "messages.po").write_text(header + 'msgid "a"\nmsgstr "A"\n', encoding="utf-8")
    (folder / "more.po").write_text(header + 'msgid "a"\nmsgstr "A2"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"more\.po.*'a'"):
        Translator.load(tmp_path)


def test_parameters_are_filled_in(translator: Translator) -> None:
    text = translator.get("ru").gettext("notify.status.shipped", number="A-7")
    assert text == "🚚 Ваш заказ <b>A-7</b> отправлен."


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("ru_RU", "ru"),
        ("RU", "ru"),
        ("en-GB", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_locale_is_matched_on_its_language_and_falls_back_to_english(
    translator: Translator, locale: str | None, expected: str
) -> None:
    assert translator.get(locale).locale == expected


def test_unknown_key_comes_back_as_itself(translator: Translator) -> None:
    assert translator.get("ru").gettext("no.such.key") == "no.such.key"


def test_missing_empty_or_fuzzy_translation_falls_back_to_english(tmp_path: Path) -> None:
    (tmp_path / "en" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "ru" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "en" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "a"\nmsgstr "A {x}"\n\nmsgid "b"\nmsgstr "B"\n\nmsgid "c"\nmsgstr "C"\n',
        encoding="utf-8",
    )
    (tmp_path / "ru" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "a"\nmsgstr ""\n\n#, fuzzy\nmsgid "b"\nmsgstr "Б?"\n',
        encoding="utf-8",
    )
    ru = Translator.load(tmp_path).get("ru")
    assert ru.gettext("a", x=1) == "A 1"  # empty translation
    assert ru.gettext("b") == "B"  # fuzzy translation
    assert ru.gettext("c") == "C"  # not in the catalog at all


def test_parameter_values_are_not_reinterpreted(translator: Translator) -> None:
    text = translator.get("en").gettext("notify.new_order.customer", name="{0} {name} %s")
    assert text == "Customer: {0} {name} %s"


def test_a_missing_parameter_is_reported_with_the_key(translator: Translator) -> None:
    with pytest.raises(ValueError, match=r"notify\.status\.shipped"):
        translator.get("en").gettext("notify.status.shipped", wrong="x")


def test_loading_an_empty_directory_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no message catalogs"):
        Translator.load(tmp_path)


def test_a_default_locale_without_a_catalog_is_refused() -> None:
    with pytest.raises(ValueError, match="default locale 'en'"):
        Translator({"ru": {"a": "б"}})


def test_normalize_locale() -> None:
    assert normalize_locale("pt-BR") == "pt"
    assert normalize_locale(None) == ""
