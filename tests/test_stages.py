from lifecycle_core.stages import ID2LABEL, LABEL2ID, STAGE_COLORS, Stage, parse_stage, stage_names


def test_ids_and_names_are_one_table():
    assert [int(s) for s in Stage] == [0, 1, 2, 3]
    assert stage_names("en") == ["Introduction", "Growth", "Maturity", "Decline"]
    assert stage_names("zh") == ["初期", "成长期", "成熟期", "衰退期"]
    assert {v: k for k, v in ID2LABEL.items()} == LABEL2ID
    assert set(STAGE_COLORS) == set(Stage)


def test_parse_stage_accepts_merchant_spellings():
    assert parse_stage("Growth") is Stage.GROWTH
    assert parse_stage(" decline ") is Stage.DECLINE
    assert parse_stage("成熟期") is Stage.MATURITY
    assert parse_stage("导入期") is Stage.INTRODUCTION
    assert parse_stage(3) is Stage.DECLINE
    assert parse_stage("2.0") is Stage.MATURITY
    assert parse_stage("peak") is None
    assert parse_stage(None) is None
