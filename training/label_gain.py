"""Did the user's labels help? The model before and after retraining, on held-out labels.

After ``python -m training.train_form --store labels.db`` the labeled examples held out from
training (``train_form.labeled_sets``) are judged by the model the app used before and by the
new one; the figures come with 95 % bootstrap intervals over the split groups
(``training.evaluate.bootstrap_intervals``), so a user sees whether a difference is more than
chance, followed by the accuracy before and after on each held-out group (a video, or a folder
and person: ``training.store.group_of``), so a user sees whose frames the labels helped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.form import FORM_LABELS, load_form_model
from engine.verdict import BANANA_INDEX

# Below this many held-out groups a bootstrap over groups says little about the spread.
FEW_GROUPS = 5
FIGURES = (("straight_banana_balanced_accuracy", "balanced acc. straight/banana"),
           ("macro_f1", "macro-F1 (4 classes)"), ("accuracy", "accuracy"))
# The per-group lines list the largest groups; more would drown the summary.
MAX_GROUP_LINES = 12


def _scores(weights: Path, test, seed: int) -> dict:
    from training.evaluate import bootstrap_intervals, real_metrics

    classifier = load_form_model(weights)
    verdicts = classifier.predict_batch([clip[-1:] for clip in test.keypoints])
    probabilities = np.array([[v.probabilities[name] for name in FORM_LABELS] for v in verdicts])
    predicted = probabilities.argmax(-1)
    args = (test.labels, predicted, probabilities[:, BANANA_INDEX])
    correct = predicted == test.labels
    per_group = {str(group): (int((test.groups == group).sum()),
                              float(correct[test.groups == group].mean()))
                 for group in np.unique(test.groups)}
    return {"metrics": real_metrics(*args),
            "ci95": bootstrap_intervals(*args, test.groups, np.random.default_rng(seed)),
            "per_group": per_group}


def group_title(group: str) -> str:
    """A split group (``training.store.group_of``) as a short name: file or folder, person."""
    kind, _, rest = group.partition(":")
    where, _, person = (rest or kind).partition("|")
    name = Path(where).name or where
    return f"{name} ({person})" if person else name


def compare_on_labels(before: Path | None, after: Path, test, seed: int = 0) -> dict:
    """Scores the model before and after retraining on the held-out labeled examples.

    Args:
        before: the weights the app used before (None or missing: only ``after`` is scored).
        after: the newly trained weights.
        test: the held-out labeled ``ClipSet``.
        seed: bootstrap seed.

    Returns:
        ``{"examples", "groups", "before": {"weights", "metrics", "ci95", "per_group"} | None,
        "after"}``; ``per_group`` maps each held-out group to (examples, accuracy).
    """
    result = {"examples": len(test), "groups": int(len(np.unique(test.groups))),
              "before": None, "after": {"weights": str(after), **_scores(after, test, seed)}}
    if before is not None and Path(before).exists():
        result["before"] = {"weights": str(before), **_scores(Path(before), test, seed)}
    return result


def format_comparison(result: dict) -> str:
    """A small table: each figure before and after, with its 95 % interval."""
    columns = [name for name in ("before", "after") if result[name] is not None]
    lines = [f"your held-out labels ({result['examples']} examples, {result['groups']} groups), "
             "95 % intervals:",
             f"{'':<32}" + "".join(f"{name:>22}" for name in columns)]
    for key, title in FIGURES:
        cells = []
        for name in columns:
            value, (low, high) = result[name]["metrics"][key], result[name]["ci95"][key]
            cells.append("n/a" if np.isnan(value) else f"{value:.3f} [{low:.2f}, {high:.2f}]")
        lines.append(f"{title:<32}" + "".join(f"{cell:>22}" for cell in cells))
    after = result["after"]["per_group"]
    largest = sorted(after, key=lambda group: (-after[group][0], group))
    lines.append("accuracy per held-out group (" + " -> ".join(columns) + "):")
    for group in largest[:MAX_GROUP_LINES]:
        count = after[group][0]
        cells = " -> ".join(f"{result[name]['per_group'][group][1]:.2f}" for name in columns)
        lines.append(f"  {group_title(group)[:40]:<40} {count:>4} examples  {cells}")
    if len(largest) > MAX_GROUP_LINES:
        lines.append(f"  ... and {len(largest) - MAX_GROUP_LINES} smaller groups")
    for name in columns:
        lines.append(f"{name}: {result[name]['weights']}")
    if result["before"] is None:
        lines.append("before: no previous model to compare with")
    if result["groups"] < FEW_GROUPS:
        lines.append(f"only {result['groups']} group(s) held out: the intervals cannot show how "
                     "much the figures vary between people or sessions")
    return "\n".join(lines)


def report_label_gain(before: Path | None, after: Path, test, seed: int,
                      log: Callable[[str], None] = print) -> dict | None:
    """Prints :func:`format_comparison`, or why there is nothing to compare; returns it."""
    if len(test) == 0:
        log("no labeled examples were held out, so there is no test of whether your labels "
            "helped (label more than one photo or a longer video)")
        return None
    result = compare_on_labels(before, after, test, seed)
    log(format_comparison(result))
    return result
