"""Evaluation report of the form model: confusion matrices, calibration, per-class metrics.

``write_report(folder, results, notes)`` takes the output of ``training.evaluate`` (before
its probabilities are dropped) and writes into ``folder``:

- ``confusion_<set>.png``: one confusion matrix per method, side by side;
- ``calibration_<set>.png``: reliability diagram of our model's top-class confidence;
- ``per_class_<set>.png``: per-class precision, recall and F1 of our model;
- ``metrics.json`` and ``index.html`` (tables of every figure above).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

from engine.form import FORM_LABELS  # noqa: E402

OURS = "formnet (ours)"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def plot_confusions(path: Path, title: str, methods: dict) -> None:
    """One row of confusion matrices (rows = truth), one per method."""
    figure, axes = plt.subplots(1, len(methods), figsize=(3.3 * len(methods), 4.0), squeeze=False)
    short = [label.replace("_", "\n") for label in FORM_LABELS]
    for axis, (method, metrics) in zip(axes[0], methods.items(), strict=True):
        matrix = np.asarray(metrics["confusion"])
        axis.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            axis.text(column, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > matrix.max() / 2 else "black")
        axis.set_title(f"{method}\nF1 {metrics['macro_f1']:.2f}", fontsize=9)
        axis.set_xticks(range(len(FORM_LABELS)), short, fontsize=6)
        axis.set_yticks(range(len(FORM_LABELS)), short, fontsize=6)
        axis.set_xlabel("predicted", fontsize=7)
    axes[0][0].set_ylabel("true", fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def reliability(probabilities: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict:
    """Per-bin mean confidence, accuracy and count of the top class."""
    confidence = probabilities.max(-1)
    correct = probabilities.argmax(-1) == truth
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            rows.append({"low": float(low), "high": float(high), "count": int(inside.sum()),
                         "confidence": float(confidence[inside].mean()),
                         "accuracy": float(correct[inside].mean())})
    return {"bins": rows}


def plot_calibration(path: Path, title: str, table: dict) -> None:
    """Reliability diagram: accuracy against confidence per bin, with the diagonal."""
    figure, axis = plt.subplots(figsize=(4, 4))
    rows = table["bins"]
    axis.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect")
    axis.bar([(r["low"] + r["high"]) / 2 for r in rows], [r["accuracy"] for r in rows],
             width=0.09, alpha=0.6, label="accuracy")
    axis.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], "o-", color="C1",
              label="mean confidence")
    axis.set_xlabel("top-class probability")
    axis.set_ylabel("accuracy")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_per_class(path: Path, title: str, per_class: list[dict]) -> None:
    """Grouped bars of precision, recall and F1 per class."""
    figure, axis = plt.subplots(figsize=(6, 3.2))
    x = np.arange(len(FORM_LABELS))
    for offset, key in zip((-0.25, 0.0, 0.25), ("precision", "recall", "f1"), strict=True):
        axis.bar(x + offset, [m[key] for m in per_class], width=0.25, label=key)
    axis.set_xticks(x, [f"{name}\n(n={m['support']})" for name, m in
                        zip(FORM_LABELS, per_class, strict=True)], fontsize=7)
    axis.set_ylim(0, 1.05)
    axis.legend(fontsize=7)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(folder: Path, results: dict, notes: dict) -> Path:
    """Writes the figures, ``metrics.json`` and ``index.html``; returns the HTML path.

    Args:
        folder: output folder (created).
        results: ``{set: {method: metrics}}`` from ``training.evaluate``; our model's entry
            may carry ``probabilities`` (N, A) and ``truth`` (N,) for the calibration plot.
        notes: facts to state in the report (e.g. whether real photos were trained on).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sections = []
    summary: dict = {"notes": notes, "sets": {}}
    for name, methods in results.items():
        slug = _slug(name)
        plot_confusions(folder / f"confusion_{slug}.png", name, methods)
        ours = methods[OURS]
        figures = [f"confusion_{slug}.png"]
        summary["sets"][name] = {
            m: {k: v for k, v in metrics.items() if k not in ("probabilities", "truth")}
            for m, metrics in methods.items()
        }
        if "probabilities" in ours:
            probabilities = np.asarray(ours["probabilities"])
            table = reliability(probabilities, np.asarray(ours["truth"]))
            summary["sets"][name][OURS]["reliability"] = table
            plot_calibration(folder / f"calibration_{slug}.png",
                             f"{name}: NLL {ours['nll']:.3f}, ECE {ours['ece']:.3f}", table)
            figures.append(f"calibration_{slug}.png")
        plot_per_class(folder / f"per_class_{slug}.png", f"{name}: {OURS}", ours["per_class"])
        figures.append(f"per_class_{slug}.png")
        rows = [
            [method, str(m["n"]), f"{m['straight_banana_balanced_accuracy']:.3f}",
             f"{m['macro_f1']:.3f}", f"{m['accuracy']:.3f}",
             f"{m['judged_share']:.2f}" if "judged_share" in m else ""]
            for method, m in methods.items()
        ]
        per_class_rows = [
            [label, str(m["support"]), f"{m['precision']:.3f}", f"{m['recall']:.3f}",
             f"{m['f1']:.3f}"]
            for label, m in zip(FORM_LABELS, ours["per_class"], strict=True)
        ]
        images = "".join(f'<img src="{f}" alt="{html.escape(f)}">' for f in figures)
        sections.append(
            f"<h2>{html.escape(name)}</h2>"
            + _html_table(["method", "n", "balanced acc. straight/banana", "macro-F1",
                           "accuracy", "judged share"], rows)
            + f"<h3>{OURS}: per class</h3>"
            + _html_table(["class", "support", "precision", "recall", "F1"], per_class_rows)
            + f"<div>{images}</div>"
        )
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    note_rows = [[str(k), str(v)] for k, v in notes.items()]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Form model report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:0.5em 0}td,th{border:1px solid #bbb;padding:3px 8px}img{max-width:100%;"
        "margin:4px}</style></head><body><h1>Handstand form model: evaluation</h1>"
        + _html_table(["note", "value"], note_rows) + "".join(sections) + "</body></html>"
    )
    path = folder / "index.html"
    path.write_text(page)
    return path

