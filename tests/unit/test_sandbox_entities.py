"""The sandbox's port of Telegram's text handling: HTML parse mode, errors, detection, limits.

Expected values follow TDLib's parse_html / fix_formatted_text / find_entities, which is
the code Telegram's Bot API server runs.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgshop.sandbox.entities import (
    EntityParseError,
    TextError,
    add_detected_entities,
    detect_entities,
    normalize_text,
    parse_html,
    render_text,
    utf16_length,
    visible_length,
)


def ent(type_: str, offset: int, length: int, **extra: Any) -> dict[str, Any]:
    return {"offset": offset, "length": length, "type": type_, **extra}


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        pytest.param("plain", "plain", [], id="plain"),
        pytest.param(
            "<b>bold</b> <strong>s</strong> <i>it</i> <em>e</em>",
            "bold s it e",
            [ent("bold", 0, 4), ent("bold", 5, 1), ent("italic", 7, 2), ent("italic", 10, 1)],
            id="bold-italic-aliases",
        ),
        pytest.param(
            "<u>u</u> <ins>i</ins> <s>s</s> <strike>k</strike> <del>d</del>",
            "u i s k d",
            [
                ent("underline", 0, 1),
                ent("underline", 2, 1),
                ent("strikethrough", 4, 1),
                ent("strikethrough", 6, 1),
                ent("strikethrough", 8, 1),
            ],
            id="underline-strike-aliases",
        ),
        pytest.param("<B>x</B>", "x", [ent("bold", 0, 1)], id="tags-case-insensitive"),
        pytest.param("<b >x</b >", "x", [ent("bold", 0, 1)], id="spaces-in-tags"),
        pytest.param("<b>x</>", "x", [ent("bold", 0, 1)], id="empty-end-tag-closes"),
        pytest.param(
            "<b><i>ab</i>c</b>",
            "abc",
            [ent("bold", 0, 3), ent("italic", 0, 2)],
            id="nested-same-start",
        ),
        pytest.param(
            # Telegram re-cuts overlapping formatting into runs: bold is split where italic starts.
            "<b>bold <i>italic bold</i></b>",
            "bold italic bold",
            [ent("bold", 0, 5), ent("bold", 5, 11), ent("italic", 5, 11)],
            id="nested-split-like-telegram",
        ),
        pytest.param("<b>a</b><b>b</b>", "ab", [ent("bold", 0, 2)], id="adjacent-merged"),
        pytest.param("<b></b>x", "x", [], id="empty-entity-dropped"),
        pytest.param(
            "😀 <b>x</b> 👍<i>y</i>",
            "😀 x 👍y",
            [ent("bold", 3, 1), ent("italic", 7, 1)],
            id="emoji-count-two-utf16-units",
        ),
        pytest.param("<b>😀</b>", "😀", [ent("bold", 0, 2)], id="emoji-inside-entity-has-length-2"),
        pytest.param("<b>é</b>ñ", "éñ", [ent("bold", 0, 1)], id="bmp-non-ascii-is-one-unit"),
        pytest.param(
            '<a href="https://example.com/a?b=1">link</a>',
            "link",
            [ent("text_link", 0, 4, url="https://example.com/a?b=1")],
            id="text-link",
        ),
        pytest.param(
            '<a href="https://Example.COM">x</a>',
            "x",
            [ent("text_link", 0, 1, url="https://example.com/")],
            id="text-link-normalised",
        ),
        pytest.param(
            "<a href=example.com>x</a>",
            "x",
            [ent("text_link", 0, 1, url="http://example.com/")],
            id="text-link-name-token-and-default-scheme",
        ),
        pytest.param(
            "<a href='https://a.io/?x=1&amp;y=2'>x</a>",
            "x",
            [ent("text_link", 0, 1, url="https://a.io/?x=1&y=2")],
            id="text-link-single-quotes-and-reference",
        ),
        pytest.param(
            "<a>https://t.me/shop</a>",
            "https://t.me/shop",
            [ent("text_link", 0, 17, url="https://t.me/shop")],
            id="link-without-href-uses-its-text",
        ),
        pytest.param(
            '<a href="tg://resolve?domain=shop_bot">x</a>',
            "x",
            [ent("text_link", 0, 1, url="tg://resolve?domain=shop_bot")],
            id="tg-link",
        ),
        pytest.param('<a href="javascript:alert(1)">x</a>', "x", [], id="invalid-link-dropped"),
        pytest.param('<a href="nodot">x</a>', "x", [], id="host-without-dot-dropped"),
        pytest.param(
            '<a href="tg://user?id=123456">Bob</a>',
            "Bob",
            [ent("text_mention", 0, 3, user={"id": 123456})],
            id="text-mention",
        ),
        pytest.param(
            '<a href="TG:user?id=42">Bob</a>',
            "Bob",
            [ent("text_mention", 0, 3, user={"id": 42})],
            id="text-mention-loose-form",
        ),
        pytest.param(
            '<pre><code class="language-python">print(1)</code></pre>',
            "print(1)",
            [ent("pre", 0, 8, language="python")],
            id="pre-with-language",
        ),
        pytest.param("<pre>a\nb</pre>", "a\nb", [ent("pre", 0, 3)], id="pre-keeps-newlines"),
        pytest.param(
            "<pre><code>x</code></pre>", "x", [ent("pre", 0, 1)], id="pre-code-without-language"
        ),
        pytest.param(
            '<code class="language-python">x</code>',
            "x",
            [ent("code", 0, 1)],
            id="code-language-ignored",
        ),
        pytest.param(
            "<pre><b>x</b></pre> <code><i>y</i></code>",
            "x y",
            [ent("pre", 0, 1), ent("code", 2, 1)],
            id="nothing-inside-pre-or-code",
        ),
        pytest.param(
            "<b>a <code>c</code> b</b>",
            "a c b",
            # code cannot be formatted: bold is cut around it
            [ent("bold", 0, 2), ent("code", 2, 1), ent("bold", 3, 2)],
            id="code-inside-bold-cuts-bold",
        ),
        pytest.param(
            '<span class="tg-spoiler">s</span> <tg-spoiler>t</tg-spoiler>',
            "s t",
            [ent("spoiler", 0, 1), ent("spoiler", 2, 1)],
            id="spoiler-both-forms",
        ),
        pytest.param(
            "<blockquote>q</blockquote>\n<blockquote expandable>e</blockquote>",
            "q\ne",
            [ent("blockquote", 0, 1), ent("expandable_blockquote", 2, 1)],
            id="blockquotes",
        ),
        pytest.param(
            "<blockquote><b>x</b> y</blockquote>",
            "x y",
            [ent("blockquote", 0, 3), ent("bold", 0, 1)],
            id="bold-inside-blockquote",
        ),
        pytest.param(
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
            "👍",
            [ent("custom_emoji", 0, 2, custom_emoji_id="5368324170671202286")],
            id="custom-emoji",
        ),
        pytest.param(
            '<tg-time unix="1700000000" format="wDT">soon</tg-time>',
            "soon",
            [ent("date_time", 0, 4, unix_time=1700000000, date_time_format="wDT")],
            id="tg-time",
        ),
        pytest.param(
            "&lt;b&gt; &amp; &quot; &#65;&#x42; &#x1F600;",
            '<b> & " AB 😀',
            [],
            id="supported-references",
        ),
        pytest.param("&lt&gt", "<>", [], id="semicolon-optional"),
        pytest.param(
            "a & b &nbsp; &LT; &#X41; &#0; &copy",
            "a & b &nbsp; &LT; &#X41; &#0; &copy",
            [],
            id="unsupported-references-kept-literally",
        ),
        pytest.param("line1\nline2", "line1\nline2", [], id="newlines-kept"),
        pytest.param("\n\n  hi <b>there</b> \n\n", "hi there", [ent("bold", 3, 5)], id="trimmed"),
        pytest.param(
            # Leading whitespace inside the first entity survives, trailing one never does.
            "  <b> x </b>  ",
            " x",
            [ent("bold", 0, 2)],
            id="trim-stops-at-first-entity",
        ),
        pytest.param("a\r\nb\tc", "a\nb c", [], id="cr-removed-tab-to-space"),
        pytest.param(
            "<b>a\r\nb</b>", "a\nb", [ent("bold", 0, 3)], id="removed-char-shrinks-entity"
        ),
        pytest.param("   ", "", [], id="only-whitespace-is-empty"),
        pytest.param("<b> </b>", "", [], id="whitespace-entity-is-empty"),
    ],
)
def test_parse_html(markup: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_html(markup) == (text, entities)


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("ok <br>", 'Unsupported start tag "br" at byte offset 3'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<b/>", 'Unsupported start tag "b/" at byte offset 0'),
        ("<!-- c -->", 'Unsupported start tag "!--" at byte offset 0'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</i>", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<i>x</b>", 'Unmatched end tag at byte offset 4, expected "</i>", found "</b>"'),
        # Byte offsets count UTF-8 bytes: "ñ" is 2 bytes, "😀" is 4.
        ("ñ<b>x</i>", 'Unmatched end tag at byte offset 6, expected "</b>", found "</i>"'),
        ("😀<b>x</i>", 'Unmatched end tag at byte offset 8, expected "</b>", found "</i>"'),
        ("bold</b>", "Unexpected end tag at byte offset 4"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<b>x</b x>", "Unclosed end tag at byte offset 4"),
        ("text <b", "Unclosed start tag at byte offset 5"),
        ('<a href="x', "Unclosed start tag at byte offset 0"),
        ("<a href", 'Unclosed start tag "a" at byte offset 0'),
        ("<a href=", 'Unclosed start tag "a" at byte offset 0'),
        ("<b x", 'Unclosed start tag "b" at byte offset 0'),
        ("<b =x>", 'Empty attribute name in the tag "b" at byte offset 0'),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        ('<tg-time unix="1" format="x">t</tg-time>', "Invalid date format used"),
        (
            "&#xD83D;&#xDE00;",
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units",
        ),
    ],
)
def test_parse_errors_match_telegram(markup: str, reason: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(markup)
    assert caught.value.reason == reason
    assert caught.value.description == "Bad Request: can't parse entities: " + reason


def test_parse_error_is_a_text_error_with_the_description_as_message() -> None:
    with pytest.raises(TextError, match=r"^Bad Request: can't parse entities: Unsupported"):
        parse_html("<script>")


def test_unknown_attributes_are_ignored() -> None:
    assert parse_html('<b class="x" data-y=1>z</b>') == ("z", [ent("bold", 0, 1)])


def test_attribute_names_are_case_sensitive() -> None:
    # HREF is not href: the link then points at its own text, which is no valid URL here.
    assert parse_html('<a HREF="https://a.com">text</a>') == ("text", [])


@given(st.text())
def test_escaped_text_comes_back_unchanged(raw: str) -> None:
    text, entities = parse_html(html.escape(raw, quote=False))
    assert entities == []
    assert text == normalize_text(raw)


_SAFE_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Mn", "Cf"), blacklist_characters="\r"
)


@given(st.text(_SAFE_CHARS).map(lambda s: s.strip(" \n")))
def test_escaped_clean_text_is_returned_verbatim(raw: str) -> None:
    assert parse_html(html.escape(raw, quote=False)) == (raw, [])


@given(st.text(_SAFE_CHARS, min_size=1).filter(lambda s: s.strip(" \n") == s))
def test_wrapping_in_bold_covers_the_whole_text(raw: str) -> None:
    text, entities = parse_html(f"<b>{html.escape(raw, quote=False)}</b>")
    assert text == raw
    assert entities == [ent("bold", 0, utf16_length(raw))]


def test_normalize_text() -> None:
    assert normalize_text("  a\r\n\u2028b\x00c \n") == "a\nb c"
    assert normalize_text("\u200e\u200e\u200fx") == "\u200c\u200c\u200fx"


def test_utf16_length() -> None:
    assert utf16_length("") == 0
    assert utf16_length("abc") == 3
    assert utf16_length("é") == 1
    assert utf16_length("😀") == 2
    assert utf16_length("a😀b👍") == 6


def test_limits_count_code_points_after_parsing() -> None:
    # 4096 emoji are 8192 UTF-16 units but 4096 characters for the 4096 limit.
    text, _ = parse_html("<b>" + "😀" * 4096 + "</b>")
    assert visible_length(text) == 4096
    assert utf16_length(text) == 8192
    # Markup does not count: only what is left after parsing.
    text, _ = parse_html("<i>" + "x" * 4096 + "</i>")
    assert visible_length(text) == 4096


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("/start", [ent("bot_command", 0, 6)]),
        ("/start@shop_bot", [ent("bot_command", 0, 15)]),
        ("/start payload", [ent("bot_command", 0, 6)]),
        ("hi /help me", [ent("bot_command", 3, 5)]),
        ("/s@ab", []),  # bot username too short
        ("a/b path/start", []),  # not at a word start
        ("/start/x", []),
        ("@durov hi", [ent("mention", 0, 6)]),
        ("@abc", []),  # 3 characters
        ("@gif", [ent("mention", 0, 4)]),  # the short usernames Telegram knows
        ("mail@example", []),  # not at a word start
        ("@" + "a" * 33, []),
        ("#tag #тег", [ent("hashtag", 0, 4), ent("hashtag", 5, 4)]),
        ("#123", []),  # needs a letter
        ("#a#b", []),
        ("$USD and $btc", [ent("cashtag", 0, 4)]),
        ("$1INCH", [ent("cashtag", 0, 6)]),
        ("😀 /start", [ent("bot_command", 3, 6)]),
        ("😀@durov", [ent("mention", 2, 6)]),
        (
            "see https://example.com/a_b?c=1.",
            [ent("url", 4, 27)],
        ),
        ("shop.com, and http://x.org", [ent("url", 0, 8), ent("url", 14, 12)]),
        ("(see https://a.io/x)", [ent("url", 5, 14)]),
        ("file.txt version 1.2", []),
        ("write to me@example.com", [ent("email", 9, 14)]),
        ("plain words", []),
    ],
)
def test_detect_entities(text: str, entities: list[dict[str, Any]]) -> None:
    assert detect_entities(text) == entities


def test_detected_entities_do_not_break_links_or_code() -> None:
    text, entities = parse_html(
        '<a href="https://a.com">@durov</a> <code>/start</code> @shop_owner'
    )
    assert add_detected_entities(text, entities) == [
        ent("text_link", 0, 6, url="https://a.com/"),
        ent("code", 7, 6),
        ent("mention", 14, 11),
    ]


def test_render_text_is_what_a_sent_message_contains() -> None:
    assert render_text("see <b>https://a.com</b> /start", "HTML") == (
        "see https://a.com /start",
        [ent("url", 4, 13), ent("bold", 4, 13), ent("bot_command", 18, 6)],
    )
    assert render_text("  <b>x</b>  ", None) == ("<b>x</b>", [])
    assert render_text("x", "none") == ("x", [])
    with pytest.raises(EntityParseError):
        render_text("<b>x", "html")
    with pytest.raises(TextError, match=r"^Bad Request: unsupported parse_mode$"):
        render_text("x", "bbcode")
    with pytest.raises(TextError, match=r"^Bad Request: text is too long$"):
        render_text("x" * ((1 << 15) + 1), None)
