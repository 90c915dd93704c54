"""Evaluates the form model against the baselines on held-out synthetic and real photos.

Usage:
    python -m training.evaluate --weights weights/form_handstand.pt \
        --dev-cache cache/handstand_dev_blazepose.npz [--report DIR] [--update-card]

One run scores, on the same inputs: our model (DeepHAR action stream) and the baselines of
``training/baselines.py`` (majority class, hip-angle rule, ML Kit-style k-NN, TF-Lite-style
MLP), all fitted on the same synthetic training clips (regenerated from the checkpoint's
config and seed). Sets: held-out synthetic clips (T = clip length), the same clips cut to
their last frame (photos), user-labeled test examples (when trained with a store), and the
real dev photos (BlazePose keypoints cached by ``training.pose_cache``; label "unclear" is
skipped; photos where BlazePose found nobody are left out of the metrics and counted), and the
same photos as a camera rolled by +-10 degrees would show them (a tilted phone or webcam).

Printed per set and method: straight-vs-banana balanced accuracy (mean of straight and banana
recall over 4-class predictions), 4-class macro-F1 and accuracy; for our model also the share
it can judge, the accuracy of the labels it gives (unknown counted wrong) and calibration
(NLL, expected calibration error).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.checkpoint import Checkpoint, card_path_for, load
from engine.features import clean_confidence, last_observed_frame
from engine.form import FORM_LABELS, UNKNOWN_LABEL, FormClassifier
from engine.models.ensemble import ModelAverage
from engine.skeleton import rotate_in_plane
from engine.verdict import BANANA_INDEX, STRAIGHT_INDEX
from training.splits import group_kfold

OURS = "formnet (ours)"


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows = truth, columns = prediction."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: int = len(FORM_LABELS)) -> float:
    """Mean F1 over the classes present in ``truth``."""
    scores = per_class_metrics(truth, predicted, classes)
    present = [s["f1"] for s in scores if s["support"] > 0]
    return float(np.mean(present)) if present else float("nan")


def per_class_metrics(truth: np.ndarray, predicted: np.ndarray, classes: int) -> list[dict]:
    """Precision, recall, F1 and support per class."""
    out = []
    for c in range(classes):
        tp = int(np.sum((truth == c) & (predicted == c)))
        fp = int(np.sum((truth != c) & (predicted == c)))
        fn = int(np.sum((truth == c) & (predicted != c)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"precision": precision, "recall": recall, "f1": f1, "support": tp + fn})
    return out


def straight_banana_balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of straight recall and banana recall (4-class predictions; NaN if one is absent)."""
    recalls = [
        np.mean(predicted[truth == c] == c)
        for c in (STRAIGHT_INDEX, BANANA_INDEX)
        if np.any(truth == c)
    ]
    return float(np.mean(recalls)) if len(recalls) == 2 else float("nan")


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray, bins: int = 10
                               ) -> float:
    """ECE of the top-class confidence with equal-width bins."""
    confidence = probabilities.max(-1)
    correct = probabilities.argmax(-1) == truth
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def negative_log_likelihood(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Mean NLL of the true class."""
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(truth)), truth], 1e-12, 1))))


def summarize(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Headline metrics and confusion matrix of one method on one set."""
    return {
        "n": int(len(truth)),
        "straight_banana_balanced_accuracy": straight_banana_balanced_accuracy(truth, predicted),
        "macro_f1": macro_f1(truth, predicted),
        "accuracy": float(np.mean(truth == predicted)) if len(truth) else float("nan"),
        "confusion": confusion_matrix(truth, predicted, len(FORM_LABELS)).tolist(),
        "per_class": per_class_metrics(truth, predicted, len(FORM_LABELS)),
    }


def last_frames(clips: np.ndarray) -> np.ndarray:
    """The last frame with a person of each clip: (N, T, 16, 3) -> (N, 16, 3)."""
    out = np.empty((len(clips),) + clips.shape[2:], dtype=np.float32)
    for i, clip in enumerate(clips):
        out[i] = clip[max(last_observed_frame(clip), 0)]
    return out


def score_ours(classifier: FormClassifier, clips: list[np.ndarray], truth: np.ndarray) -> dict:
    """Our model's metrics on clips (each (T_i, 16, 3)), including judge rate and calibration."""
    verdicts = []
    for start in range(0, len(clips), 256):
        verdicts.extend(classifier.predict_batch(clips[start : start + 256]))
    probabilities = np.array([[v.probabilities[name] for name in FORM_LABELS] for v in verdicts])
    result = summarize(truth, probabilities.argmax(-1))
    judged = np.array([v.label != UNKNOWN_LABEL for v in verdicts])
    given = np.array([FORM_LABELS.index(v.label) if v.can_judge else -1 for v in verdicts])
    result.update({
        "judged_share": float(judged.mean()),
        "accuracy_of_given_labels": float(np.mean(given == truth)),
        "accuracy_when_judged": float(np.mean(given[judged] == truth[judged]))
        if judged.any() else float("nan"),
        "nll": negative_log_likelihood(probabilities, truth),
        "ece": expected_calibration_error(probabilities, truth),
        "unknown_reasons": _count([v.reason for v in verdicts if not v.can_judge]),
        "probabilities": probabilities.tolist(),
        "truth": truth.tolist(),
    })
    return result


def _count(items: list[str]) -> dict[str, int]:
    names, counts = np.unique(np.asarray(items, dtype=str), return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


def _cache_rows(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """A BlazePose cache's arrays and the mask of rows with a person and one of the labels.

    Returns:
        (arrays, keep mask, rows with a label but no person).
    """
    data = dict(np.load(path, allow_pickle=False))
    labels = np.asarray(data["labels"]).astype(str)
    known = np.isin(labels, FORM_LABELS)
    person = (clean_confidence(np.asarray(data["keypoints"], dtype=np.float32)) > 0).any(-1)
    return data, known & person, int(np.sum(known & ~person))


def load_dev_cache(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Real dev photos with a person and one of the four labels.

    Returns:
        (keypoints (N, 16, 3), labels (N,) indices, files (N,), photos left out for no person).
    """
    data, keep, no_person = _cache_rows(path)
    labels = np.asarray(data["labels"]).astype(str)[keep]
    indices = np.array([FORM_LABELS.index(x) for x in labels], dtype=np.int64)
    keypoints = np.asarray(data["keypoints"], dtype=np.float32)[keep]
    return keypoints, indices, np.asarray(data["files"]).astype(str)[keep], no_person


# Views that cannot show an arch: straight/banana there count for "turn sideways" only.
HIDDEN_VIEWS = ("front", "back")


def load_real_rows(paths: list[Path], clip_length: int = 1):
    """Every labeled row with a person of several BlazePose caches as clips.

    Args:
        paths: caches written by ``training.pose_cache`` (one per data folder, or a video
            clip cache).
        clip_length: frames per clip (a photo is repeated; a video clip keeps its newest
            ``clip_length`` frames).

    Returns:
        ``(clips, confidences, files)``: a ``training.train_form.ClipSet`` (source "real", or
        "real video" for frames or clips of videos, which the grouped evaluation scores apart
        from the photos; weight = the labeler's confidence, view 0 for front/back views, 1 for
        other named views, NaN where the cache names none, groups from the cache) and the (N,)
        confidences and file names.
    """
    from training.train_form import ClipSet

    parts, confidences, files = [], [], []
    for path in paths:
        data, keep, _ = _cache_rows(path)
        views = np.asarray(data.get("views", np.full(len(keep), "")))[keep].astype(str)
        view = np.where(np.isin(views, HIDDEN_VIEWS), 0.0, np.where(views == "", np.nan, 1.0))
        confidence = np.asarray(data["confidences"], dtype=np.float32)[keep]
        groups = data.get("groups", np.asarray(data["files"]))
        if "clips" in data:  # real motion (``pose_cache --video-clips``), newest frames
            clips = np.asarray(data["clips"], dtype=np.float32)[keep][:, -clip_length:]
        else:  # a photo: the pose repeated
            keypoints = np.asarray(data["keypoints"], dtype=np.float32)[keep]
            clips = np.repeat(keypoints[:, None], clip_length, axis=1)
        kinds = np.asarray(data.get("kinds", np.full(len(keep), "photo")))[keep]
        parts.append(ClipSet(
            keypoints=clips,
            image_sizes=np.asarray(data["image_sizes"], dtype=np.float32)[keep],
            labels=np.array([FORM_LABELS.index(x) for x in data["labels"][keep].astype(str)],
                            dtype=np.int64),
            view=view.astype(np.float32),
            groups=np.asarray(groups)[keep].astype(str),
            source=np.where(np.isin(kinds, ("video_frame", "video_clip")), "real video",
                            "real"),
            weight=confidence,
        ))
        confidences.append(confidence)
        files.append(np.asarray(data["files"])[keep].astype(str))
    return ClipSet.concatenate(parts), np.concatenate(confidences), np.concatenate(files)


# A tilted phone or webcam rolls the whole picture; verdicts should not change with it.
ROLL_CHECK_DEGREES = 10.0


def rolled_both_ways(keypoints: np.ndarray, degrees: float) -> np.ndarray:
    """Photos as seen by a camera rolled by +degrees and by -degrees.

    Args:
        keypoints: (N, 16, 3) pixels, NaN for missing joints.
        degrees: roll angle.

    Returns:
        (2N, 16, 3): the N photos rolled one way, then the same N rolled the other way, each
        about the middle of its joints.
    """
    center = np.nanmedian(keypoints[..., :2], axis=-2)
    return np.concatenate([rotate_in_plane(keypoints, sign * degrees, center)
                           for sign in (1.0, -1.0)])


def evaluate_run(
    classifier: FormClassifier,
    *,
    baseline_train,
    synthetic_test=None,
    labeled_test=None,
    dev_cache: Path | None = None,
    report_dir: Path | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Scores our model and every baseline on every available set.

    Args:
        classifier: our model.
        baseline_train: the ``ClipSet`` the baselines are fitted on (the model's training set).
        synthetic_test: held-out synthetic ``ClipSet``.
        labeled_test: held-out user-labeled ``ClipSet``.
        dev_cache: BlazePose cache of real photos (``training.pose_cache``).
        report_dir: where to write PNG/HTML (None: no report).
        seed: seed for the stochastic baselines.
        log: printer.

    Returns:
        ``{set name: {method: metrics}}`` plus ``"notes"``; probabilities are dropped.
    """
    from training.baselines import fit_baselines

    baselines = fit_baselines(last_frames(baseline_train.keypoints), baseline_train.labels, seed)
    sets: dict[str, tuple[list[np.ndarray], np.ndarray, np.ndarray]] = {}
    if synthetic_test is not None:
        frames = last_frames(synthetic_test.keypoints)
        sets["synthetic clips"] = (list(synthetic_test.keypoints), frames, synthetic_test.labels)
        sets["synthetic photos"] = ([f[None] for f in frames], frames, synthetic_test.labels)
        visible = synthetic_test.view == 1
        sets["synthetic photos, side views"] = (
            [f[None] for f in frames[visible]], frames[visible], synthetic_test.labels[visible]
        )
    if labeled_test is not None:
        frames = last_frames(labeled_test.keypoints)
        sets["labeled test photos"] = ([f[None] for f in frames], frames, labeled_test.labels)
    notes = {"real_dev_photos_in_training": False}
    if dev_cache is not None:
        keypoints, labels, files, no_person = load_dev_cache(dev_cache)
        sets["real dev photos"] = ([k[None] for k in keypoints], keypoints, labels)
        rolled = rolled_both_ways(keypoints, ROLL_CHECK_DEGREES)
        sets[f"real dev photos, camera rolled ±{ROLL_CHECK_DEGREES:g}°"] = (
            [k[None] for k in rolled], rolled, np.concatenate([labels, labels]))
        notes["real_dev_photos_without_person_left_out"] = no_person
        notes["real_dev_cache"] = str(dev_cache)
    results: dict = {}
    for name, (clips, frames, truth) in sets.items():
        results[name] = {OURS: score_ours(classifier, clips, truth)}
        for method, baseline in baselines.items():
            results[name][method] = summarize(truth, baseline.predict(frames))
    log(format_table(results))
    if report_dir is not None:
        from training.report import write_report

        write_report(report_dir, results, notes)
        log(f"report written to {report_dir}")
    for methods in results.values():
        methods[OURS].pop("probabilities", None)
        methods[OURS].pop("truth", None)
    return {**results, "notes": notes}


def roc_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``truth`` (bool), ties counted half."""
    positive, negative = score[truth], score[~truth]
    if not len(positive) or not len(negative):
        return float("nan")
    greater = (positive[:, None] > negative[None]).sum() + 0.5 * (
        positive[:, None] == negative[None]).sum()
    return float(greater / (len(positive) * len(negative)))


def real_metrics(truth: np.ndarray, predicted: np.ndarray, banana_score: np.ndarray | None
                 ) -> dict[str, float]:
    """The grouped evaluation's headline figures for one method.

    Args:
        truth: (N,) class indices.
        predicted: (N,) predicted indices.
        banana_score: (N,) P(banana) (None: the method gives no scores; its AUC is NaN).

    Returns:
        straight-vs-banana balanced accuracy, 4-class macro-F1, accuracy, per-class recall
        (``recall_<label>``) and the ROC-AUC of P(banana) among straight and banana rows.
    """
    line = np.isin(truth, (STRAIGHT_INDEX, BANANA_INDEX))
    out = {
        "straight_banana_balanced_accuracy": straight_banana_balanced_accuracy(truth, predicted),
        "macro_f1": macro_f1(truth, predicted),
        "accuracy": float(np.mean(truth == predicted)),
        "banana_auc": roc_auc(truth[line] == BANANA_INDEX, banana_score[line])
        if banana_score is not None else float("nan"),
    }
    for c, name in enumerate(FORM_LABELS):
        inside = truth == c
        out[f"recall_{name}"] = float(np.mean(predicted[inside] == c)) if inside.any() else float(
            "nan")
    return out


def bootstrap_intervals(
    truth: np.ndarray, predicted: np.ndarray, banana_score: np.ndarray | None,
    groups: np.ndarray, rng: np.random.Generator, resamples: int = 1000,
) -> dict[str, list[float]]:
    """95 % percentile intervals of ``real_metrics`` under a bootstrap over groups.

    Whole groups (people or sources) are drawn with replacement, so the interval reflects
    how much the figures depend on which people happen to be in the data.
    """
    names, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(names))]
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        index = np.concatenate([members[g] for g in rng.integers(len(names), size=len(names))])
        score = None if banana_score is None else banana_score[index]
        for key, value in real_metrics(truth[index], predicted[index], score).items():
            draws.setdefault(key, []).append(value)
    out = {}
    for key, values in draws.items():
        finite = np.asarray(values)[np.isfinite(values)]
        out[key] = ([float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))]
                    if finite.size else [float("nan")] * 2)
    return out


# Real rows below this labeler confidence are trained on (weighted) but not scored.
EVAL_MIN_CONFIDENCE = 0.5
# Rows above this confidence are the ones the labeler was sure of; most straight and banana
# labels sit at 0.5-0.6 ("near-straight, mild arch"), where a label is close to a coin flip.
SURE_LABEL_CONFIDENCE = 0.6
# The label index a row gets when the app answers "unknown" (cannot judge): never right.
UNKNOWN_INDEX = -1


def _predict_real(classifier: FormClassifier, real) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) probabilities and (N,) can-judge flags of real rows.

    A photo is judged as a photo (one frame); a video row keeps its clip's motion.
    """
    verdicts = classifier.predict_batch([
        k if source == "real video" else k[-1:]
        for k, source in zip(real.keypoints, real.source, strict=True)])
    probabilities = np.array([[v.probabilities[n] for n in FORM_LABELS] for v in verdicts])
    return probabilities, np.array([v.can_judge for v in verdicts])


def grouped_evaluation(
    pretrained: FormClassifier,
    config,
    synthetic_trains: Sequence,
    synthetic_val,
    real,
    confidences: np.ndarray,
    *,
    folds: int = 5,
    resamples: int = 1000,
    baselines: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Grouped k-fold evaluation on real rows: ours (fine-tuned per fold) against baselines.

    Folds split ``real.groups`` (people / sources), so no test person or source is trained
    on. Per fold, our synthetically pretrained model is fine-tuned on the training folds'
    real rows (``training.train_form.finetune_members``: each member of a seed ensemble
    alike) and every baseline is fitted on the
    same data (synthetic training frames + those real rows) and, apart, on the real rows
    alone. "formnet, synthetic only" is the pretrained model without any real data. Scored
    out of fold on rows with confidence >= ``EVAL_MIN_CONFIDENCE``; straight/banana rows of
    front/back views below it are scored only for "cannot judge" (turn sideways). Folds are
    drawn over the photos; video rows (``pose_cache --videos-only`` frames or
    ``--video-clips`` clips) follow their source's fold and are scored apart ("videos").

    Args:
        pretrained: the synthetic-only classifier (its model, a single one or a
            ``ModelAverage``, is the fine-tuning start).
        config: ``FormTrainConfig`` (fine-tuning settings, seed).
        synthetic_trains: synthetic training ``ClipSet`` of each member (co-training mix; the
            first one also trains the baselines).
        synthetic_val: synthetic validation ``ClipSet`` (temperature).
        real: real rows (``load_real_rows``).
        confidences: (N,) labeler confidence of ``real``.
        folds: number of grouped folds.
        resamples: bootstrap resamples for the 95 % intervals.
        baselines: also fit and score the baselines (False: our model and its synthetic-only
            start alone, e.g. for further fine-tuning seeds of the same folds).
        log: printer.

    Returns:
        ``{"methods": {name: {"metrics", "ci95"}}, "hidden_view_cannot_judge": {...},
        "as_answered": {name: {"metrics", "ci95"}} (our models with "unknown", counted wrong,
        where they cannot judge a row, as the app answers), "sure_labels": {"min_confidence",
        "rows", "class_counts", "methods"} (rows labeled with confidence above
        ``SURE_LABEL_CONFIDENCE``),
        "folds", "rows", "groups", "class_counts", "videos": {"methods": {name: metrics},
        "trained_on", "rows", "groups", "class_counts"}}`` ("videos": the video rows out of
        fold).
    """
    from training.baselines import fit_baselines
    from training.train_form import finetune_members

    # Folds and bootstrap draws do not follow the training seed: runs of other seeds are
    # scored on the same folds (seed 0's, as every figure before this was).
    splits, video_tested = _photo_folds(real, folds, np.random.default_rng(77))
    truth = real.labels
    count = len(truth)
    probabilities = {OURS: np.zeros((count, len(FORM_LABELS)))}
    judged = {OURS: np.zeros(count, bool)}
    predicted: dict[str, np.ndarray] = {}
    before, judged_before = _predict_real(pretrained, real)
    probabilities["formnet, synthetic only"] = before
    judged["formnet, synthetic only"] = judged_before
    synthetic_train = synthetic_trains[0]
    synthetic_frames = last_frames(synthetic_train.keypoints)
    for k, (train_idx, test_idx) in enumerate(splits):
        if config.video_repeat == 0:  # video rows scored only: no method trains on them
            train_idx = train_idx[real.source[train_idx] == "real"]
        fold_train, fold_test = real.subset(train_idx), real.subset(test_idx)
        model, temperature, _ = finetune_members(
            config, pretrained.model, synthetic_trains, fold_train, synthetic_val,
            log=lambda _line: None)
        tuned = FormClassifier(model, temperature=temperature,
                               clip_length=pretrained.clip_length, checks=pretrained.checks)
        probabilities[OURS][test_idx], judged[OURS][test_idx] = _predict_real(tuned, fold_test)
        train_frames = last_frames(fold_train.keypoints)
        test_frames = last_frames(fold_test.keypoints)
        for suffix, frames, labels in (
            ("", np.concatenate([synthetic_frames, train_frames]),
             np.concatenate([synthetic_train.labels, fold_train.labels])),
            (" (real only)", train_frames, fold_train.labels),
        ) if baselines else ():
            for name, baseline in fit_baselines(frames, labels, config.seed).items():
                out = predicted.setdefault(name + suffix, np.zeros(count, np.int64))
                out[test_idx] = baseline.predict(test_frames)
        log(f"fold {k + 1}/{folds}: {len(test_idx)} test rows, "
            f"{len(np.unique(fold_test.groups))} groups")
    for name, p in probabilities.items():
        predicted[name] = p.argmax(-1)
    # Video rows are a handful of people's footage labeled from notes: scored apart below.
    scored = (confidences >= EVAL_MIN_CONFIDENCE) & (real.source == "real")
    order = ["formnet, synthetic only", OURS] + [n for n in predicted if n not in probabilities]

    def scored_methods(rows: np.ndarray, names: Sequence[str],
                       answers: dict[str, np.ndarray] = predicted) -> dict:
        """Figures and group-bootstrap intervals of ``names`` on the rows ``rows`` selects."""
        out = {}
        for name in names:
            score = probabilities[name][:, BANANA_INDEX] if name in probabilities else None
            args = (truth[rows], answers[name][rows], None if score is None else score[rows])
            out[name] = {
                "metrics": real_metrics(*args),
                "ci95": bootstrap_intervals(*args, real.groups[rows],
                                            np.random.default_rng(78), resamples),
            }
        return out

    methods = scored_methods(scored, order)
    sure = scored & (confidences > SURE_LABEL_CONFIDENCE)
    # What the app shows for a photo: "unknown" where the model cannot judge it.
    answered = {name: np.where(judged[name], predicted[name], UNKNOWN_INDEX)
                for name in probabilities}
    videos = {
        name: real_metrics(truth[video_tested], predicted[name][video_tested],
                           probabilities[name][video_tested, BANANA_INDEX]
                           if name in probabilities else None)
        for name in order
    } if video_tested.any() else {}
    hidden = ((confidences < EVAL_MIN_CONFIDENCE) & (real.source == "real") & (real.view == 0)
              & np.isin(truth, (STRAIGHT_INDEX, BANANA_INDEX)))
    return {
        "methods": methods,
        "hidden_view_cannot_judge": {
            name: {"rows": int(hidden.sum()), "share_cannot_judge": float(np.mean(~j[hidden]))
                   if hidden.any() else float("nan")}
            for name, j in judged.items()
        },
        "as_answered": scored_methods(scored, list(probabilities), answered),
        "sure_labels": {
            "min_confidence": SURE_LABEL_CONFIDENCE,
            "rows": int(sure.sum()),
            "class_counts": np.bincount(truth[sure], minlength=len(FORM_LABELS)).tolist(),
            "methods": scored_methods(sure, order),
        },
        "folds": folds,
        "rows": int(scored.sum()),
        "groups": int(len(np.unique(real.groups[scored]))),
        "class_counts": np.bincount(truth[scored], minlength=len(FORM_LABELS)).tolist(),
        "videos": {
            "methods": videos,
            "trained_on": config.video_repeat > 0,
            "rows": int(video_tested.sum()),
            "groups": int(len(np.unique(real.groups[video_tested]))),
            "class_counts": np.bincount(truth[video_tested],
                                        minlength=len(FORM_LABELS)).tolist(),
        },
    }


def _photo_folds(real, folds: int, rng: np.random.Generator
                 ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Grouped folds of the photo rows, with each video row on its group's side.

    The folds are drawn over the photos alone, so adding videos leaves them as they were. A
    video row whose group (source) has photos in a fold's test side is tested there, never
    trained on in that fold; the other video rows are trained on in every fold.

    Returns:
        ``folds`` (train_idx, test_idx) pairs over all rows, and the (N,) mask of video rows
        that some fold tests.
    """
    photo = np.flatnonzero(real.source == "real")
    video = np.flatnonzero(real.source != "real")
    splits, video_tested = [], np.zeros(len(real.labels), bool)
    for _, test in group_kfold(real.groups[photo], folds, rng):
        test_groups = np.unique(real.groups[photo[test]])
        video_test = video[np.isin(real.groups[video], test_groups)]
        video_tested[video_test] = True
        test_idx = np.sort(np.concatenate([photo[test], video_test]))
        splits.append((np.setdiff1d(np.arange(len(real.labels)), test_idx), test_idx))
    return splits, video_tested


def video_rows_use(videos: dict) -> str:
    """How a grouped evaluation's video rows were used (its ``"videos"`` entry), in words."""
    return "trained on in the other folds" if videos.get("trained_on", True) else (
        "never trained on")


def format_grouped(result: dict) -> str:
    """Plain-text table of ``grouped_evaluation``: figures with their 95 % intervals."""
    keys = ["straight_banana_balanced_accuracy", "macro_f1", "banana_auc"]
    keys += [f"recall_{n}" for n in FORM_LABELS]
    heads = ["balacc S/B", "macro-F1", "AUC P(ban)"] + [f"rec {n[:8]}" for n in FORM_LABELS]

    def rows(methods: dict) -> list[str]:
        out = [f"{'method':<28}" + "".join(f"{h:>20}" for h in heads)]
        for name, m in methods.items():
            cells = []
            for key in keys:
                value, (low, high) = m["metrics"][key], m["ci95"][key]
                cells.append("n/a" if np.isnan(value) else f"{value:.3f} [{low:.2f},{high:.2f}]")
            out.append(f"{name:<28}" + "".join(f"{c:>20}" for c in cells))
        return out

    lines = [f"grouped {result['folds']}-fold over {result['rows']} real rows "
             f"({result['groups']} people/sources; counts {result['class_counts']})",
             *rows(result["methods"])]
    if result.get("as_answered"):
        lines += ["the same rows as the app answers them ('unknown', counted wrong, where the "
                  "model cannot judge)", *rows(result["as_answered"])]
    sure = result.get("sure_labels")
    if sure:
        lines += [f"rows the labeler was sure of (confidence > {sure['min_confidence']}): "
                  f"{sure['rows']} rows, counts {sure['class_counts']}", *rows(sure["methods"])]
    videos = result.get("videos", {})
    if videos.get("methods"):
        lines.append(f"video rows out of fold (real motion; {video_rows_use(videos)}; not in "
                     "the figures above): "
                     f"{videos['rows']} rows, {videos['groups']} sources, counts "
                     f"{videos['class_counts']}; too few sources for intervals")
        lines.append(f"{'method':<28}" + "".join(f"{h:>20}" for h in heads))
        for name, m in videos["methods"].items():
            lines.append(f"{name:<28}" + "".join(
                f"{'n/a' if np.isnan(m[key]) else f'{m[key]:.3f}':>20}" for key in keys))
    for name, h in result["hidden_view_cannot_judge"].items():
        lines.append(f"front/back straight+banana rows (conf < {EVAL_MIN_CONFIDENCE}): {name} "
                     f"says 'cannot judge' on {h['share_cannot_judge']:.2f} of {h['rows']}")
    return "\n".join(lines)


Overrides = Mapping[str, Any] | Iterable[tuple[str, Any]]


def train_config(checkpoint: Checkpoint, overrides: Overrides | None = None):
    """The ``FormTrainConfig`` a form checkpoint was trained with, ``overrides`` applied.

    Both go through ``training.config`` (type-checked; fields the config no longer has are
    skipped, missing ones take their defaults).

    Raises:
        training.config.ConfigError: an override names no field or has the wrong type.
    """
    from training.config import from_dict, override
    from training.train_form import FormTrainConfig

    return override(from_dict(FormTrainConfig, checkpoint.config), overrides or {})


def grouped_from_checkpoint(
    weights: Path | str, real_caches: list[Path], *, folds: int = 5,
    pretrained_weights: Sequence[Path | str] | None = None,
    config_overrides: Overrides | None = None,
    finetune_seed_offsets: Sequence[int] | None = None, log: Callable[[str], None] = print,
) -> dict:
    """``grouped_evaluation`` of a checkpoint's configuration on real caches.

    The checkpoint's config is used (synthetic sets regenerated from its seed), with
    ``config_overrides`` applied (``training.config.override``: field -> value or
    (field, value) pairs). A checkpoint fine-tuned on real rows has seen every test
    person, so the synthetic pretraining is rerun from its config (deterministic: the same
    model the training run fine-tuned) unless ``pretrained_weights`` names synthetic-only
    checkpoints of it (one per ensemble member: member k is ``--seed seed + k``); a
    synthetic-only checkpoint is its own pretrained model.

    ``finetune_seed_offsets`` (default: the config's one) fine-tunes the same pretrained
    model once per offset on the same folds (baselines fitted once, with the first); the
    result is the first run's, with ``"finetune_seed_runs"`` listing every run's figures for
    ours and their mean and spread (``format_seed_runs``).

    Raises:
        ValueError: ``pretrained_weights`` was itself trained on real rows, or an override
            does not fit the config.
    """
    from training.engine import torch_settings

    checkpoint = load(weights, "form")
    config = train_config(checkpoint, config_overrides)
    with torch_settings(threads=config.num_threads, deterministic=True):
        return _grouped_from_config(checkpoint, config, real_caches, folds=folds,
                                    pretrained_weights=pretrained_weights,
                                    finetune_seed_offsets=finetune_seed_offsets, log=log)


def _grouped_from_config(
    checkpoint: Checkpoint, config, real_caches: list[Path], *, folds: int,
    pretrained_weights: Sequence[Path | str] | None,
    finetune_seed_offsets: Sequence[int] | None, log: Callable[[str], None],
) -> dict:
    from training.train_form import calibrated, default_generator, synthetic_set, train_model

    generate = default_generator()
    members = range(config.ensemble_members)
    trains = [synthetic_set(generate, config.train_clips, config.clip_length,
                            (config.seed + k) * 1000 + 11) for k in members]

    def member_val(k: int):
        return synthetic_set(generate, config.val_clips, config.clip_length,
                             (config.seed + k) * 1000 + 22)

    val = member_val(0)  # the others only to rerun their pretraining
    # The checks a training run of this config would write (the view threshold is a setting).
    checks = dataclasses.replace(checkpoint.checks, view_threshold=config.view_threshold)
    if pretrained_weights:
        if len(pretrained_weights) != config.ensemble_members:
            raise ValueError(f"{len(pretrained_weights)} pretrained checkpoints for "
                             f"{config.ensemble_members} ensemble members")
        runs = []
        for path in pretrained_weights:
            member = load(path, "form")
            if train_config(member).real_caches:
                raise ValueError(f"{path} was trained on real rows; give a synthetic-only "
                                 "checkpoint")
            runs.append((member.build_model(), member.temperature))
    elif config.real_caches:
        log("rerunning the synthetic pretraining of this configuration")
        runs = [train_model(dataclasses.replace(config, seed=config.seed + k), trains[k],
                            val if k == 0 else member_val(k), log)[:2] for k in members]
    else:
        runs = [(checkpoint.build_model(), checkpoint.temperature)]
    if len(runs) == 1:
        model, temperature = runs[0]
    else:
        model, temperature, _ = calibrated(ModelAverage([m for m, _ in runs]), val,
                                           config.clip_length, log)
    pretrained = FormClassifier(model, temperature=temperature,
                                clip_length=config.clip_length, checks=checks)
    real, confidences, _ = load_real_rows(real_caches, config.clip_length)
    runs = []
    for run, offset in enumerate(finetune_seed_offsets or [config.finetune_seed_offset]):
        run_config = dataclasses.replace(config, finetune_seed_offset=offset)
        result = grouped_evaluation(pretrained, run_config, trains, val, real, confidences,
                                    folds=folds, baselines=run == 0, log=log)
        result["config"] = dataclasses.asdict(run_config)
        log(format_grouped(result))
        runs.append(result)
    first = runs[0]
    if len(runs) > 1:
        first["finetune_seed_runs"] = seed_runs_summary(runs)
        log(format_seed_runs(first["finetune_seed_runs"]))
    return first


SEED_RUN_KEYS = ("straight_banana_balanced_accuracy", "macro_f1", "banana_auc")


def seed_runs_summary(runs: Sequence[dict]) -> dict:
    """Our figures of grouped evaluations that differ only in the fine-tuning seed.

    Args:
        runs: ``grouped_evaluation`` results on the same folds, each with its ``"config"``.

    Returns:
        ``{"offsets": [...], "runs": [{key: value}], "mean": {key: value}, "sd": {key:
        value}}`` over ``SEED_RUN_KEYS`` (photos, out of fold; sd is the population one).
    """
    figures = [{key: run["methods"][OURS]["metrics"][key] for key in SEED_RUN_KEYS}
               for run in runs]
    table = np.array([[f[key] for key in SEED_RUN_KEYS] for f in figures])
    return {
        "offsets": [run["config"]["finetune_seed_offset"] for run in runs],
        "runs": figures,
        "mean": dict(zip(SEED_RUN_KEYS, table.mean(0).tolist(), strict=True)),
        "sd": dict(zip(SEED_RUN_KEYS, table.std(0).tolist(), strict=True)),
    }


def format_seed_runs(summary: dict) -> str:
    """Plain-text table of ``seed_runs_summary``: one line per fine-tuning seed, then the mean."""
    heads = ["balacc S/B", "macro-F1", "AUC P(ban)"]
    lines = [f"{OURS} over {len(summary['runs'])} fine-tuning seeds (same folds, photos out "
             "of fold)", f"{'fine-tuning seed offset':<28}" + "".join(f"{h:>12}" for h in heads)]
    for offset, figures in zip(summary["offsets"], summary["runs"], strict=True):
        lines.append(f"{offset:<28}" + "".join(f"{figures[k]:>12.3f}" for k in SEED_RUN_KEYS))
    lines.append(f"{'mean (sd)':<28}" + "".join(
        f"{summary['mean'][k]:>6.3f} ({summary['sd'][k]:.3f})" for k in SEED_RUN_KEYS))
    return "\n".join(lines)


def format_table(results: dict) -> str:
    """Plain-text table: set, method, balanced accuracy S/B, macro-F1, accuracy."""
    width = max([len("set"), *(len(name) for name in results)])
    lines = [f"{'set':<{width}} {'method':<16} {'n':>5} {'balacc S/B':>10} {'macroF1':>8} "
             f"{'acc':>6} {'judged':>7}"]
    for name, methods in results.items():
        for method, m in methods.items():
            judged = f"{m['judged_share']:.2f}" if "judged_share" in m else ""
            lines.append(
                f"{name:<{width}} {method:<16} {m['n']:>5} "
                f"{m['straight_banana_balanced_accuracy']:>10.3f} {m['macro_f1']:>8.3f} "
                f"{m['accuracy']:>6.3f} {judged:>7}"
            )
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        description="Score the form model against baselines on held-out synthetic clips and "
                    "real photos (BlazePose cache).",
    )
    parser.add_argument("--weights", default="weights/form_handstand.pt")
    parser.add_argument("--dev-cache", help="BlazePose cache (.npz) of real labeled photos")
    parser.add_argument("--report", help="folder for the PNG/HTML report")
    parser.add_argument("--json", help="write the metrics as JSON here")
    parser.add_argument("--update-card", action="store_true",
                        help="store the metrics in the weights' model card (sha256 unchanged)")
    parser.add_argument("--real", nargs="+", metavar="NPZ",
                        help="grouped k-fold evaluation on these BlazePose caches of real rows "
                             "(training.pose_cache) instead of the synthetic/dev sets")
    parser.add_argument("--folds", type=int, default=5, help="grouped folds (with --real)")
    parser.add_argument("--pretrained", nargs="+", metavar="PT",
                        help="synthetic-only checkpoints of the weights' configuration, one "
                             "per ensemble member (with --real; default: rerun the pretraining)")
    add_finetune_seeds_argument(parser)
    from training.config import add_set_argument
    from training.train_form import FormTrainConfig

    add_set_argument(parser, FormTrainConfig)
    parser.epilog = ("--set overrides the weights' saved training config (the synthetic sets "
                     "regenerated from it; with --real, also the fine-tuning settings).\n\n"
                     + parser.epilog)
    return parser.parse_args(argv)


def add_finetune_seeds_argument(parser: argparse.ArgumentParser) -> None:
    """Adds ``--finetune-seed-offsets`` (with ``--real``) to a command line."""
    parser.add_argument("--finetune-seed-offsets", nargs="+", type=int, metavar="N",
                        help="with --real: fine-tune once per offset on the same folds and "
                             "print each run and their mean (e.g. 0 101 202)")


def evaluate_weights(
    weights: Path | str, dev_cache: Path | None = None, report_dir: Path | None = None,
    log: Callable[[str], None] = print, config_overrides: Overrides | None = None,
) -> dict:
    """Loads a checkpoint, regenerates its synthetic train/test clips and runs ``evaluate_run``.

    ``config_overrides`` change the saved config first (as in ``grouped_from_checkpoint``).

    Raises:
        engine.checkpoint.CheckpointError, FormModelError: the weights cannot be loaded.
        ValueError: an override does not fit the config.
    """
    from training.engine import torch_settings
    from training.train_form import default_generator, synthetic_set

    checkpoint = load(weights, "form")
    classifier = FormClassifier.from_checkpoint(checkpoint)
    config = train_config(checkpoint, config_overrides)
    with torch_settings(threads=config.num_threads):
        generate = default_generator()
        train = synthetic_set(generate, config.train_clips, config.clip_length,
                              config.seed * 1000 + 11)
        test = synthetic_set(generate, config.test_clips, config.clip_length,
                             config.seed * 1000 + 33)
        return evaluate_run(classifier, baseline_train=train, synthetic_test=test,
                            dev_cache=dev_cache, report_dir=report_dir, seed=config.seed,
                            log=log)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    from engine.form import FormModelError

    args = _parse_args(argv)
    for cache in [args.dev_cache, *(args.real or [])]:
        if cache and not Path(cache).is_file():
            print(f"error: cache {cache} does not exist", file=sys.stderr)
            return 2
    try:
        if args.real:
            metrics = {"grouped_real": grouped_from_checkpoint(
                args.weights, [Path(p) for p in args.real], folds=args.folds,
                pretrained_weights=args.pretrained, config_overrides=args.overrides,
                finetune_seed_offsets=args.finetune_seed_offsets)}
        else:
            metrics = evaluate_weights(
                args.weights, Path(args.dev_cache) if args.dev_cache else None,
                Path(args.report) if args.report else None,
                config_overrides=args.overrides,
            )
    except (FormModelError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n")
    if args.update_card:
        card_path = card_path_for(args.weights)
        card = json.loads(card_path.read_text())
        card["metrics"] = {**card.get("metrics", {}), **metrics} if args.real else metrics
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        from training.train_form import card_markdown

        Path(args.weights).with_suffix(".card.md").write_text(card_markdown(card))
        print(f"updated {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
