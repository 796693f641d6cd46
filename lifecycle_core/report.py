"""Validation report: every problem found in uploaded files, with file, row, column and value.

    python -m lifecycle_core ingest bad.csv --workspace ws --name x   # prints this report on failure

Errors stop an ingest; warnings are kept with the dataset so a user can review them later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

ERROR, WARNING = "error", "warning"

# Beyond this many rows of one problem in one column, the report summarises the rest in one line:
# a report of 100,000 identical lines helps nobody and costs memory.
MAX_ROWS_PER_PROBLEM = 20


@dataclass(frozen=True)
class Problem:
    severity: str
    code: str
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    expected: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        loc = ", ".join(where)
        text = f"{self.severity.upper()} [{self.code}] {loc + ': ' if loc else ''}{self.message}"
        if self.value is not None:
            text += f" (found {self.value!r}" if self.value != "" else " (found an empty cell"
            text += f"; expected {self.expected})" if self.expected else ")"
        elif self.expected:
            text += f" (expected {self.expected})"
        return text


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)
    # Counts and examples of what was excluded or transformed (non-products, returns, duplicates...).
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, severity: str, code: str, message: str, **where: Any) -> None:
        # A report is stored with the dataset (and shown): values and messages that quote a cell are
        # masked like any other free text (an excluded line's description can hold an email or a phone).
        from .privacy import mask_pii

        if where.get("value") is not None:
            value = where["value"]
            # An empty cell is shown as empty, never as "nan" or "None".
            where["value"] = "" if _is_missing(value) else mask_pii(_short(value))
        self.problems.append(Problem(severity, code, mask_pii(message), **where))

    def error(self, code: str, message: str, **where: Any) -> None:
        self.add(ERROR, code, message, **where)

    def warning(self, code: str, message: str, **where: Any) -> None:
        self.add(WARNING, code, message, **where)

    def rows(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        file: str,
        column: str | None,
        rows: pd.Series,
        values: pd.Series,
        expected: str,
    ) -> None:
        """One problem per offending row (row numbers as the user sees them), summarised past a cap."""
        n = len(rows)
        for r, v in zip(rows.iloc[:MAX_ROWS_PER_PROBLEM], values.iloc[:MAX_ROWS_PER_PROBLEM], strict=True):
            self.add(severity, code, message, file=file, row=int(r), column=column, value=v, expected=expected)
        if n > MAX_ROWS_PER_PROBLEM:
            self.add(
                severity,
                code,
                f"{message}: {n - MAX_ROWS_PER_PROBLEM:,} more rows like this ({n:,} in all)",
                file=file,
                column=column,
                expected=expected,
            )

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def extend(self, other: ValidationReport) -> None:
        self.problems.extend(other.problems)
        self.info.update(other.info)

    def to_frame(self, severity: str | None = None) -> pd.DataFrame:
        cols = ["severity", "code", "file", "row", "column", "value", "expected", "message"]
        items = [asdict(p) for p in self.problems if severity is None or p.severity == severity]
        return pd.DataFrame(items, columns=cols)

    def to_dict(self) -> dict[str, Any]:
        """As stored with the dataset: the summaries in ``info`` quote cells too (an excluded line's
        description), so every string in them is masked like the problems are."""
        return {"problems": [asdict(p) for p in self.problems], "info": _masked(self.info)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationReport:
        return cls([Problem(**p) for p in d.get("problems", [])], dict(d.get("info", {})))

    def format_text(self) -> str:
        lines = [str(p) for p in self.errors] + [str(p) for p in self.warnings]
        head = f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        return "\n".join([head, *lines])


class IngestError(Exception):
    """Raised when input cannot be ingested; carries the full report. Nothing was written."""

    def __init__(self, report: ValidationReport):
        self.report = report
        first = report.errors[0] if report.errors else None
        super().__init__(f"{len(report.errors)} error(s); first: {first}")


def _masked(value: Any) -> Any:
    from .privacy import mask_pii

    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _is_missing(value: Any) -> bool:
    try:
        return value is None or value is pd.NA or value is pd.NaT or bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and other non-scalars are values, not gaps
        return False


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
