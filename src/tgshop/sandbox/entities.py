"""What Telegram does to message text: HTML parse mode, normalisation and entity detection.

This is a pure module (no I/O) used by the sandbox Bot API server. Its rules are a port of
the code Telegram's own Bot API server runs (TDLib's ``parse_html``, ``fix_formatted_text``
and ``find_entities`` in ``td/telegram/MessageEntity.cpp``, and the error wrapping in
``telegram-bot-api/Client.cpp``), because the documentation at
https://core.telegram.org/bots/api#html-style leaves many cases open. The rules a bot meets:

* Supported tags: ``b strong i em u ins s strike del tg-spoiler span class="tg-spoiler"
  a href tg-emoji emoji-id code pre blockquote [expandable] tg-time``. Tag and attribute
  *values* given as bare name tokens are case-insensitive; attribute names are not.
* Only ``&lt; &gt; &amp; &quot;`` and numeric references (``&#123;``, ``&#x1F600;``, the
  ``;`` is optional) are decoded. Every other ``&`` — a bare one, ``&nbsp;``, ``&LT;`` — is
  kept literally: Telegram does not reject it. A numeric reference to a UTF-16 surrogate is
  an error.
* Any ``<`` starts a tag, so a literal ``<`` must be written ``&lt;``; ``a < b`` fails with
  ``Unsupported start tag "" at byte offset 2``. ``</>`` closes whatever tag is open.
* Errors read ``Bad Request: can't parse entities: <reason>``; byte offsets count bytes of
  the UTF-8 encoded input.
* Offsets and lengths of entities are UTF-16 code units (an emoji outside the BMP is 2).
* The final text is cleaned and trimmed like every message text: control characters
  become spaces, ``\\r`` and a few invisible characters (U+2028–U+202E, U+030A, U+0333,
  U+033F) are removed, trailing spaces/newlines are cut, and leading ones are cut only up to
  the first entity. Empty entities disappear; ``a`` links whose URL is invalid become plain
  text; overlapping formatting (bold, italic, underline, strikethrough, spoiler) is split
  and merged into the canonical non-overlapping form Telegram returns; pre/code cannot
  contain other entities (nested ones are dropped).
* Entities are sorted by offset, then length descending, then Telegram's type priority.
* The 4096 (text) and 1024 (caption) limits count Unicode code points of the final text
  (TDLib's ``utf8_length``), not UTF-16 units: see ``visible_length``.

Entity dicts have the Bot API JSON shape: ``offset``, ``length``, ``type`` and, depending
on the type, ``url``, ``user`` (``{"id": ...}`` only; the server fills in the rest of the
User), ``language``, ``custom_emoji_id``, ``unix_time``/``date_time_format``.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BAD_REQUEST_PREFIX",
    "EntityParseError",
    "TextError",
    "add_detected_entities",
    "detect_entities",
    "normalize_text",
    "parse_html",
    "render_text",
    "utf16_length",
    "visible_length",
]

BAD_REQUEST_PREFIX = "Bad Request: "
_PARSE_PREFIX = "Bad Request: can't parse entities: "
_RAW_TEXT_LIMIT_BYTES = 1 << 15  # the Bot API refuses longer text before parsing
_MAX_USER_ID = (1 << 40) - 1


class TextError(ValueError):
    """A message text Telegram refuses; ``description`` is the Bot API error description."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class EntityParseError(TextError):
    """``parse_mode`` markup Telegram cannot parse (a 400 "can't parse entities")."""

    def __init__(self, reason: str) -> None:
        super().__init__(_PARSE_PREFIX + reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Entities in TDLib's model. Types use Bot API names; "pre" with a language is TDLib's PreCode.

_SPLITTABLE = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})
_BLOCKQUOTE = frozenset({"blockquote", "expandable_blockquote"})
_PRE = frozenset({"pre", "code", "date_time"})
_CONTINUOUS = frozenset(
    {
        "mention",
        "hashtag",
        "bot_command",
        "url",
        "email",
        "text_link",
        "text_mention",
        "cashtag",
        "phone_number",
        "bank_card_number",
        "custom_emoji",
    }
)
_PRIORITY = {
    "mention": 50,
    "hashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "cashtag": 50,
    "phone_number": 50,
    "bank_card_number": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
    "code": 20,
    "pre": 11,
    "date_time": 30,
    "text_link": 49,
    "text_mention": 49,
    "blockquote": 0,
    "expandable_blockquote": 0,
}
_SPLITTABLE_ORDER = ("bold", "italic", "underline", "strikethrough", "spoiler")


@dataclass
class _Entity:
    type: str
    offset: int
    length: int
    argument: str = ""  # url, language, custom emoji id or date format, by type
    user_id: int = 0
    unix_time: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length

    def sort_key(self) -> tuple[int, int, int]:
        priority = _PRIORITY[self.type]
        if self.type == "pre" and self.argument:
            priority = 10  # PreCode sorts before Pre
        return (self.offset, -self.length, priority)

    def is_empty(self) -> bool:
        if self.length <= 0:
            return True
        if self.type == "text_link":
            return not self.argument
        if self.type == "text_mention":
            return not 0 < self.user_id <= _MAX_USER_ID
        if self.type == "date_time":
            return self.unix_time <= 0
        return False

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"offset": self.offset, "length": self.length, "type": self.type}
        if self.type == "text_link":
            result["url"] = self.argument
        elif self.type == "text_mention":
            result["user"] = {"id": self.user_id}
        elif self.type == "pre" and self.argument:
            result["language"] = self.argument
        elif self.type == "custom_emoji":
            result["custom_emoji_id"] = self.argument
        elif self.type == "date_time":
            result["unix_time"] = self.unix_time
            result["date_time_format"] = self.argument
        return result


def _sort(entities: list[_Entity]) -> None:
    entities.sort(key=_Entity.sort_key)


# ---------------------------------------------------------------------------------------------
# Public helpers


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of entity offsets and lengths."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def visible_length(plain_text: str) -> int:
    """Length Telegram compares with the 4096 text / 1024 caption limits.

    TDLib checks ``utf8_length(text)`` of the text *after* entity parsing and trimming, which
    counts Unicode code points: an emoji counts 1 here although it is 2 in entity offsets.
    """
    return len(plain_text)


def render_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The text and entities of a message a bot sends with ``text`` and ``parse_mode``.

    Parses the markup like the Bot API (``parse_mode`` is case-insensitive; empty or
    ``"none"`` means plain text), normalises the text and adds the entities Telegram detects
    by itself (URLs, mentions, hashtags, cashtags, bot commands, e-mails), exactly as they
    appear in the Message the Bot API returns. Checking emptiness and the 4096/1024 limit
    is left to the caller, which knows whether this is a text or a caption.
    """
    if len(text.encode("utf-8", "surrogatepass")) > _RAW_TEXT_LIMIT_BYTES:
        raise TextError("Bad Request: text is too long")
    mode = (parse_mode or "").lower()
    entities: list[dict[str, Any]] = []
    if mode in ("", "none") or not text:
        plain = normalize_text(text)
    elif mode == "html":
        plain, entities = parse_html(text)
    elif mode in ("markdown", "markdownv2"):
        raise NotImplementedError(f"the sandbox supports parse_mode HTML only, not {parse_mode!r}")
    else:
        raise TextError("Bad Request: unsupported parse_mode")
    return plain, add_detected_entities(plain, entities)


def normalize_text(text: str) -> str:
    """What Telegram makes of a plain message text (no entities): cleaned and trimmed."""
    cleaned, _ = _clean(text, [])
    return cleaned.strip(" \n")


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Bot API ``parse_mode=HTML`` markup into plain text and MessageEntity dicts.

    Raises ``EntityParseError`` with Telegram's description for markup Telegram rejects.
    The returned text is normalised (see the module docstring) and may be empty; the
    entities do not include auto-detected ones (see ``add_detected_entities``).
    """
    raw, entities = _parse_html_markup(text)
    plain, fixed = _fix_formatted_text(raw, entities)
    return plain, [entity.to_json() for entity in fixed]


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram finds in a text by itself, as added to every incoming message.

    ``bot_command`` (``/start``, ``/start@shop_bot``), ``mention`` (``@username``, 4–32 of
    ``[A-Za-z0-9_]``; TDLib also accepts the short ``@gif @nft @pic @ufc @vid``),
    ``hashtag``, ``cashtag`` (``$USD``, 1–8 capitals), ``url`` and ``email``. Mentions,
    commands, hashtags and cashtags follow TDLib exactly; URL and e-mail detection is a
    simplified, conservative version of TDLib's (a bare domain needs a well-known TLD).
    Phone and bank card numbers are not detected.
    """
    return [entity.to_json() for entity in _find_entities(text)]


def add_detected_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the auto-detected entities of ``text`` into ``entities`` like Telegram does.

    A detected entity is dropped where it would intersect a link, code, pre, mention or
    another non-formatting entity, or cross a blockquote border.
    """
    old = [_from_json(entity) for entity in entities]
    _sort(old)
    merged = _merge_new_entities(old, _find_entities(text))
    return [entity.to_json() for entity in merged]


def _from_json(entity: dict[str, Any]) -> _Entity:
    kind = entity["type"]
    result = _Entity(kind, int(entity["offset"]), int(entity["length"]))
    if kind == "text_link":
        result.argument = str(entity["url"])
    elif kind == "text_mention":
        result.user_id = int(entity["user"]["id"])
    elif kind == "pre":
        result.argument = str(entity.get("language") or "")
    elif kind == "custom_emoji":
        result.argument = str(entity["custom_emoji_id"])
    elif kind == "date_time":
        result.unix_time = int(entity["unix_time"])
        result.argument = str(entity.get("date_time_format") or "")
    return result


# ---------------------------------------------------------------------------------------------
# HTML markup -> raw text + entities (TDLib parse_html). Works on UTF-8 bytes like TDLib so
# that byte offsets in errors and every edge case (NUL bytes, unterminated input) match.

_SUPPORTED_TAGS = frozenset(
    {
        b"a",
        b"b",
        b"strong",
        b"i",
        b"em",
        b"s",
        b"strike",
        b"del",
        b"u",
        b"ins",
        b"tg-spoiler",
        b"tg-emoji",
        b"tg-time",
        b"span",
        b"pre",
        b"code",
        b"blockquote",
    }
)
_SIMPLE_TAGS = {
    b"b": "bold",
    b"strong": "bold",
    b"i": "italic",
    b"em": "italic",
    b"u": "underline",
    b"ins": "underline",
    b"s": "strikethrough",
    b"strike": "strikethrough",
    b"del": "strikethrough",
    b"tg-spoiler": "spoiler",
}
_NAMED_REFERENCES = {b"lt": ord("<"), b"gt": ord(">"), b"amp": ord("&"), b"quot": ord('"')}
_SPACE = frozenset(b" \t\r\n\0\v")  # TDLib's is_space; NUL doubles as end of input
_ALPHA = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Scanners (each always matches, possibly empty); NUL stops them like TDLib's end of string.
_TAG_NAME = re.compile(rb"[^ \t\r\n\0\v>]*")
_SPACES = re.compile(rb"[ \t\r\n\v]*")
_ATTRIBUTE_NAME = re.compile(rb"[^ \t\r\n\0\v=>/\"']*")
_NAME_TOKEN = re.compile(rb"[A-Za-z0-9.-]*")
_QUOTED_RUN = {ord('"'): re.compile(rb'[^"&\0]*'), ord("'"): re.compile(rb"[^'&\0]*")}


def _scan(scanner: re.Pattern[bytes], data: bytes, start: int) -> int:
    """Where the run ``scanner`` matches at ``start`` ends."""
    match = scanner.match(data, start)
    assert match is not None  # every scanner accepts the empty string
    return match.end()


_GT, _LT, _AMP, _SLASH, _EQ, _SEMI = (ord(c) for c in "><&/=;")


_MARKUP_CHAR = re.compile(rb"[<&]")


def _utf16_units(run: bytes) -> int:
    """UTF-16 length of UTF-8 bytes (which may contain encoded lone surrogates)."""
    if run.isascii():
        return len(run)
    return utf16_length(_decode(run))


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _decode_reference(data: bytes, pos: int) -> tuple[int, int] | None:
    """Decode the character reference at ``data[pos] == '&'``: (code point, next position)."""
    end = pos + 1
    code = 0
    if data[end] == ord("#"):
        end += 1
        if data[end] == ord("x"):
            end += 1
            while data[end] in _HEX:
                code = code * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while data[end] in _DIGITS:
                code = code * 10 + data[end] - ord("0")
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
    else:
        while data[end] in _ALPHA:
            end += 1
        named = _NAMED_REFERENCES.get(data[pos + 1 : end])
        if named is None:
            return None  # unsupported names are kept literally, not rejected
        code = named
    if data[end] == _SEMI:
        end += 1
    return code, end


def _to_int64(value: str) -> int | None:
    """TDLib's to_integer_safe<int64>: the whole string must be a decimal integer."""
    if not re.fullmatch(r"-?[0-9]+", value):
        return None
    number = int(value)
    return number if -(1 << 63) <= number < (1 << 63) else None


def _to_int32_lenient(value: str) -> int:
    """TDLib's to_integer<int32>: leading digits, silently wrapping."""
    match = re.match(r"(-?)([0-9]*)", value)
    assert match is not None
    number = int(match.group(2) or "0")
    if match.group(1):
        number = -number
    return (number + (1 << 31)) % (1 << 32) - (1 << 31)


@dataclass
class _OpenTag:
    name: bytes
    argument: str
    unix_time: int
    utf16_offset: int
    byte_offset: int  # where the tag's content starts in the output buffer


def _parse_html_markup(text: str) -> tuple[str, list[_Entity]]:
    source = text.encode("utf-8", "surrogatepass")
    size = len(source)
    data = source + b"\0"  # TDLib reads a NUL-terminated string
    out = bytearray()
    utf16 = 0
    has_surrogates = False
    open_tags: list[_OpenTag] = []
    entities: list[_Entity] = []
    i = 0
    while i < size:
        c = data[i]
        if c == _AMP:
            decoded = _decode_reference(data, i)
            if decoded is not None:
                code, i = decoded
                utf16 += 2 if code > 0xFFFF else 1
                has_surrogates = has_surrogates or 0xD800 <= code <= 0xDFFF
                out += chr(code).encode("utf-8", "surrogatepass")
                continue
        if c != _LT:
            # Copy the run of plain text up to the next markup character in one go.
            found = _MARKUP_CHAR.search(data, i + 1, size)
            run_end = found.start() if found else size
            run = data[i:run_end]
            utf16 += _utf16_units(run)
            out += run
            i = run_end
            continue

        begin = i
        i += 1
        if data[i] != _SLASH:
            i = _parse_start_tag(data, begin, utf16, len(out), open_tags)
        else:
            if not open_tags:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
            i = _scan(_TAG_NAME, data, i)
            end_name = data[begin + 2 : i].lower()
            i = _scan(_SPACES, data, i)
            if data[i] != _GT:
                raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
            tag = open_tags[-1]
            if end_name and end_name != tag.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {begin}, "
                    f'expected "</{_decode(tag.name)}>", found "</{_decode(end_name)}>"'
                )
            if utf16 > tag.utf16_offset:
                _close_tag(tag, utf16, out, entities)
            open_tags.pop()
        i += 1  # past the '>'
    if open_tags:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{_decode(open_tags[-1].name)}"'
        )
    for entity in entities:
        if entity.type == "code":
            entity.argument = ""  # a language only survives on pre
    if has_surrogates:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    _sort(entities)
    return _decode(bytes(out)), entities


def _parse_start_tag(
    data: bytes, begin: int, utf16: int, out_size: int, open_tags: list[_OpenTag]
) -> int:
    """Parse the start tag at ``data[begin] == '<'``; return the position of its '>'."""
    i = _scan(_TAG_NAME, data, begin + 1)
    if data[i] == 0:
        raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
    name = data[begin + 1 : i].lower()
    shown = _decode(name)
    if name not in _SUPPORTED_TAGS:
        raise EntityParseError(f'Unsupported start tag "{shown}" at byte offset {begin}')

    argument = ""
    unix_time = 0
    while data[i] != _GT:
        i = _scan(_SPACES, data, i)
        if data[i] == _GT:
            break
        attribute_begin = i
        i = _scan(_ATTRIBUTE_NAME, data, i)
        attribute = data[attribute_begin:i]
        if not attribute:
            raise EntityParseError(
                f'Empty attribute name in the tag "{shown}" at byte offset {begin}'
            )
        i = _scan(_SPACES, data, i)
        if data[i] != _EQ:
            if data[i] == 0:
                raise EntityParseError(f'Unclosed start tag "{shown}" at byte offset {begin}')
            if name == b"blockquote" and attribute == b"expandable":
                argument = "1"
            continue
        i = _scan(_SPACES, data, i + 1)
        if data[i] == 0:
            raise EntityParseError(f'Unclosed start tag "{shown}" at byte offset {begin}')

        if data[i] not in b"'\"":
            # A name token: letters, digits, periods and hyphens, case-insensitive.
            token_begin = i
            i = _scan(_NAME_TOKEN, data, i)
            value = _decode(data[token_begin:i].lower())
            if data[i] not in _SPACE and data[i] != _GT:
                raise EntityParseError(f"Unexpected end of name token at byte offset {token_begin}")
        else:
            quote = data[i]
            i += 1
            raw_value = bytearray()
            while data[i] != quote and data[i] != 0:
                if data[i] == _AMP:
                    decoded = _decode_reference(data, i)
                    if decoded is not None:
                        code, i = decoded
                        raw_value += chr(code).encode("utf-8", "surrogatepass")
                        continue
                # copy up to the next '&', closing quote or NUL at once
                run_end = _scan(_QUOTED_RUN[quote], data, i + 1)
                raw_value += data[i:run_end]
                i = run_end
            if data[i] == quote:
                i += 1
            value = _decode(bytes(raw_value))
        if data[i] == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")

        if (
            (name == b"a" and attribute == b"href")
            or (name == b"tg-emoji" and attribute == b"emoji-id")
            or (name == b"tg-time" and attribute == b"format")
        ):
            argument = value
        elif name == b"code" and attribute == b"class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif name == b"span" and attribute == b"class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif name == b"blockquote" and attribute == b"expandable":
            argument = "1"
        elif name == b"tg-time" and attribute == b"unix":
            unix_time = _to_int32_lenient(value)

    if name == b"span" and argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    open_tags.append(_OpenTag(name, argument, unix_time, utf16, out_size))
    return i


def _close_tag(tag: _OpenTag, utf16: int, out: bytearray, entities: list[_Entity]) -> None:
    """Turn a closed, non-empty tag into an entity (TDLib's rules, including pre+code)."""
    offset, length = tag.utf16_offset, utf16 - tag.utf16_offset
    simple = _SIMPLE_TAGS.get(tag.name)
    if simple is not None or tag.name == b"span":
        entities.append(_Entity(simple or "spoiler", offset, length))
    elif tag.name == b"tg-emoji":
        emoji_id = _to_int64(tag.argument)
        if not emoji_id:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(_Entity("custom_emoji", offset, length, str(emoji_id)))
    elif tag.name == b"tg-time":
        date_format = _date_time_format(tag.argument)
        if tag.unix_time > 0:
            entities.append(
                _Entity("date_time", offset, length, date_format, unix_time=tag.unix_time)
            )
    elif tag.name == b"a":
        url = tag.argument or _decode(bytes(out[tag.byte_offset :]))
        user_id = _link_user_id(url)
        if 0 < user_id <= _MAX_USER_ID:
            entities.append(_Entity("text_mention", offset, length, user_id=user_id))
        else:
            checked = _checked_link(url)
            if checked:
                entities.append(_Entity("text_link", offset, length, checked))
    elif tag.name == b"pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last.type == "code"
            and (last.offset, last.length) == (offset, length)
            and last.argument
        ):
            last.type = "pre"  # <pre><code class="language-x"> is one pre entity
        else:
            entities.append(_Entity("pre", offset, length))
    elif tag.name == b"code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last.type == "pre"
            and (last.offset, last.length) == (offset, length)
            and tag.argument
        ):
            last.argument = tag.argument
        else:
            entities.append(_Entity("code", offset, length, tag.argument))
    elif tag.name == b"blockquote":
        kind = "expandable_blockquote" if tag.argument else "blockquote"
        entities.append(_Entity(kind, offset, length))


def _date_time_format(date_format: str) -> str:
    """Validate a ``tg-time`` format and return it as the Bot API spells it back."""
    if date_format in ("r", "R"):
        return "r"
    if any(c not in "tTdDwW" for c in date_format):
        raise EntityParseError("Invalid date format used")
    result = "w" if ("w" in date_format or "W" in date_format) else ""
    if "d" in date_format:
        result += "d"
    elif "D" in date_format:
        result += "D"
    if "t" in date_format:
        result += "t"
    elif "T" in date_format:
        result += "T"
    return result


# ---------------------------------------------------------------------------------------------
# Links (TDLib LinkManager::get_link_user_id / get_checked_link and parse_url)


def _link_user_id(url: str) -> int:
    """The user id of a ``tg://user?id=<id>`` link, or 0."""
    rest = url.lower()
    if not rest.startswith("tg:"):
        return 0
    rest = rest[3:]
    if rest.startswith("//"):
        rest = rest[2:]
    if not rest.startswith("user") or (len(rest) > 4 and rest[4] not in "/?#"):
        return 0
    rest = rest[4:]
    if rest.startswith("/"):
        rest = rest[1:]
    if not rest.startswith("?"):
        return 0
    query = rest[1:].split("#", 1)[0]
    for parameter in query.split("&"):
        key, _, value = parameter.partition("=")
        if key == "id":
            return _to_int64(value) or 0
    return 0


@dataclass
class _HttpUrl:
    https: bool
    userinfo: str
    host: str
    is_ipv6: bool
    port: int
    query: str

    def url(self) -> str:
        result = "https://" if self.https else "http://"
        if self.userinfo:
            result += self.userinfo + "@"
        result += self.host
        if self.port:
            result += f":{self.port}"
        return result + self.query


_URL_PART_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_!$,~*'();&+="
)


def _url_part_ok(part: str, allow_colon: bool) -> bool:
    i = 0
    while i < len(part):
        c = part[i]
        if c in _URL_PART_CHARS or (allow_colon and c == ":") or ord(c) >= 128:
            i += 1
        elif c == "%" and re.match(r"[0-9a-fA-F]{2}", part[i + 1 : i + 3]):
            i += 3
        else:
            return False
    return True


def _parse_url(url: str) -> _HttpUrl | None:
    match = re.match(r"[^:/?#@\[\]]*", url)
    assert match is not None
    protocol = match.group(0).lower()
    rest = url
    https = False
    if url[match.end() : match.end() + 3] == "://":
        if protocol not in ("http", "https"):
            return None
        https = protocol == "https"
        rest = url[match.end() + 3 :]
    authority_end = len(rest)
    for sep in "/?#":
        found = rest.find(sep)
        if found != -1:
            authority_end = min(authority_end, found)
    authority, query = rest[:authority_end], rest[authority_end:]

    port = 0
    colon = len(authority) - 1
    while colon > 0 and authority[colon] not in ":]@":
        colon -= 1
    userinfo_host = authority
    if colon > 0 and authority[colon] == ":":
        port_text = authority[colon + 1 :]
        while len(port_text) > 1 and port_text[0] == "0":
            port_text = port_text[1:]
        parsed_port = int(port_text) if re.fullmatch(r"[0-9]{1,6}", port_text) else None
        if parsed_port is None or not 0 < parsed_port <= 65535:
            return None
        port = parsed_port
        userinfo_host = authority[:colon]
    userinfo, _, host = userinfo_host.rpartition("@")
    is_ipv6 = len(host) >= 2 and host[0] == "[" and host[-1] == "]"
    if is_ipv6:
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    if not host or host == ".":
        return None

    query = query.rstrip(" \t\r\n\v\0") or "/"
    query = ("" if query.startswith("/") else "/") + "".join(
        f"%{ord(c):02X}" if ord(c) <= 0x20 else c for c in query
    )
    host = host.lower()
    if not is_ipv6 and not (_url_part_ok(host, False) and _url_part_ok(userinfo, True)):
        return None
    return _HttpUrl(https, userinfo, host, is_ipv6, port, query)


def _checked_link(link: str) -> str:
    """The normalised URL Telegram stores for a text link, or "" when it is invalid."""
    scheme = ""
    for candidate in ("tg:", "ton:", "tonsite:"):
        if link[: len(candidate)].lower() == candidate:
            scheme = candidate[:-1]
            link = link[len(candidate) :]
            if link.startswith("//"):
                link = link[2:]
            break
    parsed = _parse_url(link)
    if parsed is None:
        return ""
    if scheme:
        if (
            link[:7].lower() == "http://"
            or parsed.https
            or parsed.userinfo
            or parsed.port
            or parsed.is_ipv6
        ):
            return ""
        allowed_dot = scheme == "tonsite"
        if any(
            not (c.isascii() and (c.isalnum() or c in "-_" or (allowed_dot and c == ".")))
            for c in parsed.host
        ):
            return ""
        query = parsed.query
        if len(query) > 1 and query[1] == "?":
            query = query[1:]
        return f"{scheme}://{parsed.host}{query}"
    if "." not in parsed.host and not parsed.is_ipv6:
        return ""
    return parsed.url()


# ---------------------------------------------------------------------------------------------
# Normalisation (TDLib fix_formatted_text)

_REMOVED_CHARS = frozenset(
    {chr(c) for c in range(0x2028, 0x202F)} | {"\u0333", "\u033f", "\u030a", "\r"}
)
_LRM_RLM = "\u200e\u200f"
_NEEDS_CLEANING = re.compile("[\x00-\x09\x0b-\x1f\r\u2028-\u202e\u0333\u033f\u030a\u200e\u200f]")


def _clean(text: str, entities: list[_Entity]) -> tuple[str, list[_Entity]]:
    """Replace control characters by spaces and drop invisible ones, moving entities along.

    ``entities`` must be sorted and properly nested (TDLib's clean_input_string_with_entities).
    """
    if _NEEDS_CLEANING.search(text) is None:
        return text, entities
    result: list[str] = []
    stack: list[tuple[_Entity, int]] = []  # entity, UTF-16 units skipped before it
    next_entity = 0
    utf16 = 0
    skipped = 0
    for ch in [*text, ""]:
        while stack and utf16 >= stack[-1][0].end:
            entity, skipped_before = stack.pop()
            entity.offset -= skipped_before
            entity.length -= skipped - skipped_before
        while next_entity < len(entities) and utf16 >= entities[next_entity].offset:
            stack.append((entities[next_entity], skipped))
            next_entity += 1
        if not ch:
            break
        code = ord(ch)
        width = 2 if code > 0xFFFF else 1
        utf16 += width
        if ch in _REMOVED_CHARS:
            skipped += width
        elif code < 32 and ch != "\n":
            result.append(" ")
        else:
            result.append(ch)
    cleaned = "".join(result)
    if "\u200e" in cleaned or "\u200f" in cleaned:
        # A run of LRM/RLM marks keeps only its last mark; the others become ZWNJ.
        cleaned = re.sub(
            f"[{_LRM_RLM}]+",
            lambda m: "\u200c" * (len(m.group(0)) - 1) + m.group(0)[-1],
            cleaned,
        )
    return cleaned, entities


def _fix_formatted_text(text: str, entities: list[_Entity]) -> tuple[str, list[_Entity]]:
    entities = [entity for entity in entities if not entity.is_empty()]
    entities = _fix_entities(entities)
    text, entities = _clean(text, entities)
    entities = [entity for entity in entities if not entity.is_empty()]

    stripped = text.rstrip(" \n")
    if not stripped:
        return "", []
    entities = _fix_entities(entities)

    # rtrim: entities are cut at the last visible character
    last = utf16_length(stripped)
    entities = [entity for entity in entities if entity.offset < last]
    for entity in entities:
        if entity.end > last:
            entity.length = last - entity.offset
    _sort(entities)

    # ltrim: leading spaces and newlines go, but never those inside the first entity
    first_entity = entities[0].offset if entities else len(stripped)
    cut = 0
    while cut < first_entity and stripped[cut] in " \n":
        cut += 1
    for entity in entities:
        entity.offset -= cut
    return stripped[cut:], entities


def _entities_are_valid(entities: list[_Entity]) -> bool:
    """TDLib's are_entities_valid: already in the canonical nested, merged form."""
    split_end: dict[str, int] = {}
    stack: list[_Entity] = []
    for entity in entities:
        while stack and entity.offset >= stack[-1].end:
            stack.pop()
        if stack:
            parent = stack[-1]
            nested = {e.type for e in stack}
            if entity.end > parent.end or entity.type in nested or parent.type in _PRE:
                return False
            if entity.type in _PRE and nested - _BLOCKQUOTE:
                return False
            if (entity.type in _CONTINUOUS or entity.type in _BLOCKQUOTE) and nested & _CONTINUOUS:
                return False
            if entity.type in _BLOCKQUOTE and nested & _BLOCKQUOTE:
                return False
            if nested & _SPLITTABLE:
                return False
        if entity.type in _SPLITTABLE:
            if split_end.get(entity.type, -1) >= entity.offset:
                return False
            split_end[entity.type] = entity.end
        stack.append(entity)
    return True


def _remove_intersecting(entities: list[_Entity]) -> list[_Entity]:
    """Keep only entities that neither intersect nor nest in an earlier one (sorted input)."""
    result: list[_Entity] = []
    last_end = 0
    for entity in entities:
        if entity.offset >= last_end:
            last_end = entity.end
            result.append(entity)
    return result


def _remove_crossing_blockquotes(
    entities: list[_Entity], blockquotes: list[_Entity]
) -> list[_Entity]:
    """Drop entities that cross a blockquote border (both lists sorted, non-intersecting)."""
    result: list[_Entity] = []
    index = 0
    for entity in entities:
        while index < len(blockquotes) and blockquotes[index].end <= entity.offset:
            index += 1
        if index < len(blockquotes):
            quote = blockquotes[index]
            if quote.end < entity.end or entity.offset < quote.offset < entity.end:
                continue
        result.append(entity)
    return result


def _split_entities(splittable: list[_Entity], others: list[_Entity]) -> list[_Entity]:
    """Re-cut formatting entities into maximal non-overlapping runs per type.

    Runs are cut wherever another entity starts or ends and wherever a new formatting run
    starts; formatting inside pre/code is dropped (TDLib's split_entities).
    """
    begin = dict.fromkeys(_SPLITTABLE_ORDER, 0)
    end = dict.fromkeys(_SPLITTABLE_ORDER, 0)
    result: list[_Entity] = []
    position = 0

    def flush(offset: int) -> None:
        for kind in _SPLITTABLE_ORDER:
            if end[kind] != 0 and begin[kind] < offset:
                if end[kind] <= offset:
                    result.append(_Entity(kind, begin[kind], end[kind] - begin[kind]))
                    begin[kind] = end[kind] = 0
                else:
                    result.append(_Entity(kind, begin[kind], offset - begin[kind]))
                    begin[kind] = offset

    def add_until(end_offset: int) -> None:
        nonlocal position
        while position < len(splittable) and splittable[position].offset < end_offset:
            entity = splittable[position]
            if end[entity.type] != 0 and entity.offset <= end[entity.type]:
                end[entity.type] = max(end[entity.type], entity.end)
            else:
                flush(entity.offset)
                begin[entity.type] = entity.offset
                end[entity.type] = entity.end
            position += 1
        flush(end_offset)

    stack: list[_Entity] = []

    def add_offset(offset: int) -> None:
        while stack and offset >= stack[-1].end:
            size_before = len(result)
            add_until(stack[-1].end)
            if stack[-1].type in _PRE:
                del result[size_before:]
            stack.pop()
        add_until(offset)

    for other in others:
        add_offset(other.offset)
        stack.append(other)
    add_offset(1 << 62)
    _sort(result)
    return result


def _resplit(splittable: list[_Entity], others: list[_Entity]) -> list[_Entity]:
    if not splittable:
        return others
    result = others + _split_entities(splittable, others)
    _sort(result)
    return result


def _partition(
    entities: list[_Entity],
) -> tuple[list[_Entity], list[_Entity], list[_Entity]]:
    continuous = [e for e in entities if e.type not in _SPLITTABLE and e.type not in _BLOCKQUOTE]
    blockquotes = [e for e in entities if e.type in _BLOCKQUOTE]
    splittable = [e for e in entities if e.type in _SPLITTABLE]
    return continuous, blockquotes, splittable


def _fix_entities(entities: list[_Entity]) -> list[_Entity]:
    _sort(entities)
    if _entities_are_valid(entities):
        return entities
    continuous, blockquotes, splittable = _partition(entities)
    continuous = _remove_intersecting(continuous)
    if blockquotes:
        blockquotes = _remove_intersecting(blockquotes)
        continuous = _remove_crossing_blockquotes(continuous, blockquotes)
        continuous = continuous + blockquotes
        _sort(continuous)
    return _resplit(splittable, continuous)


def _merge_new_entities(entities: list[_Entity], new: list[_Entity]) -> list[_Entity]:
    if not new:
        return entities
    continuous, blockquotes, splittable = _partition(entities)
    new = _remove_crossing_blockquotes(new, blockquotes)
    merged: list[_Entity] = []
    index = 0
    for old in continuous:
        while index < len(new) and new[index].end <= old.offset:
            merged.append(new[index])
            index += 1
        merged.append(old)
        while index < len(new) and new[index].offset < old.end:
            index += 1
    merged.extend(new[index:])
    if blockquotes:
        merged = merged + blockquotes
        _sort(merged)
    return _resplit(splittable, merged)


# ---------------------------------------------------------------------------------------------
# Entity detection (TDLib find_entities). Matching works on code points; offsets are then
# converted to UTF-16.


def _category(ch: str) -> str:
    return unicodedata.category(ch)


def _is_word_character(ch: str) -> bool:
    category = _category(ch)
    return category[0] == "L" or category[0] == "N" or ch == "_"


def _is_hashtag_letter(ch: str) -> bool:
    if ch in "_\u200c\u00b7" or 0xD80 <= ord(ch) <= 0xDFF:
        return True
    category = _category(ch)
    return category[0] == "L" or category == "Nd"


_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SHORT_USERNAMES = frozenset({"gif", "nft", "pic", "ufc", "vid"})


def _ascii_word_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end] in _ASCII_WORD:
        end += 1
    return end


def _find_mentions(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    start = text.find("@")
    while start != -1:
        after = start + 1
        if start == 0 or not _is_word_character(text[start - 1]):
            end = _ascii_word_end(text, after)
            size = end - after
            next_ok = end == len(text) or not _is_word_character(text[end])
            if (
                2 <= size <= 32
                and next_ok
                and (size >= 4 or text[after:end].lower() in _SHORT_USERNAMES)
            ):
                found.append((start, end))
        start = text.find("@", after)
    return found


def _find_bot_commands(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    start = text.find("/")
    while start != -1:
        after = start + 1
        if start == 0 or not (_is_word_character(text[start - 1]) or text[start - 1] in "/<>"):
            end = _ascii_word_end(text, after)
            ok = 1 <= end - after <= 64
            if ok and end < len(text) and text[end] == "@":
                username_end = _ascii_word_end(text, end + 1)
                ok = 3 <= username_end - end - 1 <= 32
                end = username_end
            if ok and (
                end == len(text) or not (_is_word_character(text[end]) or text[end] in "/<>")
            ):
                found.append((start, end))
        start = text.find("/", after)
    return found


def _find_hashtags(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    start = text.find("#")
    while start != -1:
        after = start + 1
        if start == 0 or not _is_hashtag_letter(text[start - 1]):
            end = after
            while end < len(text) and _is_hashtag_letter(text[end]):
                end += 1
            counted = text[after : min(end, after + 256)]  # longer hashtags are cut at 256
            has_letter = any(_category(ch)[0] == "L" for ch in counted)
            followed_by_hash = end < len(text) and text[end] == "#"
            if counted and has_letter and not followed_by_hash:
                found.append((start, after + len(counted)))
        start = text.find("#", after)
    return found


def _find_cashtags(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for match in re.finditer(r"\$(1INCH|[A-Z]{1,8})", text):
        start, end = match.span()
        if start > 0 and (_is_hashtag_letter(text[start - 1]) or text[start - 1] == "$"):
            continue
        if end < len(text) and (_is_hashtag_letter(text[end]) or text[end] == "$"):
            continue
        found.append((start, end))
    return found


# A conservative subset of TDLib's URL finder: explicit http(s)/ftp URLs with a dotted host,
# bare domains only with a well-known TLD; a path stops at whitespace, <, >, ", « and ».
_COMMON_TLDS = (
    "com|org|net|ru|io|me|dev|app|shop|store|info|biz|co|uk|de|fr|it|es|nl|eu|us|ua|by|kz|"
    "uz|in|jp|cn|br|ca|au|pl|tr|online|site|xyz|tech|ai|gg|tv|pro|club|ton"
)
_HOST = r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+"
_URL_RE = re.compile(
    r"(?<![\w@/#.])(?:"
    rf"(?:https?|ftp)://{_HOST}[^\W\d_]{{2,}}"
    rf"|{_HOST}(?:{_COMMON_TLDS})(?![\w-])"
    r")(?::[0-9]{1,5})?(?:[/?#][^\s<>\"«»]*)?",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(
    rf"(?<![\w.+-])[a-z0-9][a-z0-9._+-]*@{_HOST}[^\W\d_]{{2,}}(?![\w-])", re.IGNORECASE
)
_BAD_URL_END = ".:;,('?!`"


def _trim_url(url: str) -> str:
    """Cut unbalanced brackets and trailing punctuation off a URL (TDLib's fix_url)."""
    split = re.search(r"[/?#]", url)
    path_start = split.start() if split else len(url)
    balance = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    end = len(url)
    for index in range(path_start, len(url)):
        ch = url[index]
        if ch in balance:
            balance[ch] += 1
        elif ch in closing:
            balance[closing[ch]] -= 1
            if balance[closing[ch]] < 0:
                end = index
                break
    while end > path_start and url[end - 1] in _BAD_URL_END:
        end -= 1
    return url[:end]


def _find_urls(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    emails = [(m.start(), m.end()) for m in _EMAIL_RE.finditer(text)]
    found.extend((start, end, "email") for start, end in emails)
    for match in _URL_RE.finditer(text):
        start = match.start()
        end = start + len(_trim_url(match.group(0)))
        if any(start < e_end and e_start < end for e_start, e_end in emails):
            continue
        found.append((start, end, "url"))
    return found


def _find_entities(text: str) -> list[_Entity]:
    spans: list[tuple[int, int, str]] = []
    spans.extend((s, e, "mention") for s, e in _find_mentions(text))
    spans.extend((s, e, "bot_command") for s, e in _find_bot_commands(text))
    spans.extend((s, e, "hashtag") for s, e in _find_hashtags(text))
    spans.extend((s, e, "cashtag") for s, e in _find_cashtags(text))
    spans.extend(_find_urls(text))
    if not spans:
        return []
    # code point index -> UTF-16 offset
    utf16_at = [0] * (len(text) + 1)
    for index, ch in enumerate(text):
        utf16_at[index + 1] = utf16_at[index] + (2 if ord(ch) > 0xFFFF else 1)
    entities = [
        _Entity(kind, utf16_at[start], utf16_at[end] - utf16_at[start])
        for start, end, kind in spans
        if end > start
    ]
    _sort(entities)
    return _remove_intersecting(entities)
