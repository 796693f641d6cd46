"""Data page: upload, column mapping, validation report, preview, dataset list, demo loader."""

from __future__ import annotations

import dataclasses
import tempfile

import pandas as pd
import streamlit as st

from lifecycle_core.demo import write_demo
from lifecycle_core.ingest import SINGLE_ROWS, FilePlan, IngestOptions, plan_files, prepare
from lifecycle_core.mapping import TableMapping, guess_columns
from lifecycle_core.readers import MIB, SourceFile
from lifecycle_core.report import IngestError, ValidationReport
from lifecycle_core.schema import TABLES
from lifecycle_core.store import WorkspaceError
from ui import state
from ui.escape import md
from ui.state import tr

DEMO_PRODUCTS, DEMO_WEEKS = 300, 104
state.page_setup()
ws = state.workspace()
# Widgets whose options are translated carry the language in their key: switching language makes
# them new widgets instead of leaving a stored choice that no longer matches any option.
lang = state.lang()
defaults = IngestOptions()

st.title(tr("data.title"))
st.caption(tr("data.intro"))
state.show_flash()

# ---- datasets --------------------------------------------------------------------------------------
st.subheader(tr("data.datasets"))
datasets = ws.list_datasets()
if not datasets:
    st.info(tr("data.no_datasets"))
else:
    table = pd.DataFrame([d.summary() for d in datasets])
    table.columns = [tr(f"data.col.{c}") for c in table.columns]
    st.dataframe(table, hide_index=True, width="stretch")
    with st.expander(tr("data.detail")):
        pick = st.selectbox(tr("data.delete.select"), [d.name for d in datasets], key="detail_pick")
        info = ws.dataset(pick)
        tname = st.selectbox(
            tr("data.detail.table"), info.tables, format_func=state.fmt("table."), key=f"detail_table.{lang}"
        )
        st.dataframe(ws.load_table(pick, tname).head(200), hide_index=True, width="stretch")
        rep = ValidationReport.from_dict(info.report)
        if rep.warnings:
            st.caption(tr("data.warnings"))
            st.dataframe(rep.to_frame("warning").dropna(axis=1, how="all"), hide_index=True, width="stretch")
    with st.expander(tr("data.delete.header")):
        victim = st.selectbox(tr("data.delete.select"), [d.name for d in datasets], key="delete_pick")
        sure = st.checkbox(tr("data.delete.confirm"), key="delete_confirm")
        if st.button(tr("data.delete.button"), disabled=not sure, key="delete_button"):
            ws.delete_dataset(victim)
            state.flash("success", tr("data.delete.done", name=victim))
            st.rerun()

# ---- demo ------------------------------------------------------------------------------------------
st.subheader(tr("data.demo.header"))
st.caption(tr("data.demo.help", products=DEMO_PRODUCTS, weeks=DEMO_WEEKS))
if st.button(tr("data.demo.button"), type="primary", key="demo_button"):
    taken = {d.name for d in datasets}
    name = next(n for n in ["demo"] + [f"demo-{i}" for i in range(2, 1000)] if n not in taken)
    bar = st.progress(0.0, text=tr("data.working"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_demo(tmp, DEMO_PRODUCTS, DEMO_WEEKS, seed=0)
        sources = [SourceFile.from_path(p) for p in paths]
        from lifecycle_core.ingest import ingest

        ingest(ws, name, sources, progress=lambda f, m: bar.progress(min(1.0, f), text=m))
    state.flash("success", tr("data.demo.done", name=name))
    st.rerun()

# ---- upload ----------------------------------------------------------------------------------------
st.subheader(tr("data.upload.header"))
st.caption(
    tr("data.upload.limit", mb=f"{defaults.limits.max_file_bytes / MIB:,.0f}", rows=f"{defaults.limits.max_rows:,}")
)
files = st.file_uploader(
    tr("data.upload.label"),
    type=["csv", "tsv", "txt", "gz", "xlsx", "parquet"],
    accept_multiple_files=True,
    max_upload_size=int(defaults.limits.max_file_bytes // MIB),  # the core's limit, whatever the config says
    key="uploader",
)
uploads: dict = st.session_state.setdefault(state.UPLOADS, {})
current = tuple((f.file_id, f.name) for f in files or [])
if uploads.get("files") != current:
    # Read and plan all files together, once per change of the selection (widgets rerun the script on
    # every click): an orders file is joined to its items file, and saved mappings apply by header.
    found, report = plan_files(
        [SourceFile(f.name, f.getvalue()) for f in files or []], options=defaults, saved=ws.saved_mappings()
    )
    uploads.clear()
    uploads.update(files=current, plans=found if current else [], report=report if current else ValidationReport())

plans: list[FilePlan] = []
read_report: ValidationReport = uploads["report"]
for i, plan in enumerate(uploads["plans"]):
    raw = plan.raw
    stock = plan.mapping.table == "inventory" and plan.applied is None and plan.layout
    with st.expander(f"📄 {raw.file}" + (f" · {tr('table.inventory')}" if stock else ""), expanded=True):
        enc = f" · {raw.encoding}" if raw.encoding else ""
        delim = f" · {raw.delimiter!r}" if raw.delimiter else ""
        st.caption(tr("data.mapping.read_info", rows=f"{raw.n_rows:,}", fmt=raw.format, enc=enc, delim=delim))
        if plan.layout:
            st.info(tr("data.recognised", layout=plan.layout))  # our own label, not data
        if plan.note or plan.hint:
            st.warning(md(plan.note or plan.hint))
        if plan.joined_into:
            st.caption(tr("data.joined", file=md(plan.joined_into)))
            continue
        if plan.needs:
            st.warning(tr("data.needs", what=md(plan.needs)))
            continue
        if plan.saved_from:
            c1, c2 = st.columns([4, 1])
            c1.success(
                tr("data.saved_mapping", file=md(plan.saved_from["file"]), when=plan.saved_from["saved_at"][:10])
            )
            if c2.button(tr("data.forget_mapping"), key=f"forget_{i}_{plan.signature}"):
                ws.forget_mapping(plan.signature)
                uploads.clear()  # plan again, without the saved mapping
                st.rerun()
        tables = list(TABLES)
        table = st.selectbox(
            tr("data.mapping.table"),
            tables,
            index=tables.index(plan.mapping.table),
            format_func=state.fmt("table."),
            key=f"table_{i}_{plan.signature}.{lang}",
        )
        guess = plan.mapping if table == plan.mapping.table else guess_columns(raw.columns, TABLES[table])
        ignore = tr("data.mapping.ignore")
        options = [ignore, *TABLES[table].field_names]
        columns: dict[str, str] = {}
        grid = st.columns(3)
        for j, col in enumerate(c for c in raw.columns if not c.startswith("_")):
            guessed = guess.columns.get(col)
            conf = guess.confidence.get(col)
            label = f"{col}" + (f"  ({conf:.0%})" if guessed and conf is not None else "")
            choice = grid[j % 3].selectbox(
                label,
                options,
                index=options.index(guessed) if guessed in options else 0,
                key=f"map_{i}_{plan.signature}_{table}_{j}.{lang}",
            )
            if choice != ignore:
                columns[col] = choice
        mapping = TableMapping(
            table, columns, {c: 1.0 for c in columns}, 1.0, [c for c in raw.columns if c not in columns]
        )
        if mapping.missing_required:
            st.warning(tr("data.mapping.missing", fields=", ".join(mapping.missing_required)))
        st.caption(tr("data.preview"))
        st.dataframe(
            raw.frame.drop(columns=[c for c in raw.columns if c.startswith("_")]).head(10),
            hide_index=True,
            width="stretch",
        )
        plans.append(dataclasses.replace(plan, mapping=mapping))
plans += [p for p in uploads["plans"] if not p.used]  # joined orders files: reported with the dataset

if not read_report.ok:
    st.error(tr("data.read_errors"))
    st.dataframe(read_report.to_frame("error").dropna(axis=1, how="all"), hide_index=True, width="stretch")


def show_report(report: ValidationReport) -> None:
    if report.errors:
        st.error(tr("data.invalid", n=len(report.errors)))
        st.caption(tr("data.errors"))
        st.dataframe(report.to_frame("error").dropna(axis=1, how="all"), hide_index=True, width="stretch")
    if report.warnings:
        st.caption(tr("data.warnings"))
        st.dataframe(report.to_frame("warning").dropna(axis=1, how="all"), hide_index=True, width="stretch")


def rhythm_line(rhythm: dict) -> str:
    """The rhythm found in the dates and the period the sales were aggregated to, in the UI language."""
    return tr(
        "data.rhythm",
        kind=tr(f"data.kind.{rhythm['kind']}"),
        period=tr(f"data.period.{rhythm['aggregated_to']}"),
        evidence=rhythm["evidence"],
    )


if plans:
    with st.expander(tr("data.options")):
        period = st.radio(
            tr("data.period"),
            ["auto", "W", "D", "M"],
            format_func=state.fmt("data.period."),
            horizontal=True,
            key=f"opt_period.{lang}",
        )
        order = st.radio(
            tr("data.date_order"),
            ["auto", "day-first", "month-first"],
            format_func=state.fmt("data.date_order."),
            horizontal=True,
            key=f"opt_date_order.{lang}",
        )
    name = st.text_input(tr("data.name"), key="dataset_name")
    replace = st.checkbox(tr("data.replace"), key="dataset_replace")
    c1, c2 = st.columns(2)
    validate = c1.button(tr("data.validate"), key="validate_button")
    save = c2.button(tr("data.save"), type="primary", key="save_button")
    if validate or save:
        options = IngestOptions(period=period, date_order=order)
        if save and not name.strip():
            st.warning(tr("data.name_required"))
        else:
            with st.spinner(tr("data.working")):
                try:
                    prepared = prepare(plans, options=options, key=ws.secret_key())
                except IngestError as exc:
                    show_report(exc.report)
                    prepared = None
            single = prepared is not None and any(p.code == SINGLE_ROWS for p in prepared.report.warnings)
            if save and single and not st.session_state.get("force_single"):
                show_report(prepared.report)
                st.warning(tr("data.single_rows"))
                st.checkbox(tr("data.force"), key="force_single")
                prepared = None
            if prepared is not None:
                c = prepared.counts
                if save:
                    try:
                        info = ws.save_dataset(name.strip(), prepared, replace=replace)
                    except WorkspaceError as exc:
                        st.error(md(exc))
                    else:
                        for plan in plans:
                            # A mapping the user changed is remembered for this export layout.
                            if plan.changed_by_user:
                                ws.save_mapping(plan.signature, plan.mapping, file=plan.raw.file)
                        st.session_state.pop(state.UPLOADS, None)
                        state.flash(
                            "success",
                            tr("data.saved", name=info.name, products=c["products"], periods=c["periods"])
                            + " "
                            + rhythm_line(prepared.report.info["rhythm"]),
                        )
                        st.rerun()
                else:
                    st.success(
                        tr("data.valid", products=c["products"], periods=c["periods"], rows=f"{c['sales_rows']:,}")
                    )
                    st.info(rhythm_line(prepared.report.info["rhythm"]))
                    show_report(prepared.report)
                    for tname, frame in prepared.tables.items():
                        st.caption(tr(f"table.{tname}"))
                        st.dataframe(frame.head(10), hide_index=True, width="stretch")
