"""Bytes to text when a file may not say its encoding, without ever guessing silently.

`StreamDecoder` decodes a file chunk by chunk. The encoding is, in this order:

1. the configured one (a source's `encoding`);
2. a byte-order mark: UTF-8 or UTF-16 (LE/BE);
3. else it is told from a window of `sample_size` bytes starting at the first byte
   that is not ASCII (ASCII before it decodes the same in every candidate and is
   passed on at once; a file of ASCII only is UTF-8):

   - UTF-8 when the window is valid UTF-8, or when its valid multi-byte characters
     outnumber its invalid bytes `UTF8_MAJORITY` to one: a UTF-8 file with a few
     damaged bytes (a row pasted from another program, a character cut in two) is
     still UTF-8, and only the damaged places are lost. Legacy Cyrillic text is
     almost never valid UTF-8 (two letters in a row, bytes C0-FF, cannot form a
     UTF-8 sequence), so it never gets near that ratio;
   - else a legacy code page, the first of `LEGACY` under which the window's words
     with non-ASCII bytes read as text: charset-normalizer's chaos measure at most
     `MAX_CHAOS`, and (its blind spot on short words) few words mixing Latin and
     Cyrillic letters, as "Оle-de-France" for "Île-de-France". cp1251 comes first:
     Russian registries are this service's main legacy source, and a sample too
     small to tell cp1251 from cp1252 is read as cp1251, as it always was;
   - else the file cannot be decoded with confidence, and that is a FatalError
     naming the source's `encoding` option and charset-normalizer's own guess.

   Many NUL bytes in the first `sample_size` bytes (one in `NUL_SHARE` or more) are
   fatal too: text in UTF-8 or a code page has next to none, so this is UTF-16
   without a byte-order mark (every ASCII character has a NUL), or not text.

Whatever the encoding, a byte sequence it cannot decode becomes U+FFFD in the text
and is reported as an `Undecodable` (byte offset in the file, the codec's reason,
index in the text) so the reader can refuse the record holding it and read on.
"""

from __future__ import annotations

import codecs
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache

from charset_normalizer import from_bytes

from connectors.framework.errors import FatalError

LEGACY = ("cp1251", "cp1252")
UTF8_MAJORITY = 4  # valid UTF-8 characters per invalid byte, at least
MAX_CHAOS = 0.2  # charset-normalizer's default threshold
MAX_MIXED = 0.1  # share of words mixing Latin and Cyrillic letters a reading tolerates
UNDEFINED_SHARE = 20  # a code page is refused when 1 character in 20 is undefined in it
NUL_SHARE = 16  # the share of NUL bytes (1 in 16) that makes a sample UTF-16 or binary
REPLACEMENT = "\ufffd"

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16-be"),
)
_NOT_ASCII = re.compile(rb"[\x80-\xff]")
_ESCAPED = re.compile("[\udc80-\udcff]")  # invalid UTF-8 bytes under "surrogateescape"
# A word holding a non-ASCII byte, with the ASCII letters around it (for the mixed check).
_WORD = re.compile(rb"[A-Za-z\x80-\xff]*[\x80-\xff][A-Za-z\x80-\xff]*")
_WORDS_KEPT = 8 * 1024  # bytes of such words a legacy reading is judged on


@dataclass(frozen=True)
class Undecodable:
    """A byte sequence the encoding cannot decode: where it is in the file and why."""

    offset: int  # bytes from the start of the file
    reason: str  # the codec's words, e.g. "invalid start byte"
    at: int  # index of its U+FFFD in the text it was returned with


@dataclass(frozen=True)
class Decoded:
    text: str
    undecodable: list[Undecodable] = field(default_factory=list)


_NOTHING = Decoded("")


class TextDecoder:
    """Incremental decoding in one codec that reports undecodable bytes and goes on.

    A character split across chunks waits for its other bytes. `offset` is where in
    the file the first byte given to it is, so offsets are the file's.
    """

    def __init__(self, codec: str, offset: int = 0) -> None:
        self.codec = codec
        self._decoder = codecs.getincrementaldecoder(codec)(_error_handler())
        self._end = offset  # file offset just past the bytes fed so far

    def decode(self, data: bytes, *, final: bool) -> Decoded:
        self._end += len(data)
        noted: list[tuple[int, str]] = []
        token = _NOTED.set(noted)
        try:
            text = self._decoder.decode(data, final)
        finally:
            _NOTED.reset(token)
        if not noted:
            return Decoded(text)
        found: list[Undecodable] = []
        at = -1
        for offset, reason in noted:
            at = text.index(_MARK, at + 1)
            found.append(Undecodable(self._end + offset, reason, at))
        return Decoded(text.replace(_MARK, REPLACEMENT), found)


# The error handler marks each undecodable sequence with a lone surrogate, which no
# codec produces from bytes it can decode, and notes where it was: the offset counted
# back from the end of what the codec saw (the bytes it held, then the new chunk).
_MARK = "\udcff"
_NOTED: ContextVar[list[tuple[int, str]]] = ContextVar("undecodable")


def _note(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    _NOTED.get().append((error.start - len(error.object), error.reason))
    return _MARK, error.end


@cache
def _error_handler() -> str:
    name = "guildgraph.undecodable"
    codecs.register_error(name, _note)
    return name


class StreamDecoder:
    """A file's bytes to text, its encoding chosen as the module docstring says.

    `encoding` is None until chosen, then the name the file is read in ("utf-8-sig"
    and "utf-16" for a file with a byte-order mark). Memory: the first `sample_size`
    bytes, then the window (as many), held until the choice is made.
    """

    def __init__(self, encoding: str | None, sample_size: int) -> None:
        self.encoding = encoding
        self._sample_size = max(sample_size, len(codecs.BOM_UTF8))
        self._head = bytearray()  # the first bytes, until BOM and NULs can be told
        self._head_done = False
        self._window = bytearray()  # from the first non-ASCII byte on, until the choice
        self._ascii = 0  # bytes passed on before the window (ASCII)
        self._text: TextDecoder | None = None

    def decode(self, chunk: bytes, *, final: bool) -> Decoded:
        if self._text is not None:
            return self._text.decode(chunk, final=final)
        if not self._head_done:
            self._head += chunk
            enough = len(codecs.BOM_UTF8) if self.encoding else self._sample_size
            if len(self._head) < enough and not final:
                return _NOTHING
            chunk, self._head, self._head_done = bytes(self._head), bytearray(), True
            chosen = self._declared(chunk)
            if chosen is not None:
                codec, skip = chosen
                self._text = TextDecoder(codec, skip)
                return self._text.decode(chunk[skip:], final=final)
            _refuse_nul(chunk[: self._sample_size])
        text = ""
        if not self._window:
            first = _NOT_ASCII.search(chunk)
            ascii_part = chunk if first is None else chunk[: first.start()]
            text = ascii_part.decode("ascii")
            self._ascii += len(ascii_part)
            chunk = b"" if first is None else chunk[first.start() :]
        self._window += chunk
        if not self._window:
            if final:  # ASCII only
                self.encoding = "utf-8"
                self._text = TextDecoder("utf-8", self._ascii)
            return Decoded(text)
        if len(self._window) < self._sample_size and not final:
            return Decoded(text)
        window, self._window = bytes(self._window), bytearray()
        self.encoding = choose(window, final=final, offset=self._ascii)
        self._text = TextDecoder(self.encoding, self._ascii)
        rest = self._text.decode(window, final=final)
        shift = len(text)
        return Decoded(
            text + rest.text,
            [Undecodable(u.offset, u.reason, u.at + shift) for u in rest.undecodable],
        )

    def _declared(self, head: bytes) -> tuple[str, int] | None:
        """(codec, bytes of BOM to skip) when configured or marked, else None."""
        for bom, name, codec in _BOMS:
            if head.startswith(bom) and self.encoding in (None, name):
                self.encoding = name
                return codec, len(bom)
        return None if self.encoding is None else (self.encoding, 0)


def _refuse_nul(sample: bytes) -> None:
    nuls = sample.count(0)
    if nuls and nuls * NUL_SHARE >= len(sample):
        raise FatalError(
            f"{nuls} NUL bytes in the first {len(sample)}, from byte {sample.index(0)} on: "
            "text in UTF-8 or a code page has next to none; is it UTF-16 without a "
            "byte-order mark, or not text? set the source's 'encoding' (e.g. 'utf-16-le')"
        )


def choose(window: bytes, *, final: bool, offset: int) -> str:
    """The encoding of `window` (bytes from `offset`, the first non-ASCII byte on)."""
    # Counted, not listed: a legacy window has an invalid byte every other byte or so.
    text, _ = codecs.utf_8_decode(window, "surrogateescape", final)
    valid = _ESCAPED.sub("", text)
    bad = len(text) - len(valid)  # invalid bytes
    good = len(valid) - len(valid.encode("ascii", "ignore"))  # multi-byte characters
    if bad == 0 or good >= UTF8_MAJORITY * bad:
        return "utf-8"
    found = _ESCAPED.search(text)
    first = offset + len(text[: found.start() if found else 0].encode("utf-8", "surrogateescape"))
    del text, valid
    words = _words(window)
    for codec in LEGACY:
        if _reads_as_text(words, codec):
            return codec
    guess = from_bytes(words, enable_fallback=False).best()
    hint = f"; charset-normalizer's guess is {guess.encoding}" if guess is not None else ""
    raise FatalError(
        f"cannot tell the file's encoding with confidence: from byte {offset} on it is not "
        f"UTF-8 ({bad} invalid bytes, the first at byte {first}, against {good} valid "
        f"characters), and read as {' or '.join(LEGACY)} it is not text either{hint}; "
        "set the source's 'encoding' (e.g. 'utf-8', 'cp1251', 'koi8-r')"
    )


def _words(window: bytes) -> bytes:
    """The window's words holding non-ASCII bytes, space-separated, up to _WORDS_KEPT."""
    kept = bytearray()
    for match in _WORD.finditer(window):
        kept += match.group()
        kept += b" "
        if len(kept) >= _WORDS_KEPT:
            break
    return bytes(kept)


def _reads_as_text(words: bytes, codec: str) -> bool:
    text = words.decode(codec, errors="replace")
    undefined = text.count(REPLACEMENT)
    if undefined * UNDEFINED_SHARE > len(text):
        return False  # many bytes the code page leaves undefined: not written in it
    if undefined:  # a stray one is a damaged row; judge the rest
        text = text.replace(REPLACEMENT, "")
        words = text.encode(codec)
    match = from_bytes(
        words,
        steps=1,
        chunk_size=max(len(words), 1),
        threshold=MAX_CHAOS,
        cp_isolation=[codec],
        enable_fallback=False,
    ).best()
    if match is None:
        return False
    split = text.split()
    mixed = sum(1 for word in split if _mixes_scripts(word))
    return mixed <= MAX_MIXED * len(split)


def _mixes_scripts(word: str) -> bool:
    latin = cyrillic = False
    for char in word:
        if "\u0400" <= char <= "\u04ff":
            cyrillic = True
        elif char.isalpha() and char <= "\u024f":
            latin = True
    return latin and cyrillic
