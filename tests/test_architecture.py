"""The core stays free of Streamlit, so it runs from the CLI, in jobs and in tests without a UI."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "lifecycle_core"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_streamlit():
    offenders = [str(p) for p in CORE.rglob("*.py") if "streamlit" in _imports(p)]
    assert offenders == []


def test_architecture_check_sees_imports(tmp_path):
    # Guard against a checker that can never fail.
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom streamlit import session_state\n")
    assert "streamlit" in _imports(bad)


def test_core_modules_have_runnable_docstrings():
    for p in CORE.glob("*.py"):
        doc = ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))
        assert doc, f"{p.name} has no module docstring"
