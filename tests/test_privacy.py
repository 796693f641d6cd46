import pandas as pd

from lifecycle_core.privacy import mask_pii, mask_series, pseudonymize


def test_masks_emails_phones_and_ids():
    assert mask_pii("write to jane.doe+x@example.co.uk") == "write to [email]"
    assert mask_pii("电话13812345678，谢谢") == "电话[phone]，谢谢"
    assert mask_pii("call +86 138-1234-5678") == "call [phone]"
    assert mask_pii("ring +44 20 7946 0958 now") == "ring [phone] now"
    assert mask_pii("身份证 110101199003074512") == "身份证 [id]"


def test_keeps_dates_prices_and_quantities():
    text = "bought 2 on 2024-03-05 for 1,000 yuan, size 42"
    assert mask_pii(text) == text
    assert mask_pii(None) is None


def test_mask_series_keeps_missing():
    out = mask_series(pd.Series(["a@b.com", None, "fine"], dtype="str"))
    assert out.tolist()[0] == "[email]" and pd.isna(out.tolist()[1]) and out.tolist()[2] == "fine"


def test_pseudonyms_are_keyed_stable_and_not_the_id():
    ids = pd.Series(["13085", "13085", None, "99"], dtype="str")
    a = pseudonymize(ids, b"k" * 32).tolist()
    b = pseudonymize(ids, b"k" * 32).tolist()
    c = pseudonymize(ids, b"j" * 32).tolist()
    assert a == b and a[0] == a[1] and a[0] != a[3]
    assert pd.isna(a[2])
    assert a[0] != c[0]
    assert "13085" not in a[0] and len(a[0]) == 16
