"""The four product life-cycle stages: the single source of truth for ids, names and colours.

python -c "from lifecycle_core.stages import Stage; print([s.label('zh') for s in Stage])"
"""

from __future__ import annotations

from enum import IntEnum


class Stage(IntEnum):
    INTRODUCTION = 0
    GROWTH = 1
    MATURITY = 2
    DECLINE = 3

    def label(self, lang: str = "en") -> str:
        """The stage's display name in ``lang`` ("en" or "zh")."""
        return STAGE_NAMES[lang][self]

    @property
    def color(self) -> str:
        return STAGE_COLORS[self]


STAGE_NAMES: dict[str, dict[Stage, str]] = {
    "en": {
        Stage.INTRODUCTION: "Introduction",
        Stage.GROWTH: "Growth",
        Stage.MATURITY: "Maturity",
        Stage.DECLINE: "Decline",
    },
    "zh": {
        Stage.INTRODUCTION: "初期",
        Stage.GROWTH: "成长期",
        Stage.MATURITY: "成熟期",
        Stage.DECLINE: "衰退期",
    },
}

# Colour-blind-safe (Okabe-Ito) so the stage mix reads the same for every user.
STAGE_COLORS: dict[Stage, str] = {
    Stage.INTRODUCTION: "#56B4E9",
    Stage.GROWTH: "#009E73",
    Stage.MATURITY: "#E69F00",
    Stage.DECLINE: "#D55E00",
}

ID2LABEL: dict[int, str] = {int(s): s.label("en") for s in Stage}
LABEL2ID: dict[str, int] = {v: k for k, v in ID2LABEL.items()}

# Words a merchant may type in a `stage` column, English or Chinese, any case.
_ALIASES: dict[str, Stage] = {
    "introduction": Stage.INTRODUCTION,
    "intro": Stage.INTRODUCTION,
    "launch": Stage.INTRODUCTION,
    "导入期": Stage.INTRODUCTION,
    "引入期": Stage.INTRODUCTION,
    "growth": Stage.GROWTH,
    "grow": Stage.GROWTH,
    "maturity": Stage.MATURITY,
    "mature": Stage.MATURITY,
    "decline": Stage.DECLINE,
    "declining": Stage.DECLINE,
}
for _stage in Stage:
    for _lang in STAGE_NAMES:
        _ALIASES[STAGE_NAMES[_lang][_stage].lower()] = _stage
    _ALIASES[str(int(_stage))] = _stage


def label_maps() -> dict:
    """The label maps every saved model carries in its config.json (English and Chinese names)."""
    return {
        "id2label": {str(k): v for k, v in ID2LABEL.items()},
        "label2id": LABEL2ID,
        "stage_names": {lang: [names[s] for s in Stage] for lang, names in STAGE_NAMES.items()},
    }


def parse_stage(value: object) -> Stage | None:
    """A stage from an id (0-3), an English or Chinese name; None when not recognised."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    return _ALIASES.get(text)


def stage_names(lang: str = "en") -> list[str]:
    """Stage names in id order."""
    return [STAGE_NAMES[lang][s] for s in Stage]
