"""Keeping a platform's secret out of what the receiver stores, however the sender escaped it.

A secret can reach a body in more spellings than its own: PHP's ``json_encode`` writes ``/``
as ``\\/``, any JSON string may spell a character ``\\u002f``, a form percent-encodes it
(``%2F``, ``%2f``; a space as ``+``), and a value may carry one of these inside another (a
URL with the key in its query string, inside a JSON string). Comparing bytes with the
secret misses all of them, so the comparison is made on *decoded* text: every way of
decoding the text with up to :data:`MAX_LAYERS` layers of JSON string escapes and
percent-encoding is searched for the secret, and each occurrence found is mapped back to the
characters of the stored text it came from, which become ``[redacted]``.

* :func:`redact_json` — a landing line that is valid JSON: each string token (object keys
  included) is decoded as JSON decodes it and searched as above; a token that holds the
  secret is written again with the occurrence replaced; a bare token (number, literal) that
  spells the secret becomes ``"[redacted]"``. Every other byte of the line stays as sent.
* :func:`redact_text` — a body kept as unreadable: the same search over the raw bytes.

A quick test comes first: a body without a backslash, a ``%`` or a ``+`` and without the
secret's bytes is returned after a few byte searches, and one whose decodings (computed
whole, without positions) do not hold the secret is returned as well — nearly every body
but Eduzz's legacy postback, in a few to a few tens of microseconds.
"""

from __future__ import annotations

import codecs
import re
from bisect import bisect_right
from collections.abc import Callable
from urllib.parse import unquote, unquote_plus

import orjson

REDACTED = "[redacted]"
REDACTED_TOKEN = b'"[redacted]"'
MAX_LAYERS = 4  # decodings applied on top of each other to a stored text (each shortens it)

_JSON_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # a surrogate pair
    r"|\\u([0-9a-fA-F]{4})|\\([\"\\/bfnrt])")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                "t": "\t"}
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_PERCENT_RUN_OR_PLUS = re.compile(r"(?:%[0-9A-Fa-f]{2})+|\+")
# a JSON string token, or a bare token (number, true / false / null) between the structure
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"{}\[\],:]+', re.DOTALL)

# (decoded text, [(decoded start, decoded end, source start, source end), ...])
Decoded = tuple[str, list[tuple[int, int, int, int]]]


def _json_char(match: re.Match) -> str:
    high, low, single, simple = match.groups()
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if single is not None:
        return chr(int(single, 16))
    return _JSON_SIMPLE[simple]


def _decode_json_escapes(text: str) -> Decoded:
    pieces, marks, last, position = [], [], 0, 0
    for match in _JSON_ESCAPE.finditer(text):
        char = _json_char(match)
        pieces.append(text[last:match.start()])
        position += match.start() - last
        marks.append((position, position + 1, match.start(), match.end()))
        pieces.append(char)
        position += 1
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces), marks


def _percent_decoder(plus: bool) -> Callable[[str], Decoded]:
    pattern = _PERCENT_RUN_OR_PLUS if plus else _PERCENT_RUN

    def decode(text: str) -> Decoded:
        pieces, marks, last, position = [], [], 0, 0
        for match in pattern.finditer(text):
            pieces.append(text[last:match.start()])
            position += match.start() - last
            last = match.end()
            if match.group() == "+":
                marks.append((position, position + 1, match.start(), match.end()))
                pieces.append(" ")
                position += 1
                continue
            # %XX bytes as UTF-8, one mark per character so a match maps to its own escapes
            decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
            start = match.start()
            for offset in range(match.start(), match.end(), 3):
                chars = decoder.decode(bytes([int(text[offset + 1:offset + 3], 16)]))
                if chars:
                    marks.append((position, position + len(chars), start, offset + 3))
                    pieces.append(chars)
                    position += len(chars)
                    start = offset + 3
            chars = decoder.decode(b"", final=True)
            if chars:
                marks.append((position, position + len(chars), start, match.end()))
                pieces.append(chars)
                position += len(chars)
        pieces.append(text[last:])
        return "".join(pieces), marks

    return decode


# each decoding: the character a text must hold for it to change anything, the decoding
# that maps each character back to its source (slow), and the same decoding without (fast)
_DECODINGS: tuple[tuple[str, Callable[[str], Decoded], Callable[[str], str]], ...] = (
    ("\\", _decode_json_escapes, lambda text: _JSON_ESCAPE.sub(_json_char, text)),
    ("%", _percent_decoder(plus=False),
     lambda text: unquote(text, errors="surrogateescape")),
    ("+", _percent_decoder(plus=True),  # a form: %XX, and + for a space
     lambda text: unquote_plus(text, errors="surrogateescape")),
)


def _contains(text: str, secret: str, layers: int) -> bool:
    """Whether the secret is in the text under some decoding (the quick test)."""
    seen, frontier = {text}, [text]
    for layer in range(layers + 1):
        following = []
        for current in frontier:
            if secret in current:
                return True
            if layer == layers:
                continue
            for trigger, _, decode in _DECODINGS:
                if trigger in current:
                    decoded = decode(current)
                    if decoded not in seen:  # decodings often commute: each text once
                        seen.add(decoded)
                        following.append(decoded)
        frontier = following
    return False


class _Layer:
    """One decoding of a text: maps a character of the decoded text to its source span."""

    def __init__(self, marks: list[tuple[int, int, int, int]]):
        self.marks = marks
        self.starts = [mark[0] for mark in marks]

    def source_span(self, index: int) -> tuple[int, int]:
        k = bisect_right(self.starts, index) - 1
        if k < 0:
            return index, index + 1
        start, end, source_start, source_end = self.marks[k]
        if index < end:
            return source_start, source_end
        shift = source_end - end  # characters after an escape keep the escape's shift
        return index + shift, index + shift + 1


def _views(text: str, depth: int) -> list[tuple[str, list[_Layer]]]:
    """The text and each distinct decoding of it (up to depth layers), with its layers."""
    views, seen, frontier = [(text, [])], {text}, [(text, [])]
    for _ in range(depth):
        following = []
        for current, layers in frontier:
            for trigger, decode, _ in _DECODINGS:
                if trigger not in current:
                    continue  # nothing for this decoding to change
                decoded, marks = decode(current)
                if not marks or decoded in seen:
                    continue
                seen.add(decoded)
                following.append((decoded, [*layers, _Layer(marks)]))
        views += following
        frontier = following
        if not frontier:
            break
    return views


def _secret_spans(text: str, secret: str, depth: int) -> list[tuple[int, int]]:
    spans = []
    for decoded, layers in _views(text, depth):
        found = decoded.find(secret)
        while found >= 0:
            start, end = found, found + len(secret)
            for layer in reversed(layers):
                start, end = layer.source_span(start)[0], layer.source_span(end - 1)[1]
            spans.append((start, end))
            found = decoded.find(secret, found + 1)
    return spans


def _might_hide(data: bytes, secret: bytes) -> bool:
    """False when no decoding can change the data and the secret's bytes are not in it."""
    return secret in data or b"\\" in data or b"%" in data or (b"+" in data and b" " in secret)


def scrub(text: str, secret: str, depth: int = MAX_LAYERS) -> str:
    """``text`` with every occurrence of the secret, under up to ``depth`` layers of decoding,
    as ``[redacted]``."""
    if not secret or not _contains(text, secret, depth):
        return text
    spans = sorted(_secret_spans(text, secret, depth))
    if not spans:
        return text
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:  # overlapping or touching: one redacted stretch
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, last = [], 0
    for start, end in merged:
        pieces += [text[last:start], REDACTED]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def redact_text(data: bytes, secret: bytes) -> bytes:
    """Bytes that are not JSON (an unreadable body): the secret under any decoding redacted."""
    if not secret or not _might_hide(data, secret):
        return data
    text = data.decode("utf-8", "surrogateescape")
    return scrub(text, secret.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape")


def redact_json(line: bytes, secret: bytes) -> bytes:
    """A valid JSON line with the secret redacted from every string and bare token.

    Tokens without the secret keep their bytes (escapes included); a string that holds it
    is written again, the occurrence as ``[redacted]``.
    """
    if not secret or not _might_hide(line, secret):
        return line
    text_secret = secret.decode("utf-8", "surrogateescape")
    # The quick test on the whole line first: its decodings hold every token's (a JSON
    # string's escapes cannot reach across its quotes), so a line it passes holds no secret.
    if not _contains(line.decode("utf-8", "surrogateescape"), text_secret, MAX_LAYERS):
        return line
    pieces, last = [], 0
    for match in _JSON_TOKEN.finditer(line):
        token = match.group()
        if not _might_hide(token, secret):
            continue
        if token[:1] == b'"':
            value = orjson.loads(token)  # the first layer: JSON's own
            clean = scrub(value, text_secret, MAX_LAYERS - 1)
            if clean != value:
                replacement = orjson.dumps(clean)
            elif secret in token:  # spelled out in the escapes themselves: the whole token
                replacement = REDACTED_TOKEN
            else:
                continue
        else:  # a bare token: a number or a literal that spells the secret
            bare = token.decode("utf-8", "surrogateescape")
            if not _contains(bare, text_secret, MAX_LAYERS):
                continue
            replacement = REDACTED_TOKEN
        pieces += [line[last:match.start()], replacement]
        last = match.end()
    if pieces:
        pieces.append(line[last:])
        line = b"".join(pieces)
    # what no single token holds (the secret across tokens): redacted in the raw bytes, even
    # if the line stops being JSON (the loader then quarantines it) — never stored in clear
    return redact_text(line, secret)
