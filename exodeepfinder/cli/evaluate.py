"""Compare detected events with reference (expert) events: precision, recall and F1.

Detected and reference events are paired one to one (Hungarian assignment) when they are at
most --tolerance voxels apart in (t, y, x). Writes a CSV with one row per matched pair (tp),
per unmatched detection (fp) and per missed reference event (fn), and, when the detections
have scores (or another --score_column such as cluster_size), a precision-recall curve over the
score threshold as a PNG and a CSV. With --batch, every subfolder is evaluated and the
per-movie and pooled figures are written to ``evaluation_summary.csv`` in the batch folder, the
pooled F1 with a 95% interval from resampling the movies (``f1_low``, ``f1_high``): how much the
figure could move on another set of movies like these.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..commands import batch_folders
from ..errors import Cancelled, InputError
from ._common import (_in_subfolder, add_overwrite_argument, check_output, describe_failure, format_path, publish,
                      run_command)

NAME = "evaluate"
BATCH_PATHS = None  # --batch is handled here, to pool the counts of all movies
PATHS = ["annotation", "reference"]
BATCH_DEFAULTS = {"annotation": "annotation.xml", "reference": "expert_annotation.xml"}
SUMMARY_NAME = "evaluation_summary.csv"


def add_arguments(parser):
    parser.add_argument("-a", "--annotation", type=Path, default=None,
                        help=f"detected events (.xml or .csv) (with --batch, default: {BATCH_DEFAULTS['annotation']})")
    parser.add_argument("-r", "--reference", type=Path, default=None,
                        help="reference (expert) events (.xml or .csv) "
                             f"(with --batch, default: {BATCH_DEFAULTS['reference']})")
    parser.add_argument("-t", "--tolerance", type=float, default=5,
                        help="largest distance (voxels, frames and pixels alike) between matched events")
    parser.add_argument("-o", "--output", default="{annotation.parent}/{annotation.stem}_evaluation.csv",
                        help="CSV of matches and misses; the precision-recall curve is saved beside it "
                             "(<output>_pr_curve.png and .csv)")
    parser.add_argument("--score_column", default="score",
                        help="column of the detected events ranking them for the precision-recall curve")
    # its own dest: the shared --batch loop would run each folder alone and could not pool them
    parser.add_argument("-b", "--batch", dest="pooled_batch", metavar="BATCH", type=Path, default=None,
                        help="evaluate every subfolder of this folder (paths then relative to each subfolder) "
                             f"and write the pooled figures to {SUMMARY_NAME} in it")
    add_overwrite_argument(parser)


def _format_summary(summary: dict) -> str:
    return (f"tp {summary['tp']}, fp {summary['fp']}, fn {summary['fn']}: precision {summary['precision']:.3f}, "
            f"recall {summary['recall']:.3f}, F1 {summary['f1']:.3f}")


def evaluate_one(args) -> dict:
    """Evaluate one pair of event lists, write its outputs; return its summary."""
    import numpy as np
    import pandas as pd

    from ..events.evaluate import match_events, precision_recall_curve, precision_recall_figure
    from ..io.events import read_events
    from ..io.figures import save_figure
    from ..io.tables import write_csv

    if args.annotation is None or args.reference is None:
        raise InputError("--annotation and --reference: give the detected and the reference event lists")
    if args.tolerance < 0:
        raise InputError(f"--tolerance: must be >= 0, got {args.tolerance}")
    output = check_output(format_path(args.output, annotation=args.annotation), args)
    detected = read_events(args.annotation)
    reference = read_events(args.reference)
    column = args.score_column
    with_curve = column in detected.columns and np.isfinite(pd.to_numeric(detected[column], errors="coerce")).any()
    outputs = {"table": output}
    if with_curve:  # every output is checked before any is written
        outputs["curve_csv"] = check_output(output.with_name(output.stem + "_pr_curve.csv"), args)
        outputs["curve_png"] = check_output(output.with_name(output.stem + "_pr_curve.png"), args)
    matching = match_events(detected, reference, args.tolerance)
    summary = matching.summary
    with publish(args, outputs) as temporary:  # the table and the curve appear together
        write_csv(matching.table(detected, reference), temporary["table"])
        if with_curve:
            curve = precision_recall_curve(detected, reference, args.tolerance, score=column)
            write_csv(curve, temporary["curve_csv"])
            save_figure(precision_recall_figure(curve, title=Path(args.annotation).parent.name, score=column),
                        temporary["curve_png"], dpi=120)
    print(f"{Path(args.annotation).name} vs {Path(args.reference).name}: {_format_summary(summary)}")
    print(f"wrote {output}")
    if with_curve:
        best = curve.loc[curve["f1"].idxmax()] if curve["f1"].notna().any() else None
        if best is not None:
            print(f"best F1 {best['f1']:.3f} with {column} >= {best['threshold']:.4g}; "
                  f"wrote {outputs['curve_png'].name} and {outputs['curve_csv'].name}")
    return summary


def run(args):
    import numpy as np
    import pandas as pd

    from ..events.evaluate import pooled_summary
    from ..io.tables import write_csv

    if args.pooled_batch is None:
        evaluate_one(args)
        return
    batch = Path(args.pooled_batch)
    folders = batch_folders(batch)
    summary_path = check_output(batch / SUMMARY_NAME, args)
    for name, default in BATCH_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, Path(default))
    rows, failed = [], []
    for folder in folders:
        print(f"[{folder.name}]", flush=True)
        try:
            rows.append({"movie": folder.name, **evaluate_one(_in_subfolder(args, folder, PATHS))})
        except Exception as err:
            if isinstance(err, Cancelled):
                raise
            failed.append(folder.name)
            print(f"  skipped {folder.name}: {describe_failure(err, args)}", file=sys.stderr, flush=True)
    if not rows:
        raise InputError(f"{batch}: no subfolder could be evaluated")
    table = pd.DataFrame(rows)
    pooled = pooled_summary(table[["tp", "fp", "fn"]].to_numpy())
    table = pd.concat([table, pd.DataFrame([{"movie": "pooled", **pooled}])], ignore_index=True)
    write_csv(table, summary_path, overwrite=args.overwrite)
    interval = ""
    if np.isfinite(pooled["f1_low"]):  # not for a single movie
        interval = f" (95% interval over movies {pooled['f1_low']:.3f}-{pooled['f1_high']:.3f})"
    print(f"pooled over {len(rows)} movie(s): {_format_summary(pooled)}{interval}")
    print(f"wrote {summary_path}" + (f"; skipped: {', '.join(failed)}" if failed else ""))
    if failed:
        raise InputError(f"{batch}: {len(failed)} folder(s) skipped ({', '.join(failed)})")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
