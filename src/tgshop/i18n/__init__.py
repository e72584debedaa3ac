"""Message catalogs (gettext ``.po`` files, en and ru to start) and the translator over them."""

from tgshop.i18n.translator import DEFAULT_LOCALE, Translations, Translator

__all__ = ["DEFAULT_LOCALE", "Translations", "Translator"]
