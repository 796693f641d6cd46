import pandas as pd
import pytest

from lifecycle_core.parsing import as_category, normalize_ids, parse_dates, parse_numbers


def _dates(values, **kw):
    return parse_dates(pd.Series(values, dtype="str"), **kw)


def test_iso_dates_and_timestamps():
    r = _dates(["2024-03-05", "2024-03-06 10:30:00", None])
    assert r.form == "iso"
    assert r.values.tolist()[:2] == [pd.Timestamp("2024-03-05"), pd.Timestamp("2024-03-06 10:30")]
    assert r.bad.tolist() == [False, False, False]


def test_day_first_detected_from_a_day_over_12():
    r = _dates(["05/03/2024", "31/12/2023"])
    assert r.form == "day-first" and not r.ambiguous
    assert r.values[0] == pd.Timestamp("2024-03-05")


def test_month_first_detected_from_a_second_part_over_12():
    r = _dates(["03/05/2024", "12/31/2023"])
    assert r.form == "month-first"
    assert r.values[0] == pd.Timestamp("2024-03-05")


def test_ambiguous_dates_default_to_day_first_and_say_so():
    r = _dates(["01.02.2024", "03.04.2024 10:30"])
    assert r.form == "day-first" and r.ambiguous
    assert r.values.tolist() == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-04-03 10:30")]
    forced = _dates(["01.02.2024"], date_order="month-first")
    assert forced.values[0] == pd.Timestamp("2024-01-02")


def test_excel_serials_as_text_and_as_numbers():
    assert _dates(["45000", "45001"]).values[0] == pd.Timestamp("2023-03-15")
    r = parse_dates(pd.Series([45000.0, 12.0]))
    assert r.form == "excel-serial"
    assert r.values[0] == pd.Timestamp("2023-03-15") and r.bad.tolist() == [False, True]


def test_chinese_dates():
    assert _dates(["2024年3月5日"]).values[0] == pd.Timestamp("2024-03-05")


def test_bad_dates_are_flagged_not_guessed():
    r = _dates(["2024-03-05", "next tuesday"])
    assert r.bad.tolist() == [False, True]


def test_numbers_with_currency_and_thousands():
    v, bad = parse_numbers(pd.Series(["1,234.50", "¥12", "£3", "abc", None], dtype="str"))
    assert v.tolist()[:3] == [1234.5, 12.0, 3.0]
    assert bad.tolist() == [False, False, False, True, False]


def test_numbers_on_categoricals_parse_each_value_once():
    v, bad = parse_numbers(as_category(pd.Series([" 12 ", "12", "x", None], dtype="str")))
    assert v.tolist()[:2] == [12.0, 12.0]
    assert bad.tolist() == [False, False, True, False]


def test_ids_are_stripped_and_excel_floats_fixed():
    assert normalize_ids(pd.Series(["13085.0", " A1 ", "", None], dtype="str")).tolist()[:2] == ["13085", "A1"]
    assert normalize_ids(pd.Series([1.0, 2.5])).tolist() == ["1", "2.5"]
    assert normalize_ids(pd.Series(["", None], dtype="str")).isna().all()


@pytest.mark.parametrize("order", ["sideways", ""])
def test_date_order_is_validated(order):
    with pytest.raises(ValueError, match="date_order"):
        _dates(["2024-01-01"], date_order=order)


def test_zone_offsets_are_dropped_not_converted():
    """Shop platforms write the shop's offset, which changes with daylight saving within one file."""
    s = pd.Series(["2024-03-30 23:30:00 +0100", "2024-04-02 10:00:00 +0200", "2024-06-03T08:04:21+00:00",
                   "2024-06-03T08:04:21.5Z", "2024-03-05 14:22:01 PST", "15-03-2024"])  # fmt: skip
    got = parse_dates(s).values
    assert [str(v)[:19] for v in got[:5]] == [
        "2024-03-30 23:30:00", "2024-04-02 10:00:00", "2024-06-03 08:04:21", "2024-06-03 08:04:21",
        "2024-03-05 14:22:01",
    ]  # fmt: skip
    assert str(parse_dates(pd.Series(["15-03-2024", "16-03-2024"])).values[0])[:10] == "2024-03-15"


def test_us_dates_with_a_twelve_hour_clock_and_month_names():
    assert str(parse_dates(pd.Series(["3/15/24, 9:10 PM"])).values[0]) == "2024-03-15 21:10:00"
    assert str(parse_dates(pd.Series(["Mar-15-24", "Jul-01-24"])).values[0])[:10] == "2024-03-15"


def test_excel_guards_are_not_part_of_the_value():
    from lifecycle_core.parsing import as_category

    got = as_category(pd.Series(['="0012345"', "\t12345\t", '=""', "plain"])).astype("object").tolist()
    assert got[:2] == ["0012345", "12345"] and pd.isna(got[2]) and got[3] == "plain"


def test_decimal_commas_and_currency_words():
    vals, bad = parse_numbers(pd.Series(["116,99 €", "1.234,50", "1,234", "$1,433.66", "-2,5", "12 EUR", "abc"]))
    assert vals.tolist()[:6] == [116.99, 1234.5, 1234.0, 1433.66, -2.5, 12.0]
    assert bad.tolist() == [False] * 6 + [True]
