"""Grouped real-data evaluation and fine-tuning on real rows, on the tiny stand-in generator.

No shared data: the "real" rows are stand-in photos written into a cache of the layout
``training.pose_cache`` writes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_form_training import _tiny_config, standin_generate

from engine.form import FORM_LABELS, FormClassifier
from training import evaluate, train_form
from training.pose_cache import row_group


def test_roc_auc_orders_and_ties():
    truth = np.array([True, True, False, False])
    assert evaluate.roc_auc(truth, np.array([0.9, 0.8, 0.2, 0.1])) == 1.0
    assert evaluate.roc_auc(truth, np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert evaluate.roc_auc(truth, np.full(4, 0.5)) == 0.5
    assert np.isnan(evaluate.roc_auc(np.ones(3, bool), np.arange(3.0)))


def test_real_metrics_and_group_bootstrap():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 30)
    predicted = np.where(rng.random(120) < 0.8, truth, (truth + 1) % 4)
    groups = np.array([f"g{i % 12}" for i in range(120)])
    score = (truth == 1) + rng.normal(0, 0.3, 120)
    point = evaluate.real_metrics(truth, predicted, score)
    assert point["recall_banana"] == np.mean(predicted[truth == 1] == 1)
    assert 0.5 < point["banana_auc"] <= 1.0
    intervals = evaluate.bootstrap_intervals(truth, predicted, score, groups,
                                             np.random.default_rng(1), resamples=200)
    for key in ("straight_banana_balanced_accuracy", "macro_f1", "banana_auc"):
        low, high = intervals[key]
        assert low <= point[key] <= high and high - low > 0.01
    no_scores = evaluate.real_metrics(truth, predicted, None)
    assert np.isnan(no_scores["banana_auc"])


def test_row_group_by_source_or_user():
    assert row_group({"file": "a/b.jpg", "source_repo": "me/site", "person": "x:p1"},
                     "handstand_more") == "handstand_more:me/site"
    assert row_group({"file": "mm/video_frames/user3_img_7.jpg"}, "dev") == "dev:mm:user3"
    assert row_group({"file": "yoga/asana_gt/tree.jpg"}, "dev") == "dev:yoga"


def _write_cache(path, rng, count=48, groups=8):
    clips = standin_generate(count, clip_length=1, rng=rng)
    labels = np.array([FORM_LABELS[i] for i in clips.labels], dtype="<U16")
    labels[0] = "unclear"
    keypoints = clips.keypoints[:, 0].copy()
    keypoints[1] = np.nan  # no person found
    views = np.array(["side", "front", "", "back"] * (count // 4))
    np.savez(path, files=np.array([f"f{i}.jpg" for i in range(count)]), labels=labels,
             confidences=np.linspace(0.3, 0.9, count), keypoints=keypoints,
             image_sizes=np.tile([[640, 480]], (count, 1)),
             groups=np.array([f"src{i % groups}" for i in range(count)]), views=views)
    return clips


def test_load_real_rows_keeps_labeled_people_with_views_and_weights(tmp_path):
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(2))
    real, confidences, files = evaluate.load_real_rows([path, path], clip_length=4)
    assert len(real) == 2 * 46 and real.keypoints.shape[1:] == (4, 16, 3)
    assert "f0.jpg" not in files and "f1.jpg" not in files
    np.testing.assert_allclose(real.weight, confidences)
    by_file = dict(zip(files[:46], real.view[:46], strict=True))
    assert by_file["f3.jpg"] == 0 and by_file["f4.jpg"] == 1 and np.isnan(by_file["f2.jpg"])
    assert set(real.source) == {"real"}


@pytest.fixture(scope="module")
def pretrained():
    config = _tiny_config(train_clips=256, val_clips=64, epochs=3, finetune_epochs=1,
                          finetune_synthetic_clips=64, real_repeat=2)
    train = train_form.synthetic_set(standin_generate, 256, 8, 11)
    val = train_form.synthetic_set(standin_generate, 64, 8, 22)
    model, temperature, _ = train_form.train_model(config, train, val, log=lambda _: None)
    return config, train, val, FormClassifier(model, temperature=temperature, clip_length=8)


def test_grouped_evaluation_never_trains_on_a_test_group(tmp_path, pretrained, monkeypatch):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(3), count=64, groups=8)
    real, confidences, _ = evaluate.load_real_rows([path], clip_length=8)
    seen = []
    finetune = train_form.finetune_on_real

    def recording(config, model, synthetic, real_train, val, log):
        seen.append(set(real_train.groups))
        return finetune(config, model, synthetic, real_train, val, log)

    monkeypatch.setattr(train_form, "finetune_on_real", recording)
    result = evaluate.grouped_evaluation(classifier, config, [train], val, real, confidences,
                                         folds=4, resamples=50, log=lambda _: None)
    assert len(seen) == 4
    all_groups = set(real.groups)
    held_out = [all_groups - s for s in seen]
    assert all(held_out) and set().union(*held_out) == all_groups
    assert sum(len(h) for h in held_out) == len(all_groups)  # each group held out once
    methods = result["methods"]
    assert {"formnet (ours)", "formnet, synthetic only", "majority", "mlkit_knn (real only)"
            } <= set(methods)
    assert result["rows"] == int(np.sum(confidences >= evaluate.EVAL_MIN_CONFIDENCE))
    ours = methods["formnet (ours)"]["metrics"]
    assert ours["accuracy"] > methods["majority"]["metrics"]["accuracy"]
    low, high = methods["formnet (ours)"]["ci95"]["macro_f1"]
    assert low <= ours["macro_f1"] <= high
    assert "formnet (ours)" in evaluate.format_grouped(result)
    sure = result["sure_labels"]
    scored_confidence = confidences[confidences >= evaluate.EVAL_MIN_CONFIDENCE]
    assert sure["rows"] == int(np.sum(scored_confidence > evaluate.SURE_LABEL_CONFIDENCE)) > 0
    assert sum(sure["class_counts"]) == sure["rows"] and set(sure["methods"]) == set(methods)
    assert "labeler was sure of" in evaluate.format_grouped(result)


def test_as_answered_counts_rows_the_model_cannot_judge_as_wrong(tmp_path, pretrained,
                                                                monkeypatch):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(3), count=32, groups=4)
    real, confidences, _ = evaluate.load_real_rows([path], clip_length=8)
    predict = evaluate._predict_real
    calls = []

    def tuned_cannot_judge(model, rows):
        probabilities, judged = predict(model, rows)
        calls.append(len(rows))
        # The first call scores the synthetic-only start; every later one a fine-tuned fold.
        return probabilities, judged if len(calls) == 1 else np.zeros_like(judged)

    monkeypatch.setattr(evaluate, "_predict_real", tuned_cannot_judge)
    result = evaluate.grouped_evaluation(classifier, config, [train], val, real, confidences,
                                         folds=2, resamples=20, baselines=False,
                                         log=lambda _: None)
    ours = evaluate.OURS
    assert result["methods"][ours]["metrics"]["accuracy"] > 0
    assert result["as_answered"][ours]["metrics"]["accuracy"] == 0
    assert result["as_answered"][ours]["metrics"]["recall_straight"] == 0


def test_finetuning_is_deterministic_and_moves_the_model(tmp_path, pretrained):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(4))
    real, _, _ = evaluate.load_real_rows([path], clip_length=8)
    runs = [train_form.finetune_on_real(config, classifier.model, train, real, val,
                                        log=lambda _: None)[0] for _ in range(2)]
    before = classifier.model.state_dict()
    for key, value in runs[0].state_dict().items():
        assert (value == runs[1].state_dict()[key]).all(), key
    assert any(not (v == before[k]).all() for k, v in runs[0].state_dict().items()
               if v.is_floating_point())


def test_finetune_seed_offset_changes_only_the_finetuning_seed(tmp_path, pretrained,
                                                              monkeypatch):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(4))
    real, _, _ = evaluate.load_real_rows([path], clip_length=8)
    seeds, mixes = [], []
    train_model = train_form.train_model

    def recording(tuned, mix, val, log, init=None):
        seeds.append(tuned.seed)
        mixes.append(mix.keypoints)
        return train_model(tuned, mix, val, log, init=init)

    monkeypatch.setattr(train_form, "train_model", recording)
    runs = [train_form.finetune_on_real(dataclasses.replace(config, finetune_seed_offset=o),
                                        classifier.model, train, real, val,
                                        log=lambda _: None)[0] for o in (0, 101)]
    assert seeds == [config.seed + 500, config.seed + 601]
    np.testing.assert_array_equal(mixes[0], mixes[1])  # same rows: only the seed moved
    assert any(not (v == runs[1].state_dict()[k]).all()
               for k, v in runs[0].state_dict().items() if v.is_floating_point())


def test_seed_runs_summary_reads_our_figures_of_each_run():
    def run(offset, balanced, f1, auc):
        metrics = {"straight_banana_balanced_accuracy": balanced, "macro_f1": f1,
                   "banana_auc": auc}
        return {"config": {"finetune_seed_offset": offset},
                "methods": {evaluate.OURS: {"metrics": metrics},
                            "majority": {"metrics": dict.fromkeys(metrics, 0.0)}}}

    summary = evaluate.seed_runs_summary([run(0, 0.8, 0.7, 0.9), run(101, 0.6, 0.5, 0.7)])
    assert summary["offsets"] == [0, 101]
    assert summary["mean"]["straight_banana_balanced_accuracy"] == pytest.approx(0.7)
    assert summary["sd"]["macro_f1"] == pytest.approx(0.1)
    text = evaluate.format_seed_runs(summary)
    assert "2 fine-tuning seeds" in text and "101" in text and "0.700 (0.100)" in text


def test_grouped_evaluation_without_baselines_scores_ours_alone(tmp_path, pretrained):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(3), count=64, groups=8)
    real, confidences, _ = evaluate.load_real_rows([path], clip_length=8)
    result = evaluate.grouped_evaluation(classifier, config, [train], val, real, confidences,
                                         folds=4, resamples=20, baselines=False,
                                         log=lambda _: None)
    assert set(result["methods"]) == {evaluate.OURS, "formnet, synthetic only"}


def test_roll_augmentation_keeps_bone_lengths():
    config = _tiny_config(roll_degrees=10.0, jitter_std=0.0, outlier_probability=0.0,
                          swap_probability=0.0, drop_probability=0.0, flip_probability=0.0,
                          photo_fraction=0.0, short_clip_fraction=0.0)
    clips = standin_generate(6, clip_length=4, rng=np.random.default_rng(5))
    out = np.stack(train_form.augment(clips.keypoints, clips.image_sizes, config,
                                      np.random.default_rng(6)))
    lengths = np.linalg.norm(np.diff(clips.keypoints[..., :2], axis=-2), axis=-1)
    rolled = np.linalg.norm(np.diff(out[..., :2], axis=-2), axis=-1)
    np.testing.assert_allclose(rolled, lengths, rtol=1e-4, atol=1e-3)
    assert not np.allclose(out[..., :2], clips.keypoints[..., :2], atol=0.5)


def test_confidence_becomes_a_straight_banana_soft_target():
    labels = np.array([0, 1, 2, 0])
    view = np.array([1.0, 1.0, 1.0, 0.0], dtype=np.float32)
    targets, weight = train_form.confidence_targets(
        train_form.soft_targets(labels, view), labels, np.array([0.6, 0.8, 0.7, 0.4]))
    np.testing.assert_allclose(targets[0], [0.6, 0.4, 0, 0])
    np.testing.assert_allclose(targets[1], [0.2, 0.8, 0, 0])
    np.testing.assert_allclose(targets[2], [0, 0, 1, 0])
    np.testing.assert_allclose(targets[3], [0.5, 0.5, 0, 0])  # front view: cannot tell
    np.testing.assert_allclose(weight, [1.0, 1.0, 0.7, 0.4])


def test_timeline_notes_become_labeled_ranges():
    from training.pose_cache import timeline_segments, video_frame_rows

    notes = ("25fps 7.6s 480x480; 0-4 crouch, 5 kick-up, 6-7.6 freestanding hold near-straight, "
             "8 come down")
    assert timeline_segments(notes) == [(0.25, 4.75, "not_handstand"),
                                        (5.25, 5.75, "other_handstand"),
                                        (6.25, 7.35, "straight")]
    assert timeline_segments("25fps 8.0s 480x480; squat then low crow") == [
        (0.25, 7.75, "not_handstand")]
    assert timeline_segments("25fps 7.0s 480x480; crouch and tuck hops onto hands") == []
    assert timeline_segments("25fps 2.7s 480x480; cartwheel") == []
    rows = video_frame_rows([{"file": "v.mp4", "label": "video", "notes": notes},
                             {"file": "p.jpg", "label": "straight", "notes": ""}], fps=2.0)
    assert [r["file"] for r in rows[-3:]] == ["v.mp4@6.25s", "v.mp4@6.75s", "v.mp4@7.25s"]
    assert {r["label"] for r in rows} == {"not_handstand", "other_handstand", "straight"}


def test_video_frames_are_trained_on_but_never_scored(tmp_path, pretrained):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(7), count=64, groups=8)
    data = dict(np.load(path))
    data["kinds"] = np.where(np.arange(64) % 3 == 0, "video_frame", "photo")
    np.savez(path, **data)
    real, confidences, _ = evaluate.load_real_rows([path], clip_length=8)
    assert set(real.source) == {"real", "real video"}
    result = evaluate.grouped_evaluation(classifier, config, [train], val, real, confidences,
                                         folds=2, resamples=20, log=lambda _: None)
    photos = (real.source == "real") & (confidences >= evaluate.EVAL_MIN_CONFIDENCE)
    assert result["rows"] == int(photos.sum())
    # scored apart, out of fold: every source here also has photos
    assert set(real.groups[real.source == "real video"]) <= set(real.groups[photos])
    assert result["videos"]["rows"] == int(np.sum(real.source == "real video"))
    assert set(result["videos"]["methods"]) >= {evaluate.OURS, "formnet, synthetic only"}


def test_videos_follow_their_source_fold_and_leave_the_photo_folds_alone():
    from training.splits import group_kfold
    from training.train_form import ClipSet

    rng = np.random.default_rng(5)
    photo_groups = np.array([f"g{i % 7}" for i in range(40)])
    video_groups = np.array(["g1"] * 5 + ["g4"] * 3 + ["video_only"] * 4)
    groups = np.concatenate([photo_groups, video_groups])
    count = len(groups)
    real = ClipSet(keypoints=rng.uniform(0, 100, (count, 2, 16, 3)).astype(np.float32),
                   image_sizes=np.ones((count, 2), np.float32),
                   labels=rng.integers(0, 4, count), view=np.ones(count, np.float32),
                   groups=groups,
                   source=np.array(["real"] * 40 + ["real video"] * 12))
    splits, tested = evaluate._photo_folds(real, 3, np.random.default_rng(77))
    photo_only = group_kfold(photo_groups, 3, np.random.default_rng(77))
    video = np.arange(40, count)
    for (train, test), (_, photo_test) in zip(splits, photo_only, strict=True):
        np.testing.assert_array_equal(test[test < 40], photo_test)  # photo folds unchanged
        test_groups = set(groups[test])
        assert not test_groups & set(groups[train])  # no test source is trained on
        assert set(video[np.isin(groups[video], list(test_groups))]) <= set(test)
    assert tested[40:48].all() and not tested[48:].any() and not tested[:40].any()
    assert all(set(range(48, count)) <= set(train) for train, _ in splits)


def test_an_ensemble_is_fine_tuned_member_by_member_per_fold(tmp_path, pretrained, monkeypatch):
    from engine.models.ensemble import ModelAverage

    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(6), count=48, groups=6)
    real, confidences, _ = evaluate.load_real_rows([path], clip_length=8)
    second = train_form.synthetic_set(standin_generate, 256, 8, 1011)
    ensemble = FormClassifier(ModelAverage([classifier.model, classifier.model]),
                              temperature=classifier.temperature, clip_length=8)
    calls = []
    finetune = train_form.finetune_on_real

    def recording(config, model, synthetic, real_train, val, log):
        calls.append((config.seed, synthetic is second))
        return finetune(config, model, synthetic, real_train, val, log)

    monkeypatch.setattr(train_form, "finetune_on_real", recording)
    result = evaluate.grouped_evaluation(ensemble, config, [train, second], val, real,
                                         confidences, folds=3, resamples=20,
                                         log=lambda _: None)
    # per fold: member 0 with seed s on its own clips, member 1 with seed s + 1 on its own
    assert calls == [(config.seed, False), (config.seed + 1, True)] * 3
    assert 0 <= result["methods"]["formnet (ours)"]["metrics"]["accuracy"] <= 1


class _FakeStreamBackend:
    """Stands in for BlazePose in tracking mode: a person whose pelvis moves 1 px per frame."""

    version = "fake-1"

    def __init__(self) -> None:
        self.frames = 0
        self.resets = 0

    def estimate(self, image):
        from engine.pose.base import PoseResult

        rng = np.random.default_rng(0)
        pose = np.concatenate([rng.uniform(100, 300, (16, 2)), np.ones((16, 1))], axis=1)
        pose[:, 0] += self.frames
        self.frames += 1
        return PoseResult(pose.astype(np.float32), 0)

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        pass


def test_video_clips_are_real_motion_inside_the_labeled_ranges(tmp_path, monkeypatch):
    import cv2

    from training import pose_cache

    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    for _ in range(120):  # 4 s
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()
    (tmp_path / "labels.csv").write_text(
        "file,label,confidence,view,notes,person,source_repo\n"
        'v.avi,video,0.8,side,"30fps 4.0s 64x48; 0-1 crouch, 2-3 freestanding hold straight",'
        "p1,owner/repo\n")
    backend = _FakeStreamBackend()
    monkeypatch.setattr(pose_cache, "BlazePoseBackend", lambda stream: backend)
    arrays = pose_cache.build_clip_cache(tmp_path, tmp_path / "clips.npz", clips_per_second=2.0)
    labels = list(arrays["labels"])
    # crouch 0.25-1.75 s, hold 2.25-3.75 s: clips of 0.5 s end 0.5 s apart inside each range
    assert labels == ["not_handstand"] * 3 + ["straight"] * 3
    ends = [float(f.split("@")[1][:-1]) for f in arrays["files"]]
    assert ends[:3] == pytest.approx([0.75, 1.25, 1.75], abs=1 / 30 + 1e-6)
    assert arrays["clips"].shape == (6, 16, 16, 3) and set(arrays["kinds"]) == {"video_clip"}
    assert backend.resets >= 2  # a fresh stream per range: no tracking across the cut
    # real motion, not a repeated photo: the person moves between the clip's frames
    assert np.all(np.diff(arrays["clips"][:, :, 0, 0], axis=1) > 0)
    real, confidences, _ = evaluate.load_real_rows([tmp_path / "clips.npz"], clip_length=8)
    np.testing.assert_array_equal(real.keypoints, arrays["clips"][:, -8:])
    # grouped as photos are (by source): a video and its repository's photos share a fold
    assert set(real.source) == {"real video"}
    assert set(real.groups) == {f"{tmp_path.name}:owner/repo"}


def _finetuning_mix(monkeypatch, settings, classifier, train, real, val):
    """The clips ``finetune_on_real`` would train on (training itself skipped)."""
    mixes = []
    monkeypatch.setattr(train_form, "train_model",
                        lambda config, mix, val, log, init: (mixes.append(mix), init, 1.0, {})[1:])
    train_form.finetune_on_real(settings, classifier.model, train, real, val, log=lambda _: None)
    return mixes[-1]


def test_video_rows_are_repeated_apart_or_only_scored(tmp_path, pretrained, monkeypatch):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(8), count=48, groups=5)  # videos share sources
    data = dict(np.load(path))
    data["kinds"] = np.where(np.arange(48) % 3 == 0, "video_clip", "photo")
    np.savez(path, **data)
    real, confidences, _ = evaluate.load_real_rows([path], clip_length=8)
    settings = dataclasses.replace(config, real_repeat=3, video_repeat=1)
    sources = list(_finetuning_mix(monkeypatch, settings, classifier, train, real, val).source)
    videos = int(np.sum(real.source == "real video"))
    assert videos and sources.count("real") == 3 * (len(real) - videos)
    assert sources.count("real video") == videos
    seen = []

    def recording(config, model, synthetic, real_train, val, log):
        seen.append(set(real_train.source))
        return model, 1.0, {}

    monkeypatch.setattr(train_form, "finetune_on_real", recording)
    result = evaluate.grouped_evaluation(
        classifier, dataclasses.replace(config, video_repeat=0), [train], val, real,
        confidences, folds=2, resamples=10, log=lambda _: None)
    assert seen == [{"real"}, {"real"}]  # never trained on ...
    assert result["videos"]["rows"] == videos  # ... and still scored out of fold
    assert not result["videos"]["trained_on"]
    assert "never trained on" in evaluate.format_grouped(result)


def test_group_repeats_even_out_sources_of_different_sizes():
    groups = np.array(["yoga"] * 64 + ["hallway"] * 16 + [f"site{i}" for i in range(4)])
    assert np.all(train_form.group_repeats(groups, 8, 0.0) == 8)
    counts = train_form.group_repeats(groups, 8, 0.5)
    assert counts[0] < counts[64] < counts[-1]  # a row of a big source counts least
    per_group = {g: counts[groups == g].sum() for g in ("yoga", "hallway", "site0")}
    assert per_group["yoga"] > per_group["hallway"] > per_group["site0"]  # ... but still most
    assert abs(counts.sum() - 8 * len(groups)) <= 0.05 * 8 * len(groups)  # rounding aside
    assert counts.min() >= 1 and len(train_form.group_repeats(groups[:0], 8, 0.5)) == 0


def test_finetuning_mix_follows_the_group_exponent(tmp_path, pretrained, monkeypatch):
    config, train, val, classifier = pretrained
    path = tmp_path / "real.npz"
    _write_cache(path, np.random.default_rng(9), count=40, groups=4)
    data = dict(np.load(path))
    data["groups"] = np.array(["big"] * 28 + [f"small{i}" for i in range(12)])  # uneven
    np.savez(path, **data)
    real, _, _ = evaluate.load_real_rows([path], clip_length=8)
    settings = dataclasses.replace(config, real_repeat=4, real_group_exponent=0.5)
    mix = _finetuning_mix(monkeypatch, settings, classifier, train, real, val)
    real_rows = mix.source == "real"
    expected = train_form.group_repeats(real.groups, 4, 0.5)
    assert real_rows.sum() == expected.sum() != 4 * len(real)
    big = real.groups == "big"
    assert np.sum(mix.groups[real_rows] == "big") == expected[big].sum() < 4 * big.sum()
