from tgshop.domain.catalog import escape_like, search_key


def test_search_key_folds_case_in_any_language() -> None:
    assert search_key("Зелёный ЧАЙ") == search_key("зелёный чай")
    assert search_key("STRASSE") == search_key("straße")  # casefold, not lower
    assert search_key("Ｓｅｎｃｈａ") == "sencha"  # NFKC: full-width letters


def test_search_key_joins_parts_and_skips_empty() -> None:
    assert search_key("Sencha", None, "", "100 g") == "sencha 100 g"


def test_like_wildcards_are_escaped() -> None:
    assert escape_like("50%_off\\") == "50\\%\\_off\\\\"
