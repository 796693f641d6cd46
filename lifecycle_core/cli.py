"""Command-line interface: everything the dashboard does, scriptable.

    python -m lifecycle_core demo --out demo_data
    python -m lifecycle_core ingest demo_data/*.csv --workspace ws --name demo
    python -m lifecycle_core datasets --workspace ws
    python -m lifecycle_core label --workspace ws --dataset demo
    python -m lifecycle_core evaluate --workspace ws --dataset demo --json
    python -m lifecycle_core actions --workspace ws --dataset demo --out actions.xlsx
    python -m lifecycle_core anomalies --workspace ws --dataset demo --out anomalies.csv

Exit codes: 0 success, 2 invalid input (the validation report goes to stderr), 1 other failures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .report import IngestError

EXIT_OK, EXIT_FAIL, EXIT_INVALID = 0, 1, 2
RHYTHMS = {"D": "daily", "W": "weekly", "M": "monthly"}


def _progress_printer(quiet: bool):
    def show(fraction: float, message: str) -> None:
        if not quiet:
            print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)

    return show


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import write_demo

    paths = write_demo(args.out, args.products, args.weeks, seed=args.seed)
    for p in paths:
        print(p)
    return EXIT_OK


def _sources(paths: list[str], limits):
    from .readers import SourceFile

    return [SourceFile.from_path(p, limits=limits) for p in paths]


def _options(args: argparse.Namespace):
    from .ingest import IngestOptions
    from .readers import MIB, ReadLimits

    return IngestOptions(
        period=args.period,
        date_order=args.date_order,
        limits=ReadLimits(max_file_bytes=int(args.max_mb * MIB), max_rows=args.max_rows),
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import ingest
    from .mapping import load_mapping_file
    from .store import Workspace, WorkspaceError

    try:
        options = _options(args)
        overrides = load_mapping_file(args.mapping) if args.mapping else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    ws = Workspace(args.workspace)
    try:
        ws.check_dataset_name(args.name, replace=args.replace)
        sources = _sources(args.paths, options.limits)
        info = ingest(
            ws,
            args.name,
            sources,
            overrides=overrides,
            options=options,
            replace=args.replace,
            progress=_progress_printer(args.quiet),
            force=args.force,
        )
    except IngestError as exc:
        print(exc.report.format_text(), file=sys.stderr)
        print("nothing was written to the workspace", file=sys.stderr)
        return EXIT_INVALID
    except WorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    warnings = [p for p in info.report["problems"] if p["severity"] == "warning"]
    if args.json:
        print(json.dumps({"dataset": info.name, "counts": info.counts, "warnings": warnings}, ensure_ascii=False))
        return EXIT_OK
    c = info.counts
    print(f"dataset {info.name!r} stored in {ws.root}")
    print(f"  {c.get('rhythm', '')}")
    print(f"  products: {c['products']:,}   periods: {c['periods']:,} ({c['first_period']} .. {c['last_period']})")
    returned = f"   returned: {c['returned_units']:,.0f}" if c.get("returned_units") else ""
    print(f"  sales rows: {c['sales_rows']:,}   units: {c['units']:,.0f}{returned}")
    for t in ("transactions", "reviews", "search_terms", "inventory"):
        if t in c:
            print(f"  {t}: {c[t]:,} rows")
    saved = info.report.get("info", {}).get("saved_mappings", {})
    for s in info.sources:
        how = (
            f"joined into {s['joined_into']}"
            if s.get("joined_into")
            else f"{s['table']}, {s['rows']:,} rows, {s['format']}" + (f", {s['encoding']}" if s["encoding"] else "")
        )
        if s.get("layout"):
            how += f"; recognised: {s['layout']}"
        if s["name"] in saved:
            how += f"; using the mapping saved on {saved[s['name']]['saved_at'][:10]} (from {saved[s['name']]['from']})"
        print(f"  file {s['name']}: {how}")
    print(f"  warnings: {len(warnings)}")
    for w in warnings:
        print(f"    - {w['message']}")
    return EXIT_OK


def cmd_mappings(args: argparse.Namespace) -> int:
    """The mappings the workspace remembers per export layout (saved when a mapping is confirmed)."""
    from .store import Workspace, WorkspaceError

    ws = Workspace(args.workspace)
    if args.forget:
        try:
            ws.forget_mapping(args.forget)
        except WorkspaceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
        print(f"forgot the mapping {args.forget}")
        return EXIT_OK
    saved = ws.saved_mappings()
    if not saved:
        print("no saved mappings: a mapping is saved when you ingest with --mapping or save a dataset on the Data page")
    for sig, entry in saved.items():
        tm = entry["mapping"]
        cols = ", ".join(f"{c} -> {f}" for c, f in tm.columns.items())
        print(f"{sig}  {tm.table}  saved {entry['saved_at'][:19]} from {entry['file']}: {cols}")
    return EXIT_OK


def cmd_mapping(args: argparse.Namespace) -> int:
    """Print the guessed mapping of each file as JSON, ready to edit and pass back with --mapping."""
    from .ingest import plan_files
    from .readers import ReadLimits, SourceFile

    plans, report = plan_files([SourceFile.from_path(p, limits=ReadLimits()) for p in args.paths])
    out = {
        p.raw.file: {
            "table": p.mapping.table,
            "columns": {**p.mapping.columns, **{c: None for c in p.mapping.extra}},
            "confidence": p.mapping.confidence,
            **({"recognised": p.layout} if p.layout else {}),
        }
        for p in plans
        # An orders file joined into its items file, or one that cannot be used alone, has no mapping;
        # a products export's stock is read as inventory by its layout.
        if p.used and not (p.mapping.table == "inventory" and p.layout and p.applied is None)
    }
    for p in plans:
        if p.joined_into:
            print(f"{p.raw.file}: recognised: {p.layout}; joined into {p.joined_into} by order number", file=sys.stderr)
        elif p.needs:
            print(f"{p.raw.file}: recognised: {p.layout}; {p.needs}", file=sys.stderr)
    text = json.dumps(out, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"mapping written to {args.out}")
    else:
        print(text)
    if not report.ok:
        print(report.format_text(), file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def cmd_datasets(args: argparse.Namespace) -> int:
    from .store import Workspace

    ws = Workspace(args.workspace)
    rows = [d.summary() for d in ws.list_datasets()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return EXIT_OK
    if not rows:
        print(f"no datasets in {ws.root}")
    for r in rows:
        print(
            f"{r['name']}\t{r['products']} products\t{r['periods']} periods\t"
            f"{r['first_period']}..{r['last_period']}\t{r['created_at']}\t{r['files']}"
        )
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    from .store import Workspace

    Workspace(args.workspace).delete_dataset(args.name)
    print(f"deleted dataset {args.name!r}")
    return EXIT_OK


def _rules(args: argparse.Namespace):
    """The label rules of a dataset command: windows from time unless --horizon is given."""
    from .labeling import LabelRules
    from .periods import parse_window
    from .store import Workspace

    horizon = None
    if args.horizon is not None:
        horizon = parse_window(args.horizon, Workspace(args.workspace).dataset(args.dataset).period)
    return LabelRules(rule=args.rule, horizon=horizon)


def cmd_label(args: argparse.Namespace) -> int:
    from .labeling import label_report
    from .panel import panel_from_dataset
    from .store import Workspace

    ws = Workspace(args.workspace)
    panel = panel_from_dataset(ws, args.dataset)
    products = ws.load_table(args.dataset, "products")
    launch = products.set_index("product_id")["launch_date"] if "launch_date" in products else None
    overrides = products.loc[products["stage"].notna(), ["product_id", "stage"]] if "stage" in products else None
    rep = label_report(
        panel, _rules(args), launch_dates=launch, overrides=overrides, user_labels=ws.stage_labels(args.dataset)
    )
    if args.json:
        print(json.dumps(rep, ensure_ascii=False))
        return EXIT_OK
    w = rep["windows"]
    print(f"labels for {args.dataset!r} by the {rep['rule']} rule ({RHYTHMS[rep['period']]} periods)")
    print(
        f"  horizon {w['horizon']['time']}, smoothing {w['smooth_window']['time']}, minimum run {w['min_run']['time']}"
    )
    print(f"  volume threshold: {rep['volume']}")
    print(f"  product-periods: {rep['active_product_periods']:,} active, {rep['labeled']:,} labeled")
    for stage, n in rep["counts"].items():
        print(f"  {stage:<13}{n:>9,}")
    for why, n in rep["unlabeled"].items():
        print(f"  unlabeled ({why}): {n:,}")
    if rep["user_labels"]:
        print(f"  set by users (products file or `correct`): {rep['user_labels']:,} product-periods")
    ag = rep["agreement"]
    print(
        f"  agreement with the other rule: kappa {ag['cohen_kappa']}, accuracy {ag['accuracy']} on {ag['compared']:,}"
    )
    print("  most common paths:")
    for p in rep["paths"]:
        print(f"    {p['products']:>5}  {p['path']}")
    return EXIT_OK


def cmd_correct(args: argparse.Namespace) -> int:
    """Set, list or undo the stage labels users give products (they win over the rule labels)."""
    from .stages import Stage, parse_stage
    from .store import Workspace

    ws = Workspace(args.workspace)
    who = args.by or os.environ.get("USER") or "command line"
    if args.undo is not None:
        ws.undo_stage_label(args.undo, author=who)
        print(f"stage label {args.undo} undone")
        return EXIT_OK
    if args.product is not None:
        stage = parse_stage(args.stage) if args.stage is not None else None
        if stage is None or args.since is None:
            print(
                "error: --product needs --stage (Introduction, Growth, Maturity, Decline, 初期..., 0-3) "
                "and --from (the date the stage holds from, YYYY-MM-DD)",
                file=sys.stderr,
            )
            return EXIT_INVALID
        label_id = ws.add_stage_label(args.dataset, args.product, int(stage), args.since, author=who)
        print(f"stage label {label_id}: {args.product} is {Stage(int(stage)).label('en')} from {args.since} (by {who})")
        return EXIT_OK
    table = ws.stage_labels(args.dataset, include_undone=args.all)
    if args.json:
        print(table.to_json(orient="records", date_format="iso", force_ascii=False))
        return EXIT_OK
    if table.empty:
        print(f"no stage labels set by users on {args.dataset!r}")
    for r in table.itertuples(index=False):
        gone = f"  (undone {r.undone_at} by {r.undone_by})" if isinstance(r.undone_at, str) else ""
        print(
            f"  {r.id:>5}  {r.product_id}  {Stage(int(r.stage)).label('en'):<13} from {str(r.period)[:10]}  by {r.author} at {r.created_at}{gone}"
        )
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_dataset
    from .predict import load_model, model_dir
    from .store import Workspace

    ws = Workspace(args.workspace)
    if args.ablation:
        return _print_ablation(ws, args)
    try:
        trained = {Path(m).name: load_model(model_dir(ws, m)) for m in args.model or []}
        res = evaluate_dataset(
            ws, args.dataset, rules=_rules(args), exclude_anomalies=args.exclude_anomalies, trained=trained
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
        return EXIT_OK
    print(f"{res['labeled']:,} labeled product-periods ({RHYTHMS[res['period']]}); time split: {res['layout']}")
    for block, title in (
        (res, "time split"),
        (res["product_split"], "product split (unseen products)"),
        (res["product_split"]["cold_start_first_8"], "unseen products, first 8 weeks"),
    ):
        rows = block.get("test_rows") or {}
        shares = ", ".join(f"{k} {v:,}" for k, v in (rows.get("stages") or {}).items())
        print(
            f"{title}: n_test={block['n_test']:,}" + (f" ({rows['products']:,} products; {shares})" if shares else "")
        )
        if rows.get("note"):
            print(f"  note: {rows['note']}")
        for name, m in block["baselines"].items():
            if m.get("skipped"):
                print(f"  {name:<10} skipped: {m['skipped']}")
                continue
            print(
                f"  {name:<10} macro-F1 {m['macro_f1']}  accuracy {m['accuracy']}  ECE {m['ece']} "
                f"(floor {m['ece_floor']}){_versus(m.get('vs_gbm'))}"
            )
    print(
        "vs gbm: macro-F1 points over the gbm baseline on the same rows, 95% interval over products; "
        "ECE floor: what a perfectly calibrated model would show on this many rows"
    )
    return EXIT_OK


def _points(d: dict) -> str:
    """'+1.2 [-0.3, +2.8]': a paired difference (significance.paired_f1_difference) and its interval."""
    return f"{d['diff']:+.1f}" + (f" [{d['low']:+.1f}, {d['high']:+.1f}]" if d["low"] is not None else "")


def _versus(d: dict | None) -> str:
    return f"  vs gbm {_points(d)}" if d else ""


def _print_ablation(ws, args: argparse.Namespace) -> int:
    from .ablation import VARIANTS, ablation
    from .predict import load_model, model_dir

    try:
        trained = {Path(m).name: load_model(model_dir(ws, m)) for m in args.model or []}
        res = ablation(ws, args.dataset, rules=_rules(args), trained=trained, progress=_progress_printer(args.json))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
        return EXIT_OK
    print(f"ablation on {args.dataset!r} ({RHYTHMS[res['period']]}): macro-F1 / ECE on the test rows")
    for kind in ("time", "product"):
        block = res[kind]
        columns = list(VARIANTS) + [m for m, on in res["models"].items() if on == kind]
        print(f"\n{kind} split: {block['layout']}")
        print(f"  {'slice':<12}{'n':>8}  " + "  ".join(f"{v:>17}" for v in columns))
        for sl, cells in block["slices"].items():
            shown = [f"{cells[v]['macro_f1']:.3f} / {cells[v]['ece']:.3f}" if v in cells else "-" for v in columns]
            print(f"  {sl:<12}{cells['n']:>8,}  " + "  ".join(f"{c:>17}" for c in shown))
        for sl, diffs in block.get("differences", {}).items():
            print(f"  {sl:<12} " + ";  ".join(f"{pair} {_points(d)}" for pair, d in diffs.items()))
    print("\ndifferences: macro-F1 points on the same rows, 95% interval from a bootstrap over products")
    return EXIT_OK


def cmd_actions(args: argparse.Namespace) -> int:
    from . import export
    from .decisions import plan_actions
    from .store import Workspace

    ws = Workspace(args.workspace)
    model_stages = None
    if args.model:
        from .predict import load_predictions, predict_and_store

        try:
            model_stages = load_predictions(ws, args.model, args.dataset)
            if model_stages is None:
                model_stages = predict_and_store(ws, args.model, args.dataset)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
    plan = plan_actions(ws, args.dataset, rules=_rules(args), model_stages=model_stages)
    a = plan.actions
    export.write(a, args.out, sheet="actions")
    print(
        f"{len(a):,} products -> {args.out}" + ("" if plan.has_inventory else "  (no inventory data: from sales alone)")
    )
    for action, n in a["action"].value_counts().items():
        print(f"  {action:<10}{n:>7,}")
    restock = a[a["action"] == "restock"]
    clear = a[a["action"] == "clearance"]
    print(f"  units to order: {restock['quantity'].sum():,.0f}; capital needed: {restock['capital'].sum():,.2f}")
    print(
        f"  expected markdown cost: {clear['markdown_cost'].sum():,.2f}; capital released: {-clear['capital'].sum() + 0.0:,.2f}"
    )
    return EXIT_OK


def cmd_anomalies(args: argparse.Namespace) -> int:
    from . import export
    from .decisions import find_anomalies
    from .store import Workspace

    flags = find_anomalies(Workspace(args.workspace), args.dataset, rules=_rules(args))
    export.write(flags, args.out, sheet="anomalies")
    print(f"{len(flags):,} flags -> {args.out}")
    for kind, n in flags["type"].value_counts().items() if len(flags) else []:
        print(f"  {kind:<18}{n:>7,}")
    for r in flags.head(args.top).itertuples(index=False):
        print(f"  [{r.type}] {r.product_id} {str(r.period)[:10]}: {r.reason_en}")
    return EXIT_OK


def cmd_backtest(args: argparse.Namespace) -> int:
    from .decisions import forecast_backtest
    from .store import Workspace

    res = forecast_backtest(Workspace(args.workspace), args.dataset, rules=_rules(args))
    if args.json:
        print(json.dumps(res))
        return EXIT_OK
    print(
        f"{res['origins']} origins, horizon {res['horizon_time']}, {res['products_scored']:,} product-origins scored "
        "(MASE, lower is better)"
    )
    if not res["products_scored"]:
        print("  no product sold long enough before an origin to be scored")
        return EXIT_OK
    for k in ("stage_holt", "holt_without_stage", "ses", "seasonal_naive"):
        print(f"  {k:<20} mean {res[k]['mase_mean']:.3f}  median {res[k]['mase_median']:.3f}")
    print(f"  {res['stage_holt']['interval']:.0%} interval coverage: {res['stage_holt']['coverage']:.1%}")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from .jobs import JobError, check_model_name
    from .store import Workspace
    from .train import TrainConfig, train

    try:
        check_model_name(args.model_name)
        cfg = TrainConfig(
            model_kind=args.model_kind,
            base_model=args.base_model or "",
            mode="frozen" if args.freeze_encoder else "lora" if args.lora else "full",
            train_layers=args.train_layers,
            epochs=args.epochs,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            head_learning_rate=args.head_learning_rate,
            max_length=args.max_length,
            gradient_accumulation=args.gradient_accumulation,
            save_steps=args.save_steps,
            patience=args.patience,
            augment=args.augment,
            text_segments=not args.joint_text,
            class_weights=not args.no_class_weights,
            split=args.split,
            precision=args.precision,
            seed=args.seed,
        )
    except (ValueError, JobError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    ws = Workspace(args.workspace)
    out = ws.root / "models" / args.model_name
    if (out / "model").exists() and not args.resume:
        print(f"error: {_name_taken(out, args.model_name, args.dataset)}", file=sys.stderr)
        return EXIT_INVALID
    try:
        res = train(
            ws,
            args.dataset,
            cfg,
            output_dir=out,
            resume=args.resume,
            rules=_rules(args),
            # Under torchrun every process runs this; one of them reports.
            progress=_progress_printer(args.quiet or os.environ.get("RANK", "0") != "0"),
        )
    except ValueError as exc:  # settings this machine or dataset cannot take: say which, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if os.environ.get("RANK", "0") != "0":
        return EXIT_OK
    m = res.metrics
    unit = "boosting rounds" if cfg.model_kind == "stacked" else "steps"
    print(f"model {args.model_name!r} saved in {out / 'model'} after {res.steps} {unit} ({res.seconds:,.0f} s)")
    print(f"  validation macro-F1 {m['macro_f1']}  accuracy {m['accuracy']}  ECE {m['ece']}")
    parts = res.model.training.get("parts")
    if parts:
        left = f"; left out: {', '.join(parts['left_out'])}" if parts["left_out"] else ""
        print(f"  reads: {', '.join(parts['used'])}{left}")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from . import export
    from .embedding_store import EmbeddingStore
    from .model import LifecycleModel
    from .predict import load_model, model_dir, model_examples, quantization_agreement, score_dataset, store_predictions
    from .store import Workspace

    ws = Workspace(args.workspace)
    try:
        folder = model_dir(ws, args.model)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    model = load_model(folder)
    neural = isinstance(model, LifecycleModel)
    if args.int8 and not neural:
        print("note: --int8 applies to the neural model; a stacked model scores with its booster as it is")
    store = EmbeddingStore.for_model(folder, int8=args.int8) if neural else None
    started = time.perf_counter()
    preds = score_dataset(
        ws, args.dataset, model.quantized() if args.int8 else model, latest_only=args.latest, store=store
    )
    seconds = time.perf_counter() - started
    if not args.latest:
        store_predictions(ws, args.model, args.dataset, preds)
    export.write(_with_titles(ws, args.dataset, preds), args.out, sheet="predictions")
    print(f"{len(preds):,} predictions -> {args.out} ({seconds:,.1f} s{', int8' if args.int8 else ''})")
    if args.int8 and neural:
        ex = model_examples(ws, args.dataset, model)
        rows = ex.frame.sample(min(len(ex.frame), 2000), random_state=0)
        agree = quantization_agreement(
            model, ex.texts[rows["text_id"].to_numpy()].tolist(), rows[list(model.config.feature_names)].to_numpy(float)
        )
        print(
            f"  int8 vs fp32 on {agree['rows']:,} rows: same stage {agree['stage_agreement']:.1%}, "
            f"largest probability difference {agree['max_abs_diff']}"
        )
    for stage, n in preds["stage_en"].value_counts().items():
        print(f"  {stage:<13}{n:>9,}")
    return EXIT_OK


def _name_taken(out: Path, name: str, dataset: str) -> str:
    """Why a model name cannot be used again, and what to do: the names are the workspace's, shared by its
    datasets; --resume continues a neural model's checkpointed training (a stacked model has none)."""
    try:
        cfg = json.loads((out / "model" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    training = cfg.get("training") if isinstance(cfg.get("training"), dict) else {}
    kind = training.get("model_kind") or cfg.get("kind") or "a"
    on = f" trained on dataset {training['dataset']!r}" if training.get("dataset") else ""
    resume = ", or --resume to continue its training" if kind == "neural" else ""
    return (
        f"a {kind} model named {name!r}{on} exists in {out.parent} (model names are the workspace's, shared by "
        f"its datasets); choose another --model-name, e.g. {dataset + '-' + name!r}{resume}"
    )


def _with_titles(ws, dataset: str, frame):
    """``frame`` with each product's title and category next to its id, for a file read by people."""
    products = ws.load_table(dataset, "products").drop_duplicates("product_id").set_index("product_id")
    out = frame.copy()
    for k, col in enumerate(c for c in ("title", "category") if c in products and c not in frame):
        out.insert(1 + k, col, products[col].reindex(out["product_id"]).to_numpy())
    return out


def cmd_jobs(args: argparse.Namespace) -> int:
    from . import jobs
    from .store import Workspace

    ws = Workspace(args.workspace)
    try:
        if args.cancel is not None:
            job = jobs.cancel(ws, args.cancel)
            print(f"job {job.id}: {'cancelled' if job.state == jobs.CANCELLED else 'asked to stop'}")
            return EXIT_OK
        if args.resume is not None:
            job = jobs.resume(ws, args.resume)
            print(f"job {job.id} {job.state}: resumes job {args.resume} ({job.model_name})")
            return EXIT_OK
    except jobs.JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    rows = jobs.list_jobs(ws)
    if args.json:
        print(json.dumps([{**j.__dict__, "history": len(j.history)} for j in rows], default=str))
        return EXIT_OK
    for j in rows:
        f1 = f"{j.val_macro_f1:.4f}" if j.val_macro_f1 is not None else "-"
        print(f"{j.id:>4} {j.state:<10} {j.model_name:<24} {j.dataset:<16} step {j.step}/{j.max_steps}  val F1 {f1}")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain
    from .predict import load_model, model_dir
    from .store import Workspace

    ws = Workspace(args.workspace)
    try:
        model = load_model(model_dir(ws, args.model))
        budget = {} if args.budget is None else {"budget": args.budget}  # None: the explainer's own default
        exp = explain(ws, args.dataset, model, args.product, args.period, **budget)
    except (FileNotFoundError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(exp.to_dict(), ensure_ascii=False, default=float))
        return EXIT_OK
    s = exp.stage
    print(f"{args.product} at {exp.meta['period']}: {exp.sentence(args.lang)}")
    print("  " + "  ".join(f"{k} {v:.1%}" for k, v in exp.to_dict()["probabilities"].items()))
    print(
        f"  base {exp.base[s]:.3f}, text {exp.text_share(s):+.3f}, signals {exp.probabilities[s] - exp.base[s] - exp.text_share(s):+.3f}"
    )
    for r in exp.top_features(s).itertuples():
        print(f"  feature {r.feature:<20} = {r.input:10.3f}  {r.value:+.4f}")
    for r in exp.top_tokens(s, words_only=True).itertuples():
        print(f"  word    {r.token.strip()!r:<20} {r.value:+.4f}")
    return EXIT_OK


def cmd_quality(args: argparse.Namespace) -> int:
    from .quality import quality_report, stage_influence
    from .store import Workspace

    ws = Workspace(args.workspace)
    try:
        report = quality_report(ws, args.dataset, args.model)
        if args.influence:
            report["influence"] = stage_influence(ws, args.dataset, args.model, per_stage=args.influence)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(report, ensure_ascii=False, default=float))
        return EXIT_OK
    m = report["metrics"]
    print(f"{args.model} on {report['n_test']:,} test rows of the {report['split']} split:")
    print(
        f"  macro-F1 {m['macro_f1']}  accuracy {m['accuracy']}  ECE {m['ece']} (floor {m['ece_floor']})"
        + _versus(m.get("vs_gbm"))
    )
    if (report.get("test_rows") or {}).get("note"):
        print(f"  note: {report['test_rows']['note']}")
    for b in report.get("below") or []:
        print(f"  note: {b['points']:.1f} points below the {b['baseline']} baseline on these rows")
    for stage, v in m["per_stage"].items():
        if not v["support"]:
            continue  # a stage absent from the test rows has no F1 to show
        print(
            f"  {stage:<13} F1 {v['f1']:.3f}  precision {v['precision']:.3f}  recall {v['recall']:.3f}  n {v['support']}"
        )
    for kind, scores in (("model", report["models"]), ("baseline", report["baselines"])):
        for name, v in scores.items():
            print(f"  {kind:<8} {name:<16} macro-F1 {v['macro_f1']}  accuracy {v['accuracy']}  ECE {v['ece']}")
    for r in (report.get("influence") or {}).get("features", []):
        print(f"  stage {r['stage']} feature {r['feature']:<20} mean {r['mean']:+.4f}  |mean| {r['mean_abs']:.4f}")
    for r in (report.get("influence") or {}).get("tokens", []):
        print(f"  stage {r['stage']} word    {r['token']!r:<20} mean {r['mean']:+.4f}  in {r['products']} products")
    return EXIT_OK


def cmd_behaviour(args: argparse.Namespace) -> int:
    from .behaviour import behaviour, stages_by_period
    from .store import Workspace

    ws = Workspace(args.workspace)
    try:
        b = behaviour(ws, args.dataset, stages_by_period(ws, args.dataset, args.model), window=args.window)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_INVALID
    tables = {
        "funnel": b.funnel,
        "returns": b.returns,
        "ratings": b.ratings,
        "review_terms": b.review_terms,
        "search_terms": b.search_terms,
    }
    if args.json:
        out = {k: v.to_dict("records") for k, v in tables.items()}
        print(json.dumps({"stages_from": b.source, "window": b.window, **out}, ensure_ascii=False, default=str))
        return EXIT_OK
    print(f"stages from {b.source}; last {b.window} periods")
    for name in ("funnel", "review_terms", "search_terms"):
        print(f"\n{name}:\n{tables[name].to_string(index=False)}")
    return EXIT_OK


def _dataset_args(p: argparse.ArgumentParser) -> None:
    """The options of every command that works on a stored dataset."""
    p.add_argument("--workspace", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--rule", default="level", choices=["level", "bass"], help="label rule family")
    p.add_argument(
        "--horizon",
        help="label confirmation window h: periods (8) or time (8w, 2m, 56d); default 8 weeks in the data's periods",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m lifecycle_core", description="Lifecycle Studio command line")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="write the synthetic demo catalog as CSV files")
    p.add_argument("--out", required=True, help="folder to write into")
    p.add_argument("--products", type=int, default=300)
    p.add_argument("--weeks", type=int, default=104)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ingest", help="validate files and store them as a dataset")
    p.add_argument("paths", nargs="+", help="CSV, .csv.gz, .xlsx or .parquet files")
    p.add_argument("--workspace", required=True)
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--mapping", help="JSON column mapping (see the `mapping` command)")
    p.add_argument(
        "--period",
        default="auto",
        choices=["auto", "D", "W", "M"],
        help="aggregation period: auto (the data's own rhythm; invoice lines: weeks, or months when sparse) or D/W/M, coarser than the data",
    )
    p.add_argument("--date-order", default="auto", choices=["auto", "day-first", "month-first"])
    p.add_argument("--max-mb", type=float, default=512, help="largest file accepted, MiB (after decompression)")
    p.add_argument("--max-rows", type=int, default=5_000_000, help="most rows accepted per file")
    p.add_argument("--replace", action="store_true", help="replace an existing dataset of that name")
    p.add_argument(
        "--force",
        action="store_true",
        help="store sales even where most products have a single dated row (refused otherwise: such files are "
        "usually catalogues or one-day snapshots)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("mappings", help="list the column mappings saved in a workspace, or forget one")
    p.add_argument("--workspace", required=True)
    p.add_argument("--forget", metavar="SIGNATURE", help="forget the saved mapping with this signature")
    p.set_defaults(func=cmd_mappings)

    p = sub.add_parser("mapping", help="print the guessed column mapping of files as editable JSON")
    p.add_argument("paths", nargs="+")
    p.add_argument("--out", help="write the JSON here instead of printing it")
    p.set_defaults(func=cmd_mapping)

    p = sub.add_parser("datasets", help="list the datasets of a workspace")
    p.add_argument("--workspace", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("label", help="derive stage labels from sales curves and report them")
    _dataset_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("correct", help="set, list or undo users' stage labels (they win over the rules)")
    p.add_argument("--workspace", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--product", help="the product whose stage you know")
    p.add_argument("--stage", help="Introduction, Growth, Maturity or Decline (or 初期, 成长期, 成熟期, 衰退期, 0-3)")
    p.add_argument("--from", dest="since", help="YYYY-MM-DD: the stage holds from this period on")
    p.add_argument("--by", help="who sets it (default: $USER)")
    p.add_argument("--undo", type=int, metavar="ID", help="withdraw the label with this id")
    p.add_argument("--all", action="store_true", help="list undone labels too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_correct)

    p = sub.add_parser("evaluate", help="score the baselines on the time and the product split")
    _dataset_args(p)
    p.add_argument("--exclude-anomalies", action="store_true", help="leave anomalous product-periods out of training")
    p.add_argument(
        "--model", action="append", help="also score this trained model (name or folder) on its split; repeatable"
    )
    p.add_argument(
        "--ablation",
        action="store_true",
        help="gradient boosting with growing inputs (+ seasons, + analogs, + text components) per split and slice; "
        "with --model, that trained model as a row on its split (the transformer alone: a --model-kind neural model)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("actions", help="restock / promote / clearance suggestions for every product")
    _dataset_args(p)
    p.add_argument("--model", help="take stages from this trained model (default: the built-in estimate)")
    p.add_argument("--out", required=True, help="a .csv or .xlsx file")
    p.set_defaults(func=cmd_actions)

    p = sub.add_parser("anomalies", help="bulk buying, abnormal returns, spikes and drops")
    _dataset_args(p)
    p.add_argument("--out", required=True, help="a .csv or .xlsx file")
    p.add_argument("--top", type=int, default=10, help="print this many of the strongest flags")
    p.set_defaults(func=cmd_anomalies)

    p = sub.add_parser("backtest", help="rolling-origin backtest of the demand forecast")
    _dataset_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_backtest)

    from .train_config import TrainConfig

    p = sub.add_parser("train", help="train the stage model on a dataset (stacked by default, or the neural network)")
    _dataset_args(p)
    p.add_argument("--model-name", required=True, help="folder name under WORKSPACE/models")
    p.add_argument(
        "--model-kind",
        choices=["stacked", "neural"],
        default="stacked",
        help="stacked: gradient boosting over signals, seasons, analogs and the text (default, minutes); "
        "neural: the fine-tuned transformer + signals network (the options below apply to it)",
    )
    p.add_argument("--base-model", help="local folder or hub id (default: the packaged MiniLM)")
    p.add_argument("--epochs", type=float, default=TrainConfig().epochs)
    p.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    d = TrainConfig()
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="encoder / adapters")
    p.add_argument("--head-learning-rate", type=float, default=d.head_learning_rate)
    p.add_argument("--max-length", type=int, default=d.max_length)
    p.add_argument("--gradient-accumulation", type=int, default=d.gradient_accumulation)
    p.add_argument("--save-steps", type=int, default=0, help="checkpoint and evaluate every N steps (0: each epoch)")
    p.add_argument("--patience", type=int, default=d.patience, help="evaluations without improvement before stopping")
    p.add_argument("--augment", type=float, default=0.0, help="text augmentation strength in [0, 1)")
    p.add_argument("--no-class-weights", action="store_true")
    p.add_argument("--split", choices=["time", "product"], default="time", help="what validates (and tests)")
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="auto: bf16 (else fp16) autocast on a CUDA GPU, fp32 on the CPU",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--lora", action="store_true", help="LoRA adapters instead of updating encoder weights")
    mode.add_argument("--freeze-encoder", action="store_true", help="train only the numeric MLP and the heads")
    p.add_argument("--train-layers", type=int, default=d.train_layers, help="top encoder layers that learn (0: all)")
    p.add_argument(
        "--joint-text",
        action="store_true",
        help="read each product-period's text as one sequence instead of segment-wise (slower; the older models)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="score every product-period with a trained model")
    _dataset_args(p)
    p.add_argument("--model", required=True, help="a model name under WORKSPACE/models, or a model folder")
    p.add_argument("--out", required=True, help="a .csv or .xlsx file")
    p.add_argument("--latest", action="store_true", help="only each product's latest period (not stored)")
    p.add_argument("--int8", action="store_true", help="int8 dynamic quantization for CPU; prints its agreement")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("jobs", help="list background training jobs; cancel or resume one")
    p.add_argument("--workspace", required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cancel", type=int, metavar="ID")
    g.add_argument("--resume", type=int, metavar="ID", help="a failed or cancelled job, from its last checkpoint")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("explain", help="SHAP token and feature attributions of one product's prediction")
    _dataset_args(p)
    p.add_argument("--model", required=True, help="a model name under WORKSPACE/models, or a model folder")
    p.add_argument("--product", required=True)
    p.add_argument("--period", help="YYYY-MM-DD (default: the product's latest active period)")
    p.add_argument(
        "--budget",
        type=int,
        help="model evaluations for the token attributions (default: the model's, explain.model_budget)",
    )
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("quality", help="a model's test metrics on its own split, against baselines and other models")
    _dataset_args(p)
    p.add_argument("--model", required=True, help="a model with stored predictions (run predict first)")
    p.add_argument(
        "--influence", type=int, default=0, metavar="N", help="also SHAP influence over N products per stage"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser("behaviour", help="funnel, returns, ratings and rising/falling terms per stage")
    _dataset_args(p)
    p.add_argument("--model", help="stages from this model's stored predictions (default: rule-based estimates)")
    p.add_argument(
        "--window", type=int, help="recent periods (terms: against the same number before); default 8 weeks' worth"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_behaviour)

    p = sub.add_parser("delete-dataset", help="delete a dataset and its files")
    p.add_argument("--workspace", required=True)
    p.add_argument("--name", required=True)
    p.set_defaults(func=cmd_delete)
    return ap


def main(argv: list[str] | None = None) -> int:
    from .store import WorkspaceError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except IngestError as exc:
        print(exc.report.format_text(), file=sys.stderr)
        return EXIT_INVALID
    except WorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except ValueError as exc:  # bad settings or data too small for the command: the message says which
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
