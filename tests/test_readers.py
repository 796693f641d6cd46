"""Each supported format and encoding, with files the test writes itself."""

import gzip
import io

import pandas as pd
import pytest

from lifecycle_core.readers import ReadLimits, SourceFile, detect_encoding, read_source
from lifecycle_core.report import IngestError

ZH_CSV = "商品编号,日期,销量,评论\nA1,2024-03-05,3,很好用\nA2,2024-03-06,5,质量不错\n"


def _read(name, data, **kw):
    return read_source(SourceFile(name, data), **kw)


def test_gbk_csv_with_chinese_headers_is_detected():
    raw = _read("销售.csv", ZH_CSV.encode("gbk"))
    assert raw.encoding == "GB18030/GBK"
    assert raw.columns == ["商品编号", "日期", "销量", "评论"]
    assert raw.frame["评论"].tolist() == ["很好用", "质量不错"]


EAST_ASIAN_AND_EUROPEAN = [
    ("商品コード,商品名,カテゴリ,価格\nJP-0001,【送料無料】土鍋（国産）職人手作り,キッチン用品,2980\n", "cp932"),
    ("コード,サイズ\nA,フリーサイズ\n", "cp932"),  # katakana only: second bytes in the ASCII range
    ("상품코드,상품명,카테고리,가격\nKR-1,스테인리스 텀블러 500ml,주방용품,15000\n", "cp949"),
    ("商品编号,商品名称,类目,价格\nCN-1,不锈钢保温杯 500毫升,厨房用品,59\n", "gb18030"),
    ("商品編號,商品名稱,類別,價格\nTW-1,不鏽鋼保溫杯 500毫升,廚房用品,590\n", "cp950"),
    ("Artikelnummer;Bezeichnung;Preis\n1;Nußknacker Größe M;12,50\n2;Ölkanne für Küche;3,20\n", "cp1252"),
    ("Référence;Désignation;Prix\n1;Crème brûlée à la vanille;4,50\n", "cp1252"),
    ("Producto;Descripción;Año\n1;Jamón ibérico, señor;2024\n", "cp1252"),
    # Found by review: GBK and Shift-JIS headers over ASCII rows read as Hangul, Korean with symbols as
    # GBK, accent pairs and no-break spaces as GBK or Big5, half-width katakana as latin-1.
    ("产品编号,产品名称,价格,分类\nA1,x,3,y\nA2,z,4,w\n", "gb18030"),
    ("品番,日付,数量,単価\nA1,2024/03/05,2,980\n", "cp932"),
    ("商品コード,商品名\nA1,ｽﾃﾝﾚｽﾎﾞﾄﾙ\nA2,ｶｯﾌﾟ\n", "cp932"),
    ("상품명,가격\n【무료배송】 텀블러 500㎖ ★특가★,15000\n", "cp949"),
    ("sku,qty\nA,3件\nB,5个\nC,2箱\n", "gb18030"),
    ("Artikel;Größe;Menge\n1;M;3\n", "cp1252"),
    ("Produto;Descrição\n1;Promoções\n2;Pão de açúcar\n", "cp1252"),
    ("Référence;Prix\n1;12,50\xa0€\n2;20°\xa0C\n", "cp1252"),
]


@pytest.mark.parametrize(("text", "encoding"), EAST_ASIAN_AND_EUROPEAN)
def test_legacy_encodings_are_told_apart(text, encoding):
    """Shift-JIS, EUC-KR, GBK and Big5 share byte ranges (a Japanese file read as GBK had headers like
    '彜昳僐乕僪'); each is kept only when its text reads like its language. German read as GBK too."""
    assert detect_encoding(text.encode(encoding)) == encoding
    raw = _read("export.csv", text.encode(encoding))
    assert raw.columns == text.splitlines()[0].split("," if "," in text.splitlines()[0] else ";")


def test_utf8_bom_csv():
    raw = _read("bom.csv", ZH_CSV.encode("utf-8-sig"))
    assert raw.encoding == "UTF-8 with BOM"
    assert raw.columns[0] == "商品编号"  # no BOM glued to the first header


def test_utf16_tab_separated_export():
    raw = _read("excel_unicode.txt", ZH_CSV.replace(",", "\t").encode("utf-16"))
    assert raw.delimiter == "\t" and raw.columns[2] == "销量"


def test_cp1252_csv():
    raw = _read("latin.csv", "id,title\n1,Café crème\n".encode("cp1252"))
    assert raw.frame["title"].tolist() == ["Café crème"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_delimiters_are_sniffed(sep):
    raw = _read("x.csv", f"product_id{sep}title\nA{sep}Mug, large\n".encode())
    assert raw.delimiter == sep and raw.frame["title"].tolist() == ["Mug, large"]


def test_gzip_csv():
    raw = _read("sales.csv.gz", gzip.compress(ZH_CSV.encode()))
    assert raw.n_rows == 2 and raw.format == "csv"


def test_xlsx_first_non_empty_sheet(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"商品编号": ["A1", "A2"], "日期": pd.to_datetime(["2024-03-05", "2024-03-06"])}).to_excel(
            xw, sheet_name="sales", index=False
        )
        pd.DataFrame({"x": [1]}).to_excel(xw, sheet_name="other", index=False)
    raw = _read("book.xlsx", path.read_bytes())
    assert raw.format == "xlsx" and raw.columns == ["商品编号", "日期"]
    assert raw.frame["商品编号"].tolist() == ["A1", "A2"]
    assert "other sheets not read: other" in raw.sheet


def test_parquet_keeps_types():
    buf = io.BytesIO()
    pd.DataFrame({"product_id": ["A"], "units": [3], "date": pd.to_datetime(["2024-01-01"])}).to_parquet(buf)
    raw = _read("s.parquet", buf.getvalue())
    assert raw.format == "parquet" and raw.first_row == 1
    assert pd.api.types.is_integer_dtype(raw.frame["units"])


def test_cells_are_kept_as_text_for_typed_parsing_later():
    raw = _read("ids.csv", b"product_id,units\n007,1\n")
    assert raw.frame["product_id"].tolist() == ["007"]  # leading zeros survive


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("empty.csv", b"", "empty_file"),
        ("blank.csv", b"\n\n  \n", "empty_file"),
        ("header.csv", b"a,b\n", "no_rows"),
        ("garbage.csv", bytes(range(256)) * 64, "binary_file"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "unsupported_format"),
        ("broken.csv.gz", gzip.compress(b"a,b\n1,2\n" * 100)[:-20], "bad_gzip"),
        ("broken.xlsx", b"PK\x03\x04garbage", "bad_xlsx"),
        ("broken.parquet", b"PAR1garbage", "bad_parquet"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n6,7\n", "malformed_row"),
        ("dupcols.csv", b"a,a\n1,2\n", "duplicate_column"),
    ],
)
def test_unreadable_files_are_reported(name, data, code):
    with pytest.raises(IngestError) as ei:
        _read(name, data)
    problem = ei.value.report.errors[0]
    assert problem.code == code and problem.file == name


def test_ragged_row_is_located():
    with pytest.raises(IngestError) as ei:
        _read("ragged.csv", b"a,b\n1,2\n3,4,5\n")
    p = ei.value.report.errors[0]
    assert p.row == 3 and "expected 2 fields, found 3" in p.message


def test_size_and_row_limits():
    with pytest.raises(IngestError, match="over the limit of 1 MiB") as ei:
        _read("big.csv", b"a\n" + b"1\n" * 600_000, limits=ReadLimits(max_file_bytes=2**20))
    assert ei.value.report.errors[0].code == "file_too_large"
    with pytest.raises(IngestError, match="limit of 10 rows"):
        _read("rows.csv", b"a\n" + b"1\n" * 50, limits=ReadLimits(max_rows=10))


def test_gzip_bomb_stops_at_the_limit():
    bomb = gzip.compress(b"a\n" + b"0" * (8 * 2**20))
    assert len(bomb) < 100_000
    with pytest.raises(IngestError, match="decompressed size"):
        _read("bomb.csv.gz", bomb, limits=ReadLimits(max_file_bytes=2**20))


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_rows"):
        ReadLimits(max_rows=0)


def test_detect_encoding_prefers_utf8():
    assert detect_encoding("héllo".encode()) == "utf-8"
    assert detect_encoding("商品".encode("gb18030")) == "gb18030"


def test_gzip_of_gbk_falls_back_to_full_detection():
    raw = _read("销售.csv.gz", gzip.compress(ZH_CSV.encode("gbk")))
    assert raw.encoding == "GB18030/GBK" and raw.frame["评论"].tolist() == ["很好用", "质量不错"]


def test_gzip_with_non_utf8_far_past_the_sample():
    body = "product_id,title\n" + "A,plain\n" * 200_000 + "B,Café\n"
    raw = _read("late.csv.gz", gzip.compress(body.encode("cp1252")))
    assert raw.encoding == "cp1252" and raw.frame["title"].iloc[-1] == "Café"


def test_gzip_malformed_row_is_located():
    with pytest.raises(IngestError) as ei:
        _read("r.csv.gz", gzip.compress(b"a,b\n1,2\n3,4,5\n"))
    assert ei.value.report.errors[0].row == 3


def test_concatenated_gzip_members():
    data = gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n")
    assert _read("cat.csv.gz", data).frame["a"].tolist() == ["1", "3"]


@pytest.mark.parametrize("gz", [False, True])
def test_many_malformed_rows_are_located_in_one_pass_and_the_rest_counted(gz):
    # 40,000 ragged rows took 24 s when each was searched for from the start of the file.
    lines = [b"a,b,c"]
    for i in range(60_000):
        lines.append(b"%d,%d,%d" % (i, i, i) if i % 3 else b"%d,%d" % (i, i))
    body = b"\n".join(lines) + b"\n"
    with pytest.raises(IngestError) as ei:
        _read("many.csv.gz" if gz else "many.csv", gzip.compress(body) if gz else body)
    errors = ei.value.report.errors
    located = [e.row for e in errors if e.row is not None]
    assert located[:3] == [2, 5, 8] and len(located) == 20  # row 1 is the header; every third row is short
    assert "19,980 more malformed rows" in errors[-1].message


def test_a_header_longer_than_64_kib_is_read_whole():
    names = [f"column_with_a_long_name_{i:05d}" for i in range(3000)]  # ~90 KiB of header
    body = (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode()
    raw = _read("wide.csv", body)
    assert list(raw.frame.columns) == names and len(raw.frame) == 1


def test_an_xlsx_that_inflates_past_the_limit_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "bomb.xlsx"
    pd.DataFrame({"title": ["x" * 30_000] * 100}).to_excel(path, index=False)  # 3 MB of text, a few KB zipped
    data = path.read_bytes()
    assert len(data) < 100_000
    with pytest.raises(IngestError) as ei:
        read_source(SourceFile("bomb.xlsx", data), limits=ReadLimits(max_file_bytes=1_000_000))
    err = ei.value.report.errors[0]
    assert err.code == "file_too_large" and "decompressed" in err.message


def test_only_the_first_sheet_with_rows_is_read(tmp_path):
    path = tmp_path / "many.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame().to_excel(xw, sheet_name="cover", index=False)
        pd.DataFrame({"sku": ["A"], "units": ["1"]}).to_excel(xw, sheet_name="data", index=False)
        for i in range(30):
            pd.DataFrame({"junk": ["=1/0"]}).to_excel(xw, sheet_name=f"s{i}", index=False)
    raw = _read("many.xlsx", path.read_bytes())
    assert raw.columns == ["sku", "units"] and raw.sheet.startswith("data (other sheets not read: cover, s0")


def test_a_parquet_of_one_repeated_long_string_stays_small_in_memory(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 1_000_000
    table = pa.table({"product_id": pa.array(["P1"] * n), "title": pa.array(["t" * 1000] * n)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    assert len(buf.getvalue()) < 200_000
    raw = _read("long.parquet", buf.getvalue())
    assert raw.n_rows == n
    assert raw.frame.memory_usage(deep=True).sum() < 50_000_000  # ~1 GiB as Python strings


def test_a_parquet_over_the_row_limit_is_refused_from_its_metadata():
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"a": pa.array(range(1000))}), buf)
    with pytest.raises(IngestError) as ei:
        read_source(SourceFile("x.parquet", buf.getvalue()), limits=ReadLimits(max_rows=10))
    assert ei.value.report.errors[0].code == "too_many_rows"


def test_a_report_framed_by_blank_lines_and_a_footer_is_read(tmp_path):
    """eBay's orders report: a line of bare commas, the header, rows, then a few-word footer."""
    text = ",,,,\nOrder,Item,Qty,Date,Price\n" + "".join(f"O{i},I{i},1,2024-03-0{1 + i},2\n" for i in range(5))
    text += "\n5,record(s) downloaded,from Mar-01-24 to Mar-31-24\nSeller ID : someone\n"
    raw = read_source(SourceFile("report.csv", text.encode()))
    assert raw.columns == ["Order", "Item", "Qty", "Date", "Price"]
    assert raw.n_rows == 5 and raw.first_row == 3
    assert raw.footer_lines == [9, 10]  # line 8 is blank


def test_a_cut_off_last_row_is_an_error_not_a_footer():
    text = "a,b,c,d,e,f,g,h\n" + "1,2,3,4,5,6,7,8\n" * 3 + "1,2,3,4,5,6\n"
    with pytest.raises(IngestError) as err:
        read_source(SourceFile("cut.csv", text.encode()))
    assert err.value.report.errors[0].code == "malformed_row" and err.value.report.errors[0].row == 5


def test_tab_separated_rows_without_trailing_tabs_are_padded():
    text = "a\tb\tc\n1\t2\t3\n4\t5\n6\n"
    raw = read_source(SourceFile("report.txt", text.encode()))
    assert raw.n_rows == 3 and raw.padded_rows == 2
    assert raw.frame["c"].isna().tolist() == [False, True, True]


def test_a_large_kanji_heavy_shift_jis_file_is_read_whole():
    """Detection reads the first 400,000 bytes; the rest must decode too. Product names heavy in kanji
    carry few kana (1 in 11 here)."""
    text = "商品コード,商品名\n" + "JP-0001,土鍋（国産）職人手作り\n" * 30000
    raw = _read("商品.csv", text.encode("cp932"))
    assert raw.encoding == "Shift-JIS (cp932)" and len(raw.frame) == 30000
    assert raw.frame["商品名"].iloc[-1] == "土鍋（国産）職人手作り"


def test_the_encoding_is_read_where_the_text_is_and_of_the_whole_file():
    """A long export whose first 400 KB are ASCII and whose Japanese names come later; a file of
    exactly the sample's size whose last character is cut is not taken for what its sample reads as."""
    from lifecycle_core.readers import SAMPLE_BYTES

    late = "sku,name\n" + "A1,plain ascii name\n" * 22000 + "J1,土鍋（国産）職人手作り\n" * 2000
    assert len(late) > SAMPLE_BYTES and detect_encoding(late.encode("cp932")) == "cp932"
    body = ("商品编号,商品名称\n" + "CN-1,不锈钢保温杯\n" * 40000).encode("gb18030")
    cut = body[: SAMPLE_BYTES - 1] + "杯".encode("gb18030")[:1]  # exactly the sample, cut in a character
    assert len(cut) == SAMPLE_BYTES and detect_encoding(cut) != "gb18030"


def test_utf8_with_a_few_stray_bytes_stays_utf8_and_says_so():
    """One Latin-1 no-break space pasted into a UTF-8 file made it EUC-KR: every accent became Hangul
    (Cr챔me). Now the stray byte is replaced and the encoding says where; a cp1252 file stays cp1252."""
    data = "id,title\n1,Crème brûlée\n2,20°C\n".encode() + b"3,caf\xa0e\n"
    raw = _read("paste.csv", data)
    assert raw.frame["title"].tolist() == ["Crème brûlée", "20°C", "caf\ufffde"]
    assert raw.encoding.startswith("UTF-8, 1 invalid byte(s) replaced") and "line 4" in raw.encoding
    assert detect_encoding("id,title\n1,Café crème\n2,Größe\n".encode("cp1252")) == "cp1252"
