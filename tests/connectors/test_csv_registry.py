"""CSV registries: the push parser on its own, then the stream over loopback HTTP."""

from __future__ import annotations

import codecs
import itertools
import tracemalloc
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from connectors.csv_registry import (
    CsvParser,
    CsvRegistryConfig,
    CsvRegistryConnector,
    CsvRow,
    sniff_delimiter,
)
from connectors.framework.charsets import choose
from connectors.framework.contract import Checkpoint, Emitted, Rejected
from connectors.framework.errors import FatalError
from connectors.net.fetcher import SafeFetcher
from schema.models import CommunityData, Listing
from tests.connectors.loopback import loopback_server

REGISTRIES = Path(__file__).parent / "fixtures" / "registries"
RU_NKO = REGISTRIES / "ru_nko_registry_cp1251.csv"
RU_CLUSTERS = REGISTRIES / "ru_clusters_utf8_bom.csv"
FR_TSV = REGISTRIES / "fr_associations.tsv"


# --- the parser -----------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    encoding: str | None
    delimiter: str | None
    headers: tuple[str, ...] | None
    rows: list[CsvRow]


def parse(data: bytes, chunk_sizes: Iterator[int] | None = None, **options: Any) -> Parsed:
    """Feed `data` to a parser in chunks of the given sizes (whole by default)."""
    parser = CsvParser(**options)
    rows: list[CsvRow] = []
    sizes = chunk_sizes or iter([len(data) or 1])
    position = 0
    while position < len(data):
        size = next(sizes)
        rows += parser.feed(data[position : position + size])
        position += size
    rows += parser.close()
    return Parsed(parser.encoding, parser.delimiter, parser.headers, rows)


def test_a_cp1251_semicolon_registry_is_detected_and_read() -> None:
    parser = parse(RU_NKO.read_bytes())
    rows = parser.rows

    assert (parser.encoding, parser.delimiter) == ("cp1251", ";")
    assert parser.headers is not None
    assert parser.headers[:6] == (
        "№ п/п",
        "Полное наименование",
        "Сокращенное наименование",
        "ОПФ",
        "ИНН",
        "ОГРН",
    )
    assert len(rows) == 6
    first = rows[0]
    assert first["ИНН"] == "0278123456"  # leading zero kept: cells are never numbers
    assert first["Полное наименование"] == (
        "Автономная некоммерческая организация «Центр цифровых компетенций»"
    )
    second = rows[1]
    assert second["Полное наименование"] == (
        'Некоммерческое партнёрство "Союз разработчиков программного обеспечения"'
    )
    assert second["Адрес (место нахождения)"] == (
        "г. Москва,\nБольшой Саввинский пер., д. 12, стр. 16,\nофис № 3"
    )
    # Lines count physical lines: the multi-line cell moves the next rows down.
    assert [row.line for row in rows] == [2, 3, 6, 7, 8, 9]
    assert rows[2]["ОГРН"] == ""
    assert rows[5]["Сокращенное наименование"] == "АНО ДПО «ШЁД»"


def test_a_utf8_bom_comma_registry_is_detected_and_read() -> None:
    parser = parse(RU_CLUSTERS.read_bytes())
    rows = parser.rows

    assert (parser.encoding, parser.delimiter) == ("utf-8-sig", ",")
    assert parser.headers is not None
    assert parser.headers[0] == "Наименование кластера"  # no BOM left in the first name
    assert [row["ИНН"] for row in rows] == ["5902123456", "4027123456", "6316012345", "0274123456"]
    assert rows[1]["Наименование кластера"] == (
        'Инновационный кластер "Фармацевтика, биотехнологии и биомедицина"'
    )
    assert rows[1]["Отрасли"] == "Биотехнологии, Здравоохранение"


def test_a_tab_separated_registry_is_detected_despite_commas_and_semicolons_in_cells() -> None:
    parser = parse(FR_TSV.read_bytes())
    rows = parser.rows

    assert (parser.encoding, parser.delimiter) == ("utf-8", "\t")
    assert [row["siren"] for row in rows] == ["005520135", "417654321", "098765432"]
    assert rows[0]["nom"] == "Syndicat des éditeurs de logiciels; section Île-de-France, Paris"
    assert rows[2]["nom"] == 'Réseau des professionnels du numérique "Méditerranée"'


def _ru_text() -> str:
    return RU_NKO.read_bytes().decode("cp1251")


@pytest.mark.parametrize(
    ("encode", "detected"),
    [
        (lambda text: text.encode("cp1251"), "cp1251"),
        (lambda text: text.encode("utf-8"), "utf-8"),
        (lambda text: codecs.BOM_UTF8 + text.encode("utf-8"), "utf-8-sig"),
        (lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"), "utf-16"),
        (lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "utf-16"),
    ],
    ids=["cp1251", "utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"],
)
def test_each_encoding_is_detected_and_decodes_the_same_rows(encode: Any, detected: str) -> None:
    reference = [dict(row) for row in parse(RU_NKO.read_bytes()).rows]

    parser = parse(encode(_ru_text()))

    assert parser.encoding == detected
    assert parser.headers is not None
    assert parser.headers[0] == "№ п/п"
    assert [dict(row) for row in parser.rows] == reference


def test_real_cyrillic_in_cp1251_is_never_valid_utf8() -> None:
    # The heuristic's premise, checked line by line on the fixture's text: each line
    # alone is invalid UTF-8, and is enough evidence to choose cp1251 when it is all
    # there is (in a longer file the choice waits for a whole sample: one line of
    # cp1251 pasted into a UTF-8 file must not make the whole file cp1251).
    for line in _ru_text().splitlines():
        if not line.isascii():
            with pytest.raises(UnicodeDecodeError):
                line.encode("cp1251").decode("utf-8")
            assert choose(line.encode("cp1251"), final=True, offset=0) == "cp1251"


def test_an_ascii_start_then_cp1251_switches_without_losing_text() -> None:
    # The sample (and more) is plain ASCII, so UTF-8 is only tentative; the first
    # cp1251 byte, much later, switches the decoder. "Ж" (C6) is a UTF-8 lead byte: cut
    # after it, the UTF-8 decoder holds it, and the switch must not drop it.
    ascii_rows = "".join(f"{n:010d};{n:013d};Association {n}\n" for n in range(3000))
    last = "0278123456;1170280012345;Жилищный союз «Ёж»\n"
    data = ("inn;ogrn;name\n" + ascii_rows + last).encode("cp1251")
    assert len(ascii_rows) > 64 * 1024
    cut = data.index("Ж".encode("cp1251")) + 1

    for sizes in (iter([len(data)]), itertools.cycle([4093]), iter([cut, len(data)])):
        parser = parse(data, sizes)
        rows = parser.rows
        assert parser.encoding == "cp1251"
        assert rows[0]["inn"] == "0000000000"
        assert rows[-1] == {
            "inn": "0278123456",
            "ogrn": "1170280012345",
            "name": "Жилищный союз «Ёж»",
        }


def test_invalid_utf8_after_real_utf8_rejects_that_row_naming_encoding_and_offset() -> None:
    data = "ИНН;Наименование\n0278123456;Ассоциация\n".encode() + b"7701234567;\xc0\xff\n"

    parsed = parse(data, itertools.cycle([8]), sample_size=16)

    assert parsed.encoding == "utf-8"
    assert [(dict(row), row.problem) for row in parsed.rows[:1]] == [
        ({"ИНН": "0278123456", "Наименование": "Ассоциация"}, None)
    ]
    offset = data.index(b"\xc0")
    assert parsed.rows[1].problem == (
        f"line 3: byte {offset} is not valid utf-8 (invalid start byte), and 1 more in this row; "
        "the row is left out"
    )


def test_configured_encoding_and_delimiter_override_detection() -> None:
    data = "a|b\n1|Ж\n".encode("koi8-r")

    parser = parse(data, encoding="koi8-r", delimiter="|")

    assert parser.rows == [{"a": "1", "b": "Ж"}]


# --- bytes that do not decode, and files whose encoding cannot be told ----------------


def _ru_rows(count: int) -> list[tuple[str, str]]:
    return [(f"{7700000000 + n}", f"Ассоциация разработчиков № {n} «Ёлка»") for n in range(count)]


# Kinds of damage one row of a UTF-8 file can carry (each is invalid UTF-8).
UTF8_DAMAGE = {
    "lone-continuation-byte": b"\x80",
    "a-cp1251-word": "Жук".encode("cp1251"),
    "a-character-cut-short": "Ж".encode()[:1],
    "overlong-slash": b"\xc0\xaf",
}
# (chunk sizes, sample size): whole, network-like pieces, and tiny pieces with a tiny
# sample, so the decision and the rows with damage both meet chunk boundaries.
PIECES = {
    "whole": (None, 64 * 1024),
    "every-4093": (4093, 64 * 1024),
    "every-5-sample-16": (5, 16),
}


@pytest.mark.parametrize("damage", UTF8_DAMAGE.values(), ids=list(UTF8_DAMAGE))
@pytest.mark.parametrize("count", [3, 40, 3000], ids=["3-rows", "40-rows", "3000-rows"])
@pytest.mark.parametrize("pieces", PIECES.values(), ids=list(PIECES))
def test_one_undecodable_row_in_a_utf8_file_is_rejected_and_the_rest_stay_intact(
    damage: bytes, count: int, pieces: tuple[int | None, int]
) -> None:
    # 3000 rows put the damage far beyond the encoding sample, 40 and 3 inside it.
    rows = _ru_rows(count)
    bad = count // 2
    encoded = [b"inn;name\n"] + [f"{inn};{name}\n".encode() for inn, name in rows]
    inn, name = rows[bad]
    encoded[bad + 1] = f"{inn};".encode() + damage + f"{name}\n".encode()
    data = b"".join(encoded)
    offset = sum(map(len, encoded[: bad + 1])) + len(inn) + 1
    size, sample = pieces

    parsed = parse(data, itertools.repeat(size) if size else None, sample_size=sample)

    assert parsed.encoding == "utf-8"
    kept = [(row["inn"], row["name"]) for row in parsed.rows if row.problem is None]
    assert kept == rows[:bad] + rows[bad + 1 :]  # every other name exactly as written
    [broken] = [row for row in parsed.rows if row.problem is not None]
    assert broken.line == bad + 2
    assert broken.problem is not None
    assert broken.problem.startswith(f"line {bad + 2}: byte {offset} is not valid utf-8 (")
    assert broken["inn"] == inn  # the row is kept for an admin, the damage marked
    assert "\ufffd" in broken["name"]


def test_an_undecodable_header_is_fatal_naming_encoding_and_offset() -> None:
    data = "ИНН;Наим".encode() + b"\xff" + "енование\n".encode()
    data += "".join(f"{inn};{name}\n" for inn, name in _ru_rows(20)).encode()

    with pytest.raises(FatalError, match=r"CSV header \(line 1\): byte 15 is not valid utf-8"):
        parse(data)


@pytest.mark.parametrize("configured", [None, "cp1251"])
def test_a_byte_cp1251_does_not_define_rejects_its_row_only(configured: str | None) -> None:
    # 0x98 is the one byte cp1251 leaves undefined.
    head = "ИНН;Наименование\n0278123456;Ассоциация «Ёлка»\n7701234567;Союз ".encode("cp1251")
    data = head + b"\x98" + "разработчиков\n7702000000;Клуб\n".encode("cp1251")

    parsed = parse(data, encoding=configured)

    assert parsed.encoding == "cp1251"
    assert [(dict(row), row.problem) for row in parsed.rows if row.problem is None] == [
        ({"ИНН": "0278123456", "Наименование": "Ассоциация «Ёлка»"}, None),
        ({"ИНН": "7702000000", "Наименование": "Клуб"}, None),
    ]
    assert parsed.rows[1].problem == (
        f"line 3: byte {len(head)} is not valid cp1251 "
        "(character maps to <undefined>); the row is left out"
    )


@pytest.mark.parametrize("size", [None, 3, 5], ids=["whole", "every-3", "every-5"])
def test_a_lone_surrogate_in_a_utf16_file_rejects_its_row_only(size: int | None) -> None:
    head = codecs.BOM_UTF16_LE + "inn;name\n1;Ассоциация\n2;".encode("utf-16-le")
    data = head + b"\x00\xd8" + "Клуб\n3;Союз\n".encode("utf-16-le")

    parsed = parse(data, itertools.repeat(size) if size else None)

    assert parsed.encoding == "utf-16"
    assert [(row["inn"], row.problem) for row in parsed.rows] == [
        ("1", None),
        (
            "2",
            f"line 3: byte {len(head)} is not valid utf-16 (illegal UTF-16 surrogate); "
            "the row is left out",
        ),
        ("3", None),
    ]


def test_a_file_half_in_utf8_and_half_in_cp1251_cannot_be_told_and_is_fatal() -> None:
    rows = [f"{inn};{name}\n" for inn, name in _ru_rows(20)]
    data = b"inn;name\n" + "".join(rows[:10]).encode() + "".join(rows[10:]).encode("cp1251")

    with pytest.raises(FatalError, match=r"cannot tell the file's encoding.*'encoding'"):
        parse(data)


def test_a_western_european_legacy_file_is_read_as_cp1252() -> None:
    text = (
        "siren;nom;ville\n"
        "005520135;Fédération des éditeurs de logiciels;Île-de-France\n"
        "417654321;Verein für Softwareentwicklung Köln;Düsseldorf\n"
        "098765432;Réseau des professionnels du numérique;Méditerranée\n"
    )

    parsed = parse(text.encode("cp1252"))

    assert parsed.encoding == "cp1252"
    assert [row["ville"] for row in parsed.rows] == ["Île-de-France", "Düsseldorf", "Méditerranée"]
    assert parsed.rows[0]["nom"] == "Fédération des éditeurs de logiciels"


def test_a_koi8_file_is_not_read_as_cp1251_and_is_fatal_naming_the_option() -> None:
    text = "ИНН;Наименование\n" + "".join(f"{i};{n}\n" for i, n in _ru_rows(10))
    data = text.replace("№", "N").replace("«", '"').replace("»", '"').encode("koi8-r")

    with pytest.raises(FatalError, match=r"cannot tell the file's encoding.*'encoding'"):
        parse(data)
    assert parse(data, encoding="koi8-r").rows[0]["Наименование"].startswith("Ассоциация")


def test_utf16_without_a_byte_order_mark_is_fatal_not_garbage() -> None:
    data = "inn;name\n0278123456;Ассоциация\n".encode("utf-16-le")

    with pytest.raises(FatalError, match=r"NUL bytes .* from byte 1 on.*UTF-16.*'encoding'"):
        parse(data)


def test_a_stray_nul_byte_is_not_mistaken_for_utf16() -> None:
    # One NUL in a text file is junk in one cell (removed at ingestion), not a reason
    # to refuse the file.
    rows = "".join(f"{inn};{name}\n" for inn, name in _ru_rows(20))
    data = ("inn;name\n" + rows).encode().replace(b"\xe2\x84\x96 1 ", b"\x00 1 ")

    assert parse(data).rows[1]["name"] == "Ассоциация разработчиков \x00 1 «Ёлка»"


FIXTURES = [RU_NKO, RU_CLUSTERS, FR_TSV]
CHUNKINGS = {
    **{f"every-{n}": n for n in range(1, 8)},
    "cycle-1-to-7": None,
}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("sample_size", [16, 64 * 1024])
def test_chunk_boundaries_anywhere_give_the_same_rows(
    path: Path, chunking: str, sample_size: int
) -> None:
    # A small sample means the encoding is chosen early and the rest goes through
    # the incremental decoder: chunks then split multi-byte characters, CRLF pairs
    # and quoted multi-line cells.
    data = path.read_bytes()
    whole = parse(data)
    size = CHUNKINGS[chunking]
    sizes = itertools.cycle(range(1, 8)) if size is None else itertools.repeat(size)

    pieces = parse(data, sizes, sample_size=sample_size)

    assert (pieces.encoding, pieces.delimiter, pieces.headers) == (
        whole.encoding,
        whole.delimiter,
        whole.headers,
    )
    got = [(dict(row), row.line, row.problem) for row in pieces.rows]
    assert got == [(dict(row), row.line, row.problem) for row in whole.rows]


def test_a_character_split_between_chunks_waits_for_its_other_bytes() -> None:
    parser = CsvParser(sample_size=4, delimiter=";")
    data = "имя;ИНН\nЖук;0012\n".encode()
    split = data.index("Ж".encode()) + 1  # between the two bytes of Ж

    assert parser.feed(data[:split]) == []
    assert parser.feed(data[split:]) == [{"имя": "Жук", "ИНН": "0012"}]
    assert parser.close() == []


def test_a_quoted_multiline_cell_is_one_row_only_once_its_quote_closes() -> None:
    parser = CsvParser(sample_size=4, delimiter=";", encoding="utf-8")
    assert parser.feed(b'name;address\nA;"line 1\n') == []
    assert parser.feed(b"line 2\n") == []

    rows = parser.feed(b'line 3";\nB;x\n')

    assert rows == [
        {"name": "A", "address": "line 1\nline 2\nline 3"},
        {"name": "B", "address": "x"},
    ]
    assert [row.line for row in rows] == [2, 5]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a,b,c\n1,2;5,3\n", ","),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ('"x;y",b,c\n"1;2",3,4\n', ","),  # delimiters inside quotes do not count
        ('a;"b\nc";d\n1;2;3\n', ";"),  # a header cell spanning lines
        ("a,b;c;d\n1,2;3;4\n", ";"),  # the most columns wins
        ("single\nvalue\n", ","),  # one column: any delimiter reads it
        ("a;b\n1;2\n3;4,5,6,7", ";"),  # the last line may be cut short: ignored
    ],
)
def test_the_delimiter_is_sniffed_from_the_first_lines(sample: str, expected: str) -> None:
    assert sniff_delimiter(sample) == expected


def test_header_names_are_normalized() -> None:
    data = '\ufeff ИНН ;"Полное\nнаименование";Дата\u00a0регистрации;;\n1;2;3;;\n'.encode()

    parser = parse(data, encoding="utf-8")

    assert parser.headers == ("ИНН", "Полное наименование", "Дата регистрации")
    assert parser.rows == [{"ИНН": "1", "Полное наименование": "2", "Дата регистрации": "3"}]


def test_a_duplicate_header_is_fatal() -> None:
    with pytest.raises(FatalError, match=r"column 'ИНН' appears twice \(columns 1 and 3\)"):
        parse("ИНН;ОГРН;ИНН\n1;2;3\n".encode("cp1251"))


def test_an_empty_header_in_the_middle_is_fatal() -> None:
    with pytest.raises(FatalError, match="column 2 has no name"):
        parse(b"inn;;name\n1;2;3\n")


def test_rows_wider_than_the_header_carry_a_problem_and_short_rows_are_padded() -> None:
    rows = parse(b"a;b;c\n1;2;3;4\n1;2\n1;2;3;;\n;;\n").rows

    assert rows[0].problem == "line 2: 4 cells for 3 columns"
    assert rows[0].extra == ("4",)
    assert (rows[1], rows[1].problem) == ({"a": "1", "b": "2", "c": ""}, None)
    assert (rows[2], rows[2].problem) == ({"a": "1", "b": "2", "c": "3"}, None)  # empty extras
    assert len(rows) == 3  # the row of delimiters only is skipped like a blank line


def test_a_quote_never_closed_is_fatal_at_the_end() -> None:
    with pytest.raises(FatalError, match="line 2: a quoted cell is never closed"):
        parse(b'a;b\n1;"open\n2;3\n')


def test_a_runaway_record_is_fatal_before_memory_grows() -> None:
    parser = CsvParser(delimiter=";", max_record_chars=100, sample_size=16)
    parser.feed(b'a;b\n1;"')
    for _ in range(8):
        parser.feed(b"x" * 10 + b"\n")  # the record is 91 characters long, still open

    with pytest.raises(FatalError, match="line 2: a record runs over 100 characters"):
        parser.feed(b"x" * 10 + b"\n")


def test_an_empty_file_is_fatal() -> None:
    with pytest.raises(FatalError, match="empty"):
        parse(b"")
    with pytest.raises(FatalError, match="empty"):
        parse(b"\r\n\r\n")


def test_rows_stream_out_with_bounded_memory() -> None:
    row = (
        "0278123456;1170280012345;Автономная некоммерческая организация «Центр цифровых "
        "компетенций и развития кадрового потенциала»;Республика Башкортостан;г. Уфа, "
        "ул. Цюрупы, д. 7, офис 12;https://cck-ufa.example.ru;ИТ, Образование\r\n"
    )
    header = "ИНН;ОГРН;Наименование;Регион;Адрес;Сайт;Отрасль\r\n".encode("cp1251")
    block = (row * 80).encode("cp1251")  # ~18 KB, a network-sized chunk
    blocks = 150  # ~2.7 MB in all
    parser = CsvParser()
    seen_before_close = 0

    tracemalloc.start()
    try:
        seen_before_close += len(parser.feed(header))
        for _ in range(blocks):
            seen_before_close += len(parser.feed(block))  # rows dropped, as a stream does
        rest = len(parser.close())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert seen_before_close + rest == 80 * blocks
    assert seen_before_close >= 80 * (blocks - 4)  # rows come out as chunks arrive
    assert peak < 1024 * 1024, f"peak {peak} bytes for {len(block) * blocks} bytes of CSV"


# --- configuration ----------------------------------------------------------------------

RU_MAPPING: dict[str, Any] = {
    "entity": "community",
    "external_id": "ОГРН",
    "fields": {
        "name.ru": "Полное наименование",
        # `split` on a character absent from the cell wraps the short name into a list.
        "aliases": {"source": "Сокращенное наименование", "split": "|"},
        "form": {
            "source": "ОПФ",
            "values": {"АНО": "association", "НП": "association", "Ассоциация": "association"},
        },
        "kind": {"value": "national"},
        "countries": {"value": ["RU"]},
        "region": "Регион",
        "website": "Сайт",
        "industries": {
            "source": "Отрасль",
            "split": ",",
            "values": {
                "ИТ": "it",
                "Образование": "education",
                "Здравоохранение": "healthcare",
                "Энергетика": "energy",
                "Транспорт": "transport",
            },
        },
        "identifiers.inn": "ИНН",
        "identifiers.ogrn": "ОГРН",
    },
}


def config(url: str, **overrides: Any) -> CsvRegistryConfig:
    return CsvRegistryConfig.model_validate({"url": url, "mapping": RU_MAPPING, **overrides})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"encoding": "cp-nonsense"}, "encoding"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": '"'}, "delimiter"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"url": "ftp://registry.example/x.csv"}, "url"),
        ({"sheet": 1}, "sheet"),
    ],
)
def test_bad_configuration_names_the_field(overrides: dict[str, Any], field: str) -> None:
    given = {"url": "https://registry.example/reestr.csv", "mapping": RU_MAPPING, **overrides}

    with pytest.raises(ValidationError) as caught:
        CsvRegistryConfig.model_validate(given)

    assert caught.value.errors()[0]["loc"][0] == field


def test_configured_encoding_is_normalized() -> None:
    assert config("https://registry.example/r.csv", encoding="Windows-1251").encoding == "cp1251"


# --- the stream over HTTP ---------------------------------------------------------------

ETAG = '"reestr-2024-06-01"'


def registry_route(body: bytes, etag: str = ETAG) -> Any:
    def handler(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="text/csv", headers={"ETag": etag})

    return handler


async def collect(
    stream: Any, state: dict[str, Any] | None = None, *, stop_after_checkpoints: int | None = None
) -> list[Emitted]:
    """Everything the stream yields; with `stop_after_checkpoints`, the consumer stops
    there as a crashed run would."""
    items: list[Emitted] = []
    # An async generator: closed at once when the consumer stops, as the engine does.
    records = cast(AsyncGenerator[Emitted, None], stream.records(state))
    try:
        async for item in records:
            items.append(item)
            checkpoints = sum(isinstance(i, Checkpoint) for i in items)
            if stop_after_checkpoints is not None and checkpoints == stop_after_checkpoints:
                break
    finally:
        await records.aclose()
    return items


def listings(items: list[Emitted]) -> list[Listing]:
    return [item for item in items if isinstance(item, Listing)]


async def test_the_registry_maps_rows_and_rejects_the_broken_one(fetcher: SafeFetcher) -> None:
    async with loopback_server({"/reestr.csv": registry_route(RU_NKO.read_bytes())}) as server:
        url = server.url("/reestr.csv")
        connector = CsvRegistryConnector("minjust-nko", config(url, checkpoint_every=2), fetcher)
        [stream] = connector.streams()
        items = await collect(stream)

    assert (stream.name, stream.entity, stream.primary_key) == ("registry", "community", ("ОГРН",))
    found = listings(items)
    assert [listing.external_id for listing in found] == [
        "1170280012345",
        "1027700123456",
        "1116600004567",
        "1020300987654",
        "1195476012340",
    ]
    [rejected] = [item for item in items if isinstance(item, Rejected)]
    assert rejected.reason == "line 6: no value for the external id (ОГРН)"
    assert rejected.raw["ИНН"] == "0105012345"
    checkpoints = [item.state for item in items if isinstance(item, Checkpoint)]
    assert checkpoints == [
        {"etag": ETAG, "rows": 2},
        {"etag": ETAG, "rows": 4},
        {"etag": ETAG, "rows": 6},
        {"etag": ETAG},
    ]
    assert isinstance(items[-1], Checkpoint)

    first = found[0]
    assert (first.entity, first.source_id, first.url) == ("community", "minjust-nko", url)
    assert first.payload == {
        "name": {"ru": "Автономная некоммерческая организация «Центр цифровых компетенций»"},
        "aliases": ["АНО «ЦЦК»"],
        "form": "association",
        "kind": "national",
        "countries": ["RU"],
        "region": "Республика Башкортостан",
        "website": "https://cck-ufa.example.ru",
        "industries": ["it", "education"],
        "identifiers": [
            {"scheme": "inn", "value": "0278123456"},
            {"scheme": "ogrn", "value": "1170280012345"},
        ],
    }
    for listing in found:  # every payload is a valid community ("Ассоциация " too)
        assert CommunityData.model_validate(listing.payload).form == "association"
    assert [i["value"] for i in found[3].payload["identifiers"]] == ["0326012345", "1020300987654"]


async def test_an_unchanged_registry_yields_nothing_but_its_checkpoint(
    fetcher: SafeFetcher,
) -> None:
    route = registry_route(RU_NKO.read_bytes())
    async with loopback_server({"/reestr.csv": route}) as server:
        stream = CsvRegistryConnector("nko", config(server.url("/reestr.csv")), fetcher).streams()[
            0
        ]
        first = await collect(stream)
        final = first[-1]
        assert isinstance(final, Checkpoint)

        second = await collect(stream, final.state)

        requests = server.seen["/reestr.csv"]
    assert requests[0].headers.get("if-none-match") is None
    assert requests[1].headers.get("if-none-match") == ETAG
    assert second == [Checkpoint({"etag": ETAG})]


async def test_last_modified_is_kept_and_sent_back_when_there_is_no_etag(
    fetcher: SafeFetcher,
) -> None:
    stamp = "Sat, 01 Jun 2024 10:00:00 GMT"

    def handler(request: Request) -> Response:
        if request.headers.get("if-modified-since") == stamp:
            return Response(status_code=304)
        return Response(RU_CLUSTERS.read_bytes(), headers={"Last-Modified": stamp})

    cluster_mapping = {
        "entity": "community",
        "external_id": "ОГРН",
        "fields": {
            "name.ru": "Наименование кластера",
            "form": {"value": "cluster"},
            "kind": {"value": "national"},
            "member_count": "Количество участников",
            "identifiers.inn": "ИНН",
        },
    }
    async with loopback_server({"/clusters.csv": handler}) as server:
        stream = CsvRegistryConnector(
            "clusters",
            CsvRegistryConfig.model_validate(
                {"url": server.url("/clusters.csv"), "mapping": cluster_mapping}
            ),
            fetcher,
        ).streams()[0]
        first = await collect(stream)
        final = first[-1]
        assert isinstance(final, Checkpoint)
        second = await collect(stream, final.state)

    assert [listing.payload["identifiers"][0]["value"] for listing in listings(first)][-1] == (
        "0274123456"
    )
    assert CommunityData.model_validate(listings(first)[0].payload).member_count == 34
    assert first[-1] == Checkpoint({"last_modified": stamp})
    assert second == [Checkpoint({"last_modified": stamp})]


async def test_a_resumed_run_skips_the_rows_already_emitted(fetcher: SafeFetcher) -> None:
    async with loopback_server({"/reestr.csv": registry_route(RU_NKO.read_bytes())}) as server:
        stream = CsvRegistryConnector(
            "nko", config(server.url("/reestr.csv"), checkpoint_every=2), fetcher
        ).streams()[0]
        everything = await collect(stream)
        crashed = await collect(stream, stop_after_checkpoints=1)
        saved = crashed[-1]
        assert saved == Checkpoint({"etag": ETAG, "rows": 2})

        resumed = await collect(stream, saved.state)

        # Resuming mid-file needs the body: no conditional GET that could answer 304.
        assert server.seen["/reestr.csv"][-1].headers.get("if-none-match") is None

    ids = [listing.external_id for listing in listings(crashed) + listings(resumed)]
    assert ids == [listing.external_id for listing in listings(everything)]
    assert len(ids) == len(set(ids))
    assert resumed[-1] == Checkpoint({"etag": ETAG})


async def test_a_resumed_run_starts_over_when_the_file_changed(fetcher: SafeFetcher) -> None:
    async with loopback_server(
        {"/reestr.csv": registry_route(RU_NKO.read_bytes(), etag='"reestr-2024-07-01"')}
    ) as server:
        stream = CsvRegistryConnector("nko", config(server.url("/reestr.csv")), fetcher).streams()[
            0
        ]
        items = await collect(stream, {"etag": ETAG, "rows": 4})

    assert len(listings(items)) == 5
    assert items[-1] == Checkpoint({"etag": '"reestr-2024-07-01"'})


async def test_a_row_that_does_not_fit_the_header_is_rejected_and_the_run_goes_on(
    fetcher: SafeFetcher,
) -> None:
    body = "ОГРН;Полное наименование;ОПФ\n1;А;НП;лишнее\n2;Б;НП\n".encode("cp1251")
    fields = {k: v for k, v in RU_MAPPING["fields"].items() if k in ("name.ru", "form", "kind")}
    three_columns = {**RU_MAPPING, "fields": fields}
    async with loopback_server({"/r.csv": registry_route(body)}) as server:
        settings = config(server.url("/r.csv"), mapping=three_columns)
        stream = CsvRegistryConnector("nko", settings, fetcher).streams()[0]
        items = await collect(stream)

    rejected = [item for item in items if isinstance(item, Rejected)]
    assert [r.reason for r in rejected] == ["line 2: 4 cells for 3 columns"]
    assert rejected[0].raw == {
        "cells": {"ОГРН": "1", "Полное наименование": "А", "ОПФ": "НП"},
        "extra": ["лишнее"],
    }
    assert [listing.external_id for listing in listings(items)] == ["2"]


async def test_a_damaged_row_of_a_utf8_registry_is_rejected_and_every_name_kept(
    fetcher: SafeFetcher,
) -> None:
    # The registry as a UTF-8 export with one byte of one row damaged: the run must not
    # read the whole file as cp1251 (every name mojibake), only leave that row out.
    reference = await _reference_listings(fetcher)
    text = _ru_text().encode()
    offset = text.index(b"\n4;") + 3
    body = text[:offset] + b"\xff" + text[offset:]
    async with loopback_server({"/r.csv": registry_route(body)}) as server:
        stream = CsvRegistryConnector("nko", config(server.url("/r.csv")), fetcher).streams()[0]
        items = await collect(stream)

    [rejected] = [item for item in items if isinstance(item, Rejected)][1:]  # 1st: no ОГРН
    assert rejected.reason == (
        f"line 7: byte {offset} is not valid utf-8 (invalid start byte); the row is left out"
    )
    assert rejected.raw["cells"]["ОГРН"] == "1116600004567"
    kept = {listing.external_id: listing.payload for listing in listings(items)}
    assert kept == {
        listing.external_id: listing.payload
        for listing in reference
        if listing.external_id != "1116600004567"
    }


async def _reference_listings(fetcher: SafeFetcher) -> list[Listing]:
    async with loopback_server({"/r.csv": registry_route(RU_NKO.read_bytes())}) as server:
        stream = CsvRegistryConnector("nko", config(server.url("/r.csv")), fetcher).streams()[0]
        return listings(await collect(stream))


async def test_a_corrupt_state_is_fatal(fetcher: SafeFetcher) -> None:
    stream = CsvRegistryConnector("nko", config("http://127.0.0.1:9/r.csv"), fetcher).streams()[0]

    with pytest.raises(FatalError, match="not a CSV registry state"):
        await collect(stream, {"rows": "many"})
