"""Read merchants' files into tables of strings: CSV (any common encoding, any delimiter), gzip, xlsx, Parquet.

    python -c "from lifecycle_core.readers import read_source, SourceFile; \
print(read_source(SourceFile.from_path('sales.csv')).frame.head())"

Everything is read as text first; typed parsing happens in ingest.py, where a bad value can be
reported with its row and column instead of failing the whole read.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .report import IngestError, ValidationReport

MIB = 2**20
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".xlsx", ".parquet", ".pq")


@dataclass(frozen=True)
class ReadLimits:
    """Upper bounds that protect the server from huge uploads. Bytes are counted after decompression."""

    max_file_bytes: int = 512 * MIB
    max_rows: int = 5_000_000

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0:
            raise ValueError(f"max_file_bytes must be > 0, got {self.max_file_bytes}")
        if self.max_rows <= 0:
            raise ValueError(f"max_rows must be > 0, got {self.max_rows}")


@dataclass(frozen=True)
class SourceFile:
    """An uploaded or local file: its name (for messages and format hints) and its bytes."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: str | Path, *, limits: ReadLimits | None = None) -> SourceFile:
        p = Path(path)
        limits = limits or ReadLimits()
        if not p.is_file():
            rep = ValidationReport()
            rep.error("file_not_found", "no such file", file=str(p), expected="a path to an existing file")
            raise IngestError(rep)
        size = p.stat().st_size
        if size > limits.max_file_bytes:
            raise IngestError(_too_big(p.name, size, limits))
        return cls(p.name, p.read_bytes())


@dataclass
class RawTable:
    """A file read as a table. ``frame`` holds strings for text formats, native types for Parquet."""

    file: str
    format: str
    frame: pd.DataFrame
    sha256: str
    size_bytes: int
    encoding: str | None = None
    delimiter: str | None = None
    # Row number the user sees for frame row 0 (spreadsheet convention: header is row 1).
    first_row: int = 2
    sheet: str | None = None
    # Row numbers of each frame row when rows were dropped (a platform layout's excluded orders).
    row_numbers: np.ndarray | None = None
    footer_lines: list[int] = field(default_factory=list)  # short trailing lines dropped as a footer
    padded_rows: int = 0  # tab-separated rows that left out trailing empty cells

    def numbers(self) -> np.ndarray:
        """The row number the user sees for every frame row."""
        if self.row_numbers is not None:
            return self.row_numbers
        return np.arange(len(self.frame), dtype="int64") + self.first_row

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def n_rows(self) -> int:
        return len(self.frame)


def read_source(src: SourceFile, *, limits: ReadLimits | None = None) -> RawTable:
    """Detect the format and encoding of ``src`` and read it; raises IngestError with a report."""
    limits = limits or ReadLimits()
    name = src.name
    if len(src.data) > limits.max_file_bytes:
        raise IngestError(_too_big(name, len(src.data), limits))
    digest = hashlib.sha256(src.data).hexdigest()
    data = src.data
    fmt = _sniff_format(name, data)
    raw: RawTable | None = None
    if fmt == "gzip":
        raw = _read_gzip_csv_streaming(name, data, limits)
        if raw is None:
            data = _gunzip(name, data, limits)
            fmt = _sniff_format(name, data)
            if fmt == "gzip":
                _fail(name, "nested_gzip", "the file is compressed twice", expected="one gzip layer at most")
    if fmt == "xls":
        _fail(
            name,
            "unsupported_format",
            "legacy Excel 97-2003 (.xls) files are not supported",
            expected="save it as .xlsx or CSV in Excel and upload that",
        )
    if raw is not None:
        pass
    elif fmt == "xlsx":
        raw = _read_xlsx(name, data, limits)
    elif fmt == "parquet":
        raw = _read_parquet(name, data, limits)
    else:
        raw = _read_text(name, data, limits)
    raw.sha256 = digest
    raw.size_bytes = len(src.data)
    if raw.n_rows == 0:
        _fail(name, "no_rows", "the file has a header but no data rows", expected="at least one data row")
    if raw.n_rows > limits.max_rows:
        _fail(
            name,
            "too_many_rows",
            f"{raw.n_rows:,} rows is over the limit of {limits.max_rows:,}",
            expected="split the file, or raise max_rows (CLI --max-rows)",
        )
    _check_header(raw)
    return raw


def _sniff_format(name: str, data: bytes) -> str:
    head = data[:8]
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    return "text"


def _gunzip(name: str, data: bytes, limits: ReadLimits) -> bytes:
    # max_length bounds the output, so a small "zip bomb" cannot exhaust memory before the check.
    parts: list[bytes] = []
    total = 0
    rest = data
    try:
        while rest:
            d = zlib.decompressobj(wbits=31)
            out = d.decompress(rest, limits.max_file_bytes + 1 - total)
            total += len(out)
            parts.append(out)
            if total > limits.max_file_bytes or d.unconsumed_tail:
                raise IngestError(_too_big(name, total, limits, decompressed=True))
            if not d.eof:
                raise zlib.error("unexpected end of data")
            rest = d.unused_data.lstrip(b"\x00")  # concatenated gzip members, as `cat a.gz b.gz` makes
    except zlib.error as exc:
        _fail(name, "bad_gzip", f"the gzip data is damaged or truncated ({exc})", expected="a complete .gz file")
    return b"".join(parts)


def detect_encoding(data: bytes) -> str:
    """The text encoding of ``data``: BOMs first, then strict UTF-8, then UTF-8 with a few stray bytes
    (``LOSSY_UTF8``), then the East Asian legacy encodings Excel writes (Shift-JIS, EUC-KR, GB18030/GBK,
    Big5; among plausible readings the header naming the most known columns wins), then cp1252.

    The East Asian encodings share their byte ranges, so each is tried strictly and kept only when the
    text it gives reads like its language: Japanese has kana (Chinese or Korean bytes read as Shift-JIS
    give half-width katakana instead), Korean is nearly all Hangul (Chinese read as EUC-KR is half Hanja),
    Simplified Chinese keeps to the common GB2312 characters (Shift-JIS or Big5 read as GBK give rare
    ones). A Japanese file read as GBK was garbage headers ('彜昳僐乕僪' for 商品コード) and refused."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _stray_bytes(data)[0]:
        return LOSSY_UTF8
    sample = _sample(data)
    western = _single_byte_accents(sample)
    fits = [
        (encoding, text, _known_headers(text))
        for encoding, reads_as in _candidates()
        if (text := _strict(sample, encoding)) is not None
        and reads_as([c for c in text if ord(c) > 127])
        and _decodes_whole(data, sample, encoding)
    ]
    if western:  # accented Latin text decodes as GBK or Big5 too: only a header it names says otherwise
        fits = [f for f in fits if f[2] or (f[0] == "cp932" and _has_kana(f[1]))]
    if fits:
        # The encodings share byte ranges, so more than one can read plausibly (GBK headers decode as
        # Hangul too): the one whose header names the most known columns wins, then the order above.
        best = max(range(len(fits)), key=lambda k: (fits[k][2], -k))
        return fits[best][0]
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


LOSSY_UTF8 = "utf-8-lossy"  # UTF-8 with a few stray bytes (an Excel paste, a cut-off export), replaced


def _stray_bytes(data: bytes) -> tuple[int, int]:
    """(bytes that are not UTF-8, line of the first) when the file is UTF-8 but for a few stray bytes:
    at most 1,000 of them, and at least twice as many valid UTF-8 characters above ASCII ("Crème" and
    "°C" in UTF-8 with one Latin-1 no-break space pasted in were read as EUC-KR: every accent became
    Hangul). (0, 0) otherwise: a cp1252 or GBK file has no such valid characters to speak of, and its
    invalid bytes pass the cap within its first lines."""
    bad: list[int] = []
    _STRAY.bad = bad  # per thread: two uploads read at once count their own bytes
    try:
        data.decode("utf-8", errors=_STRAY_HANDLER)
    except UnicodeDecodeError:
        return 0, 0
    valid = len(re.findall(rb"[\xc2-\xf4][\x80-\xbf]+", data)) - len(bad)
    if not bad or valid < 2 * len(bad):
        return 0, 0
    return len(bad), data.count(b"\n", 0, bad[0]) + 1


_STRAY = threading.local()
_STRAY_HANDLER = "lifecycle_count_stray"


def _count_stray(err: UnicodeDecodeError):
    _STRAY.bad.append(err.start)
    if len(_STRAY.bad) > 1000:
        raise err  # more than a few: not a UTF-8 file with stray bytes
    return "", err.start + 1


codecs.register_error(_STRAY_HANDLER, _count_stray)


def _candidates() -> tuple:
    """The East Asian encodings, tried in this order; each kept only when its text reads like its
    language. Shift-JIS comes back last for old Japanese exports in half-width katakana (ｽﾃﾝﾚｽ)."""
    return (
        ("cp932", _reads_as_japanese),
        ("cp949", _reads_as_korean),
        ("gb18030", _reads_as_simplified_chinese),
        ("cp950", _reads_as_cjk),
        ("gb18030", _reads_as_cjk),  # GB18030 decodes most byte soups; only when the result mostly is CJK
        ("cp932", _reads_as_cjk),
    )


SAMPLE_BYTES = 400_000


def _sample(data: bytes) -> bytes:
    """The first 400,000 bytes, or, when they are all ASCII, 400,000 bytes from the line holding the
    first byte above 127 (a long export whose CJK names start late)."""
    head = data[:SAMPLE_BYTES]
    if len(data) <= SAMPLE_BYTES or max(head, default=0) > 127:
        return head
    first = re.search(rb"[\x80-\xff]", data)
    if first is None:
        return head
    line = data.rfind(b"\n", 0, first.start()) + 1
    return data[:2048].split(b"\n", 1)[0] + b"\n" + data[line : line + SAMPLE_BYTES]


def _decodes_whole(data: bytes, sample: bytes, encoding: str) -> bool:
    if len(data) <= len(sample) and len(sample) < SAMPLE_BYTES:
        return True
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False  # the sample reads as it, another part of the file is not in it
    return True


def _known_headers(text: str) -> int:
    """How many cells of the first line that hold characters above ASCII (the cells an encoding changes)
    are column names the schema knows, in any language."""
    from .mapping import known_header

    line = text.split("\n", 1)[0]
    sep = max((",", ";", "\t", "|"), key=line.count)
    cells = (c.strip().strip('"') for c in line.split(sep))
    return sum(1 for c in cells if not c.isascii() and known_header(c))


def _single_byte_accents(sample: bytes) -> bool:
    """Whether most bytes above 127 look like cp1252's accented letters and symbols: alone between ASCII
    bytes ("Pão", "für"), in a pair inside a word ("Größe", "Promoções"), or a pair holding a no-break
    space ("12,50 €" written with NBSP). The characters of EUC-KR, GBK and Big5 are two bytes above 127
    each, in runs as long as the words; such text decodes as GBK or Big5 too ('Gr鲞e'). (Shift-JIS
    katakana have ASCII second bytes: Japanese is told by its kana, before this is asked.)"""
    high_total = alone = 0
    for run in re.finditer(rb"[\x80-\xff]+", sample):
        n = run.end() - run.start()
        high_total += n
        left = sample[run.start() - 1 : run.start()] if run.start() else b""
        right = sample[run.end() : run.end() + 1]
        in_word = left.isalpha() or right.isalpha()
        if n == 1 or (n == 2 and (in_word or b"\xa0" in run.group())):
            alone += n
    return high_total > 0 and alone > 0.5 * high_total


def _strict(sample: bytes, encoding: str) -> str | None:
    """``sample`` (the first 400,000 bytes) decoded, or None when it is not that encoding (a multi-byte
    character cut at the end of the sample is forgiven)."""
    try:
        return sample.decode(encoding)
    except UnicodeDecodeError as exc:
        if len(sample) < SAMPLE_BYTES or exc.start < len(sample) - 4:
            return None
    for cut in range(1, 4):
        try:
            return sample[: len(sample) - cut].decode(encoding)
        except UnicodeDecodeError:
            pass
    return None


def _share(chars: list[str], lo: str, hi: str) -> float:
    return sum(1 for c in chars if lo <= c <= hi) / len(chars) if chars else 0.0


def _reads_as_cjk(chars: list[str]) -> bool:
    cjk = sum(1 for c in chars if "\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef")
    return bool(chars) and cjk / len(chars) >= 0.6


def _has_kana(text: str) -> bool:
    return _reads_as_japanese([c for c in text if ord(c) > 127])


def _reads_as_japanese(chars: list[str]) -> bool:
    # Kanji-heavy product names still carry some kana (土鍋（国産）職人手作り: 1 in 11); GBK or EUC-KR bytes
    # read as Shift-JIS give next to none (kana need lead bytes 0x82/0x83) and many half-width katakana.
    return _share(chars, "\u3040", "\u30ff") >= 0.02 and _share(chars, "\uff61", "\uff9f") < 0.1


def _reads_as_korean(chars: list[str]) -> bool:
    # Letters only: Korean product names carry symbols (【】 ★ ㎖) that are not Hangul.
    return _share([c for c in chars if c.isalpha()], "\uac00", "\ud7a3") >= 0.8


def _reads_as_simplified_chinese(chars: list[str]) -> bool:
    if not _reads_as_cjk(chars):
        return False
    common = 0
    for c in chars:
        try:
            c.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / len(chars) >= 0.8


def _looks_binary(data: bytes) -> bool:
    head = data[:65536]
    if not head:
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control / len(head) > 0.01


def _read_text(name: str, data: bytes, limits: ReadLimits) -> RawTable:
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        _fail(name, "empty_file", "the file is empty", expected="a header row and data rows")
    encoding = detect_encoding(data)
    if encoding != "utf-16" and _looks_binary(data):
        _fail(
            name,
            "binary_file",
            "this does not look like a text (CSV) file: it contains binary data",
            expected="CSV, .csv.gz, .xlsx or .parquet",
        )
    shown = _encoding_name(encoding)
    if encoding == LOSSY_UTF8:
        n, line = _stray_bytes(data)
        data = data.decode("utf-8", errors="replace").encode("utf-8")
        shown = f"UTF-8, {n:,} invalid byte(s) replaced by \ufffd (the first on line {line:,})"
    elif encoding not in ("utf-8", "utf-8-sig"):
        # pyarrow reads UTF-8 only; transcoding once is cheap next to parsing.
        data = data.decode(encoding).encode("utf-8")
    elif encoding == "utf-8-sig":
        data = data[len(codecs.BOM_UTF8) :]
    approx_rows = data.count(b"\n")
    if approx_rows > limits.max_rows + 1:
        _fail(
            name,
            "too_many_rows",
            f"about {approx_rows:,} lines is over the limit of {limits.max_rows:,} rows",
            expected="split the file, or raise max_rows (CLI --max-rows)",
        )
    return _parse_csv(name, io.BytesIO(data), data[:65536], shown, locate=data)


class _NeedFullRead(Exception):
    """The streaming fast path cannot handle this file; read it fully instead."""


class _BoundedGunzip:
    """gzip-decompressed bytes as a read-only stream that fails past ``limit`` bytes (zip bombs)."""

    def __init__(self, data: bytes, limit: int, name: str, limits: ReadLimits):
        self._rest = data
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""
        self.total = 0
        self._limit, self._name, self._limits = limit, name, limits
        self.closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def read(self, n: int = -1) -> bytes:
        n = 8 * MIB if n is None or n < 0 else n
        while not self._pending:
            if self._d.eof:
                rest = self._d.unused_data.lstrip(b"\x00")  # concatenated members, as `cat a.gz b.gz` makes
                if not rest and not self._rest:
                    return b""
                self._d = zlib.decompressobj(wbits=31)
                self._rest = rest + self._rest
            if self._d.unconsumed_tail:
                src = self._d.unconsumed_tail
            elif self._rest:
                src, self._rest = self._rest[: 4 * MIB], self._rest[4 * MIB :]
            else:
                raise zlib.error("unexpected end of data")
            self._pending = self._d.decompress(src, max(n, MIB))
            self.total += len(self._pending)
            if self.total > self._limit:
                raise IngestError(_too_big(self._name, self.total, self._limits, decompressed=True))
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


def _read_gzip_csv_streaming(name: str, data: bytes, limits: ReadLimits) -> RawTable | None:
    """Parse a gzip CSV while it decompresses (the common case: UTF-8 text).

    Returns None when the fast path does not apply (not UTF-8 text, damaged data, malformed rows to
    locate); the caller then decompresses fully and reads with the general path.
    """
    try:
        head = zlib.decompressobj(wbits=31).decompress(data, MIB)
    except zlib.error:
        return None
    if _sniff_format(name, head) != "text" or _looks_binary(head) or not head.strip():
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    if encoding == "utf-8-sig":
        head = head[len(codecs.BOM_UTF8) :]
    try:
        return _parse_csv(
            name,
            _BoundedGunzip(data, limits.max_file_bytes, name, limits),
            head[:65536],
            _encoding_name(encoding),
            locate=None,
        )
    except (_NeedFullRead, zlib.error):
        return None


SHOWN_BAD_ROWS = 20  # malformed rows reported one by one (with their line); the rest are counted


def _parse_csv(name: str, source, sample_bytes: bytes, encoding: str, *, locate: bytes | None) -> RawTable:
    """Parse UTF-8 CSV from ``source`` (bytes stream), taking the delimiter and header from ``sample_bytes``."""
    if b"\n" not in sample_bytes and b"\r" not in sample_bytes and len(sample_bytes) >= 65536:
        # A header longer than the sample (10,000 columns): read it whole, never cut it.
        if locate is None:
            raise _NeedFullRead
        end = min((i for i in (locate.find(b"\n"), locate.find(b"\r")) if i >= 0), default=len(locate))
        sample_bytes = locate[: end + 1]
    sample = sample_bytes.decode("utf-8", errors="replace")
    # Some exports (eBay's orders report) start with blank lines: the header is the first line with text.
    lines = sample.split("\n")
    skip = next((i for i, line in enumerate(lines) if line.strip(' \t\r,;"')), 0)
    delimiter = _sniff_delimiter("\n".join(lines[skip:]))
    first_line = lines[skip].rstrip("\r") if lines else ""
    header = next(csv.reader([first_line], delimiter=delimiter), [])
    header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(header)]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        _fail(name, "duplicate_column", f"column names repeat: {dupes}", row=1, expected="unique column names")

    bad_rows: list[tuple[int | None, int, int]] = []  # (line, fields expected, fields found)
    bad_texts: list[str] = []  # the first few bad rows' text, to tell a report's footer from broken rows
    cursor = [0, 1]  # (byte offset, line number) just after the last bad row located

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number
        # Only the first SHOWN_BAD_ROWS are reported with their line: locating every bad row by its text
        # from the start of the file was quadratic (40,000 bad rows: 24 s; a 12 MB file: 40 minutes).
        if number is None and locate is not None and len(bad_rows) < SHOWN_BAD_ROWS:
            # The multi-threaded parser does not track line numbers; find the line by its text, searching
            # on from the last one found (rows arrive in file order), from the start only if that fails.
            needle = row.text.encode("utf-8")
            at = _find_line(locate, needle, cursor[0])
            base, line = cursor
            if at < 0:
                at, base, line = _find_line(locate, needle, 0), 0, 1
            if at >= 0:
                number = line + locate.count(b"\n", base, at)
                cursor[0], cursor[1] = at + len(needle), number + needle.count(b"\n")
        bad_rows.append((number, row.expected_columns, row.actual_columns))
        if len(bad_texts) <= FOOTER_LINES:
            bad_texts.append(row.text)
        return "skip"

    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=skip + 1, block_size=16 * MIB),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                # Dictionary-encode while parsing (in C++, on all cores): ids, names and dates repeat,
                # and ingest works on the distinct values and integer codes from here on.
                column_types={h: pa.dictionary(pa.int32(), pa.string()) for h in header},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if locate is None:
            raise _NeedFullRead from exc  # e.g. invalid UTF-8 past the sample: detect the encoding on all of it
        _fail(name, "malformed_csv", f"the CSV could not be parsed: {exc}", expected="a well-formed CSV file")
    footer: list[int] = []
    if bad_rows:
        if locate is None and any(row[0] is None for row in bad_rows[:SHOWN_BAD_ROWS]):
            raise _NeedFullRead  # read again in memory so every bad row gets its line number
        if delimiter == "\t" and locate is not None and all(found < expected for _, expected, found in bad_rows):
            # Tab-separated reports (Amazon's order reports) leave out a row's trailing empty cells.
            padded = _pad_tab_rows(locate, len(header), skip)
            raw = _parse_csv(name, io.BytesIO(padded), padded[:65536], encoding, locate=padded)
            raw.padded_rows = len(bad_rows)
            return raw
        footer = _footer_lines(bad_rows, bad_texts, locate)
        if len(footer) == len(bad_rows):
            bad_rows = []
    if bad_rows:
        rep = ValidationReport()
        for number, expected, found in bad_rows[:SHOWN_BAD_ROWS]:
            rep.error(
                "malformed_row",
                f"wrong number of fields: expected {expected} fields, found {found}",
                file=name,
                row=number,
                expected=f"{len(header)} fields",
            )
        if len(bad_rows) > SHOWN_BAD_ROWS:
            rep.error("malformed_row", f"{len(bad_rows) - SHOWN_BAD_ROWS:,} more malformed rows", file=name)
        raise IngestError(rep)
    # Cells are stripped later, per distinct value (ingest.as_category), which is far cheaper.
    frame = table.to_pandas()
    raw = RawTable(name, "csv", frame, "", 0, encoding=encoding, delimiter=delimiter, first_row=skip + 2)
    raw.footer_lines = footer
    return raw


def _find_line(data: bytes, needle: bytes, start: int) -> int:
    """Where ``needle`` occurs as a whole line of ``data`` from ``start`` on (not inside a longer line:
    "1,2,3" is not the start of "1,2,3,4"), or -1."""
    at = data.find(needle, start)
    while at >= 0:
        end = at + len(needle)
        if (at == 0 or data[at - 1 : at] == b"\n") and (end == len(data) or data[end : end + 1] in (b"\n", b"\r")):
            return at
        at = data.find(needle, at + 1)
    return -1


def _pad_tab_rows(data: bytes, width: int, skip: int) -> bytes:
    """Every data line of a tab-separated file with at least ``width`` fields (trailing empties added)."""
    lines = data.split(b"\n")
    for i in range(skip + 1, len(lines)):
        line = lines[i].rstrip(b"\r")
        if line.strip():
            missing = width - 1 - line.count(b"\t")
            if missing > 0:
                lines[i] = line + b"\t" * missing
    return b"\n".join(lines)


FOOTER_LINES = 8  # short lines this close to the end are a report's footer ("3 record(s) downloaded")


def _footer_lines(bad_rows: list[tuple[int | None, int, int]], texts: list[str], data: bytes | None) -> list[int]:
    """Line numbers of the malformed rows that are a report's footer: they are the file's last non-blank
    lines, at most FOOTER_LINES of them, each with a few fields only. Anything else stays an error."""
    if data is None or not bad_rows or len(bad_rows) > FOOTER_LINES or len(texts) != len(bad_rows):
        return []
    # A footer is a few words ("4,record(s) downloaded,from …"); a cut-off last row keeps most of its fields.
    if any(found >= expected or found > max(3, expected // 4) for _, expected, found in bad_rows):
        return []
    lines = data.rstrip().split(b"\n")
    tail: list[int] = []
    i = len(lines) - 1
    while i >= 0 and len(tail) < len(bad_rows):
        if lines[i].strip():
            tail.append(i)
        i -= 1
    tail.reverse()
    got = [lines[k].rstrip(b"\r").decode("utf-8", errors="replace") for k in tail]
    if got != [t.rstrip("\r") for t in texts]:
        return []
    return [k + 1 for k in tail]


def _encoding_name(enc: str) -> str:
    names = {"gb18030": "GB18030/GBK", "cp932": "Shift-JIS (cp932)", "cp949": "EUC-KR (cp949)", "cp950": "Big5 (cp950)"}
    return (names | {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8"}).get(enc, enc)


def _sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        # Sniffer gives up on one-column files and on quoted commas; count instead.
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] > 0 else ","


def _strip_strings(frame: pd.DataFrame) -> pd.DataFrame:
    # Exports pad cells with spaces (" WHITE CHERRY LIGHTS"); blanks after stripping are missing values.
    for col in frame.columns:
        # Dictionary-encoded text (Parquet, as CSV) is stripped later per distinct value (ingest.as_category):
        # .str here would turn a million repeats of one value into a million Python strings.
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_string_dtype(frame[col]):
            s = frame[col].str.strip()
            frame[col] = s.where(s != "", None)
    return frame


def _xlsx_bounds(name: str, data: bytes, limits: ReadLimits) -> None:
    """Refuse a workbook whose zip members decompress past the limit (a 201 KB file with one 200 MiB
    shared string peaked at 2.9 GiB), before openpyxl inflates any of them."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile as exc:
        _fail(name, "bad_xlsx", f"the Excel file could not be read ({exc})", expected="a valid .xlsx workbook")
    if total > limits.max_file_bytes:
        raise IngestError(_too_big(name, total, limits, decompressed=True))


def _read_xlsx(name: str, data: bytes, limits: ReadLimits) -> RawTable:
    _xlsx_bounds(name, data, limits)
    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True)  # reads the sheet list, not the sheets
        names = list(wb.sheetnames)
        wb.close()
        # Sheets are read one at a time up to the first with rows (300 sheets took 32 s read all at once).
        sheet, frame = None, None
        for k in names:
            f = pd.read_excel(io.BytesIO(data), sheet_name=k, dtype=str, engine="openpyxl")
            if len(f.columns) and len(f):
                sheet, frame = k, f
                break
    except IngestError:
        raise
    except Exception as exc:  # openpyxl raises many types for damaged archives
        _fail(
            name,
            "bad_xlsx",
            f"the Excel file could not be read ({type(exc).__name__}: {exc})",
            expected="a valid .xlsx workbook",
        )
    if frame is None:
        _fail(name, "no_rows", "every sheet in the workbook is empty", expected="a sheet with a header and rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = _strip_strings(frame.astype("str").where(frame.notna(), None))
    raw = RawTable(name, "xlsx", frame, "", 0, sheet=sheet)
    others = [k for k in names if k != sheet]
    if others:
        raw.sheet = f"{sheet} (other sheets not read: {', '.join(others[:10])}{', ...' if len(others) > 10 else ''})"
    return raw


def _read_parquet(name: str, data: bytes, limits: ReadLimits) -> RawTable:
    """Rows and decoded sizes are checked from the file's metadata before any column is read; text
    columns are read dictionary-encoded (each distinct value once), as CSV text is: a 33 KB file of one
    repeated 1,000-character string no longer becomes a gigabyte of Python strings."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        meta = pf.metadata
        if meta.num_rows > limits.max_rows:
            _fail(
                name,
                "too_many_rows",
                f"{meta.num_rows:,} rows is over the limit of {limits.max_rows:,}",
                expected="split the file, or raise max_rows (CLI --max-rows)",
            )
        decoded = sum(
            meta.row_group(g).column(c).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        )
        if decoded > limits.max_file_bytes:
            raise IngestError(_too_big(name, decoded, limits, decompressed=True))
        schema = pf.schema_arrow
        text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        table = pq.read_table(io.BytesIO(data), read_dictionary=text)
        frame = table.to_pandas()
    except IngestError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError... for damaged files
        _fail(name, "bad_parquet", f"the Parquet file could not be read ({exc})", expected="a valid Parquet file")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.reset_index(drop=True)
    return RawTable(name, "parquet", _strip_strings(frame), "", 0, first_row=1)


def _check_header(raw: RawTable) -> None:
    cols = raw.columns
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        _fail(raw.file, "duplicate_column", f"column names repeat: {dupes}", row=1, expected="unique column names")


def _too_big(name: str, size: int, limits: ReadLimits, decompressed: bool = False) -> ValidationReport:
    rep = ValidationReport()
    what = "decompressed size" if decompressed else "size"
    rep.error(
        "file_too_large",
        f"{what} {size / MIB:,.1f} MiB is over the limit of {limits.max_file_bytes / MIB:,.0f} MiB",
        file=name,
        expected="a smaller file, or a higher max_file_bytes (CLI --max-mb)",
    )
    return rep


def _fail(name: str, code: str, message: str, **where: object) -> None:
    rep = ValidationReport()
    rep.error(code, message, file=name, **where)
    raise IngestError(rep)
