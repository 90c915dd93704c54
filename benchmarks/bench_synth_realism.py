"""How real do synthetic keypoints look? A real-vs-synthetic domain classifier.

Real: BlazePose keypoints of the dev photos (``python -m training.pose_cache`` output).
Synthetic: ``training.synth.generate_clips`` single frames with the same label mix.
Classifiers (logistic regression and a small MLP, torch, CPU) are cross-validated on
normalized keypoints; an AUC near 0.5 means the two are hard to tell apart (target <= 0.65).
Also two BlazePose habits in handstands the generator is fitted to, on all real handstand
photos pooled: where the nose sits relative to the shoulder-hip line, and how often a hidden
far-side leg is put off the near one.

Usage:
    python benchmarks/bench_synth_realism.py --cache cache/handstand_dev_blazepose.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import skeleton  # noqa: E402
from engine.form import FORM_LABELS  # noqa: E402
from training.synth import SynthConfig, generate_clips  # noqa: E402


def normalize(keypoints: np.ndarray) -> np.ndarray:
    """(N, 16, 3) pixels -> (N, 16, 3): centred on the bounding box, scaled by its long side."""
    xy = keypoints[..., :2]
    low, high = xy.min(axis=1, keepdims=True), xy.max(axis=1, keepdims=True)
    centre = (low + high) / 2
    size = np.maximum((high - low).max(axis=-1, keepdims=True), 1e-6)
    out = keypoints.copy()
    out[..., :2] = (xy - centre) / size
    return out


def features(keypoints: np.ndarray, confidence: str = "value") -> np.ndarray:
    """Normalized x, y of every joint, limb-length ratios and the joints' confidences.

    Args:
        keypoints: (N, 16, 3) pixels with confidence.
        confidence: "value" (as given), "seen" (1 where >= 0.5, else 0: which joints BlazePose
            calls visible) or "none".
    """
    norm = normalize(keypoints)
    parts = [norm[..., :2].reshape(len(norm), -1)]
    if confidence == "value":
        parts.append(norm[..., 2])
    elif confidence == "seen":
        parts.append((norm[..., 2] >= 0.5).astype(np.float32))
    parts.append(bone_shares(norm))
    return np.concatenate(parts, axis=1).astype(np.float32)


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties averaged)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train_and_score(x_train, y_train, x_test, hidden: int, seed: int) -> np.ndarray:
    """Fits a logistic regression (hidden=0) or a one-hidden-layer MLP; returns test scores."""
    torch.manual_seed(seed)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    xt = torch.from_numpy((x_train - mean) / std)
    yt = torch.from_numpy(y_train.astype(np.float32))
    dim = xt.shape[1]
    model = (torch.nn.Linear(dim, 1) if hidden == 0 else
             torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(),
                                 torch.nn.Dropout(0.2), torch.nn.Linear(hidden, 1)))
    weight = torch.where(yt > 0, 0.5 / yt.mean(), 0.5 / (1 - yt.mean()))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(xt).squeeze(1), yt, weight=weight)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy((x_test - mean) / std)).squeeze(1).numpy()


def cross_validated_auc(x: np.ndarray, is_real: np.ndarray, groups: np.ndarray, hidden: int,
                        folds: int,
                        repeats: int, seed: int, subsets: dict[str, np.ndarray]
                        ) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation over repeats of the stratified k-fold AUC, per subset."""
    rng = np.random.default_rng(seed)
    results = {name: [] for name in subsets}
    for repeat in range(repeats):
        # Whole groups go to one fold: near-identical video frames of one person must not
        # sit on both sides (the classifier would recognise the person, not the domain).
        fold = np.empty(len(x), dtype=int)
        for cls in (True, False):
            names = np.unique(groups[is_real == cls])
            assignment = dict(zip(rng.permutation(names), np.arange(len(names)) % folds,
                                  strict=True))
            idx = np.flatnonzero(is_real == cls)
            fold[idx] = [assignment[g] for g in groups[idx]]
        scores = np.empty(len(x))
        for k in range(folds):
            test = fold == k
            scores[test] = train_and_score(x[~test], is_real[~test], x[test], hidden,
                                           seed + repeat * folds + k)
        for name, mask in subsets.items():
            results[name].append(auc(scores[mask], is_real[mask]))
    return {name: (float(np.mean(v)), float(np.std(v))) for name, v in results.items()}


def random_flip(keypoints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirrors a random half of (N, 16, 3) keypoints left-right (about x = 0)."""
    flip = rng.uniform(size=len(keypoints)) < 0.5
    out = keypoints.copy()
    out[flip] = skeleton.flip_horizontal(keypoints[flip], 0.0)
    return out


def source_group(file: str) -> str:
    """Frames of one person's video form one group; every other photo is its own."""
    name = Path(file).name
    if "video_frames" in file and "_img_" in name:
        return name.split("_img_")[0]
    return file


def load_real(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real dev keypoints with a person found and a usable label, with their groups."""
    data = np.load(path, allow_pickle=False)
    keypoints, labels = data["keypoints"], data["labels"]
    keep = ~np.isnan(keypoints[:, :, :2]).any(axis=(1, 2)) & np.isin(labels, FORM_LABELS)
    groups = np.array([source_group(str(f)) for f in data["files"][keep]])
    return keypoints[keep].astype(np.float32), labels[keep], groups


def synthetic_like(labels: np.ndarray, count: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single synthetic frames with the label mix of ``labels``.

    Returns:
        Noisy (N, 16, 3) keypoints, the same frames' exact projections (N, 16, 3) and their
        (N,) label names; frames where no person was found are left out.
    """
    mix = tuple(float((labels == name).mean()) for name in FORM_LABELS)
    clips = generate_clips(count, clip_length=1, rng=np.random.default_rng(seed),
                           config=SynthConfig(class_weights=mix))
    keypoints = clips.keypoints[:, -1]
    found = keypoints[..., 2].sum(-1) > 0
    return (keypoints[found], clips.clean_keypoints[:, -1][found],
            np.asarray(FORM_LABELS)[clips.labels[found]])


def image_line_deviation(keypoints: np.ndarray) -> np.ndarray:
    """In the image: farthest of thorax, pelvis and mid-knee from the wrist-ankle line.

    Args:
        keypoints: (N, 16, 3) pixels.

    Returns:
        (N,) the distance divided by the wrist-ankle distance (the 2-D view of the
        generator's ``line_deviation``, which labels banana from 0.07 in 3-D).
    """
    xy = keypoints[..., :2]
    wrist = xy[:, [skeleton.R_WRIST, skeleton.L_WRIST]].mean(1)
    ankle = xy[:, [skeleton.R_ANKLE, skeleton.L_ANKLE]].mean(1)
    axis = ankle - wrist
    length = np.maximum(np.linalg.norm(axis, axis=-1), 1e-6)
    unit = axis / length[:, None]
    points = [xy[:, skeleton.THORAX], xy[:, skeleton.PELVIS],
              xy[:, [skeleton.R_KNEE, skeleton.L_KNEE]].mean(1)]
    offsets = [np.abs((p - wrist)[:, 0] * unit[:, 1] - (p - wrist)[:, 1] * unit[:, 0])
               for p in points]
    return np.max(offsets, axis=0) / length


def line_deviation_by_label(real: np.ndarray, labels: np.ndarray, synthetic: np.ndarray,
                            synthetic_labels: np.ndarray) -> None:
    """Prints the image line deviation's 10/25/50/75/90th percentiles per line label."""
    print("line deviation in the image (10/25/50/75/90th percentile):")
    for name in ("straight", "banana"):
        for set_name, keypoints, names in (("real", real, labels),
                                           ("synthetic", synthetic, synthetic_labels)):
            values = image_line_deviation(keypoints[names == name])
            if len(values):
                quantiles = " ".join(f"{q:.3f}"
                                     for q in np.percentile(values, [10, 25, 50, 75, 90]))
                print(f"  {name:8s} {set_name:9s} n={len(values):4d}: {quantiles}")


def bone_shares(keypoints: np.ndarray) -> np.ndarray:
    """Each bone's share of the bone-length sum: (N, 16, 3) -> (N, len(skeleton.BONES))."""
    xy = keypoints[..., :2]
    bones = np.linalg.norm(
        np.stack([xy[:, b] - xy[:, a] for a, b in skeleton.BONES], axis=1), axis=-1)
    return bones / np.maximum(bones.sum(axis=1, keepdims=True), 1e-6)


def limb_share_spread(real: np.ndarray, exact: np.ndarray, noisy: np.ndarray) -> None:
    """Prints p10/50/90 of limb bones' shares of the bone sum: real, exact and noisy synthetic.

    Where the noisy spread is wider than both the exact projections' and the real one, the
    noise stretches bones more than BlazePose does (BlazePose keeps plausible proportions).
    """
    names = ("upper arm", "forearm", "thigh", "shin")
    pairs = ((skeleton.R_SHOULDER, skeleton.R_ELBOW), (skeleton.R_ELBOW, skeleton.R_WRIST),
             (skeleton.R_HIP, skeleton.R_KNEE), (skeleton.R_KNEE, skeleton.R_ANKLE))
    columns = [skeleton.BONES.index(pair) for pair in pairs]
    print("handstands, share of the bone sum p10/50/90 (real | exact synthetic | noisy synthetic):")
    shares = [bone_shares(k)[:, columns] for k in (real, exact, noisy)]
    for i, name in enumerate(names):
        print(f"  {name:9s} " + " | ".join(
            "/".join(f"{v:.3f}" for v in np.percentile(share[:, i], (10, 50, 90)))
            for share in shares))


def torso_frame(shoulders: np.ndarray, hips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normal of the hip-to-shoulder line and the torso length: (N, 2) x 2 -> (N, 2), (N,)."""
    torso = shoulders - hips
    length = np.maximum(np.linalg.norm(torso, axis=-1), 1e-6)
    return np.stack([-torso[:, 1], torso[:, 0]], axis=-1) / length[:, None], length


def head_offset(keypoints: np.ndarray) -> np.ndarray:
    """Distance of the head top from the pelvis-thorax line, in torso lengths: (N, 16, 3) -> (N,).

    In a handstand BlazePose puts the head between the raised arms, close to that line; a
    neutral head (as when standing) sits well in front of it.
    """
    xy = keypoints[..., :2]
    normal, length = torso_frame(xy[:, skeleton.THORAX], xy[:, skeleton.PELVIS])
    return np.abs(np.sum((xy[:, skeleton.HEAD_TOP] - xy[:, skeleton.THORAX]) * normal, -1)) / length


def describe(name: str, keypoints: np.ndarray, handstand: np.ndarray) -> None:
    """Prints a few statistics that differ when the noise model is off."""
    conf = keypoints[..., 2]
    limbs = [skeleton.JOINT_INDEX[j] for j in ("r_elbow", "l_elbow", "r_wrist", "l_wrist",
                                               "r_knee", "l_knee", "r_ankle", "l_ankle")]
    xy = keypoints[..., :2]
    torso = np.linalg.norm(xy[:, skeleton.THORAX] - xy[:, skeleton.PELVIS], axis=-1)
    leg = (np.linalg.norm(xy[:, skeleton.R_HIP] - xy[:, skeleton.R_KNEE], axis=-1)
           + np.linalg.norm(xy[:, skeleton.R_KNEE] - xy[:, skeleton.R_ANKLE], axis=-1))
    arm = (np.linalg.norm(xy[:, skeleton.R_SHOULDER] - xy[:, skeleton.R_ELBOW], axis=-1)
           + np.linalg.norm(xy[:, skeleton.R_ELBOW] - xy[:, skeleton.R_WRIST], axis=-1))
    shoulders = np.linalg.norm(xy[:, skeleton.R_SHOULDER] - xy[:, skeleton.L_SHOULDER], axis=-1)
    head = np.linalg.norm(xy[:, skeleton.HEAD_TOP] - xy[:, skeleton.THORAX], axis=-1)
    pct = (10, 50, 90)

    def show(label: str, values: np.ndarray) -> str:
        return f"{label} " + "/".join(f"{v:.2f}" for v in np.percentile(values, pct))

    print(f"  {name:9s} n={len(keypoints):5d} "
          f"{show('limb conf', conf[:, limbs].ravel())}  "
          f"conf<0.5 {np.mean(conf[:, limbs] < 0.5):.2f}  "
          f"{show('leg/torso', leg / np.maximum(torso, 1e-6))}  "
          f"{show('arm/torso', arm / np.maximum(torso, 1e-6))}  "
          f"{show('shoulder/torso', shoulders / np.maximum(torso, 1e-6))}  "
          f"{show('head/torso', head / np.maximum(torso, 1e-6))}  "
          f"{show('handstand head off line', head_offset(keypoints[handstand]))}")


def nose_offset(landmarks: np.ndarray) -> np.ndarray:
    """Signed distance of the nose from the shoulder-hip line, toward the face, in torso lengths.

    Args:
        landmarks: (N, 33, >=2) BlazePose landmarks in pixels.

    Returns:
        (N,) positive when the nose is on the side the face points to (nose ahead of the ears).
    """
    xy = landmarks[..., :2]
    shoulders = 0.5 * (xy[:, 11] + xy[:, 12])
    normal, length = torso_frame(shoulders, 0.5 * (xy[:, 23] + xy[:, 24]))
    face = np.sign(np.sum((xy[:, 0] - 0.5 * (xy[:, 7] + xy[:, 8])) * normal, axis=-1))
    return face * np.sum((xy[:, 0] - shoulders) * normal, axis=-1) / length


def hidden_leg_off(keypoints: np.ndarray, min_gap_deg: float = 15.0) -> tuple[int, int]:
    """How many frames with a hidden leg (knee+ankle confidence < 0.8) show the legs apart.

    Args:
        keypoints: (N, 16, 3) canonical keypoints of straight and banana handstands (legs
            together in 3D).
        min_gap_deg: hip-to-ankle directions of the two legs at least this far apart.

    Returns:
        (frames with the legs apart, frames with a hidden leg).
    """
    legs = [(skeleton.R_HIP, skeleton.R_KNEE, skeleton.R_ANKLE),
            (skeleton.L_HIP, skeleton.L_KNEE, skeleton.L_ANKLE)]
    directions = [keypoints[:, ankle, :2] - keypoints[:, hip, :2] for hip, _, ankle in legs]
    cosine = np.sum(directions[0] * directions[1], -1) / np.maximum(
        np.linalg.norm(directions[0], axis=-1) * np.linalg.norm(directions[1], axis=-1), 1e-6)
    gap = np.rad2deg(np.arccos(np.clip(cosine, -1.0, 1.0)))
    seen = np.minimum(*(keypoints[:, [knee, ankle], 2].mean(-1) for _, knee, ankle in legs))
    hidden = seen < 0.8
    return int(np.sum(hidden & (gap > min_gap_deg))), int(np.sum(hidden))


def handstand_habits(cache: Path, count: int, seed: int) -> None:
    """Prints the nose offset and the hidden-leg misplacement, real against synthetic."""
    from training.synth.camera import project
    from training.synth.generate import _landmarks

    data = np.load(cache, allow_pickle=False)
    labels = np.asarray(data["labels"]).astype(str)
    landmarks = np.asarray(data["landmarks"], dtype=np.float32)
    keypoints = np.asarray(data["keypoints"], dtype=np.float32)
    found = ~np.isnan(landmarks[..., :2]).any(axis=(1, 2))
    handstand = found & np.isin(labels, ["straight", "banana", "other_handstand"])
    line = found & np.isin(labels, ["straight", "banana"])
    clips = generate_clips(count, clip_length=1, rng=np.random.default_rng(seed))
    pixels, _ = project(_landmarks(clips.points_3d), clips.cameras.rotation,
                        clips.cameras.position, clips.cameras.focal, clips.cameras.image_sizes)
    synthetic_nose = nose_offset(pixels[:, -1])[clips.labels < 3]
    synthetic_keypoints = clips.keypoints[:, -1][clips.labels < 2]
    pct = (10, 50, 90)
    print("handstands: nose from the shoulder-hip line (torso lengths, + toward the face) "
          "p10/50/90: real " + "/".join(f"{v:.2f}" for v in
                                        np.percentile(nose_offset(landmarks[handstand]), pct))
          + ", synthetic " + "/".join(f"{v:.2f}" for v in np.percentile(synthetic_nose, pct)))
    real_off, real_hidden = hidden_leg_off(keypoints[line])
    synthetic_off, synthetic_hidden = hidden_leg_off(synthetic_keypoints)
    print(f"straight/banana with a hidden leg more than 15 deg off the other: real {real_off} of "
          f"{real_hidden} ({real_off / max(real_hidden, 1):.1%}), synthetic {synthetic_off} of "
          f"{synthetic_hidden} ({synthetic_off / max(synthetic_hidden, 1):.1%})")


# CMU ASF bone names whose end points stand for our 3D points.
_MOCAP_POINTS = {
    "pelvis": "root", "r_hip": "rhipjoint", "l_hip": "lhipjoint", "r_knee": "rfemur",
    "l_knee": "lfemur", "r_ankle": "rtibia", "l_ankle": "ltibia", "r_shoulder": "rclavicle",
    "l_shoulder": "lclavicle", "r_elbow": "rhumerus", "l_elbow": "lhumerus",
    "r_wrist": "rradius", "l_wrist": "lradius", "head_top": "head",
}  # fmt: skip


def mocap_points(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """CMU 88_02 as our 3D points (hands re-floored), its handstand mask and frame rate."""
    from training.synth.body import NUM_POINTS, J

    data = np.load(path)
    names = [str(n) for n in data["joints"]]
    pos = data["pos_m"]
    points = np.zeros((len(pos), NUM_POINTS, 3))
    for ours, theirs in _MOCAP_POINTS.items():
        points[:, J[ours]] = pos[:, names.index(theirs)]
    points[:, J["thorax"]] = 0.5 * (points[:, J["r_shoulder"]] + points[:, J["l_shoulder"]])
    points[:, J["head_center"]] = 0.5 * (pos[:, names.index("upperneck")]
                                         + pos[:, names.index("head")])
    lateral = points[:, J["l_hip"]] - points[:, J["r_hip"]]
    spine = points[:, J["thorax"]] - points[:, J["pelvis"]]
    anterior = np.cross(lateral, spine)
    anterior /= np.linalg.norm(anterior, axis=-1, keepdims=True)
    points[:, J["pelvis_front"]] = points[:, J["pelvis"]] + 0.1 * anterior
    # The hands are on a platform about 0.8 m high: put the lower wrist on the floor.
    wrists = np.minimum(points[:, J["r_wrist"], 1], points[:, J["l_wrist"], 1])
    points[..., 1] -= (wrists - 0.035)[:, None]
    return points, data["handstand_mask"].astype(bool), float(data["fps"])


def _runs(mask: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_length]


def sway_figures(points: np.ndarray, fps: float) -> tuple[float, float]:
    """Balance sway of a hold: std (cm) of the pelvis's horizontal offset from the hands after
    removing a linear trend, and its dominant frequency (Hz)."""
    from training.synth.body import J

    hands = 0.5 * (points[:, J["r_wrist"]] + points[:, J["l_wrist"]])
    offset = np.linalg.norm((points[:, J["pelvis"]] - hands)[:, [0, 2]], axis=-1)
    width = max(1, int(0.1 * fps))
    smooth = np.convolve(offset, np.ones(width) / width, mode="valid")
    time = np.arange(len(smooth))
    wobble = smooth - np.polyval(np.polyfit(time, smooth, 1), time)
    spectrum = np.abs(np.fft.rfft(wobble, n=8 * len(wobble)))
    freqs = np.fft.rfftfreq(8 * len(wobble), 1 / fps)
    usable = freqs > 0.1
    return float(wobble.std() * 100), float(freqs[usable][np.argmax(spectrum[usable])])


def motion_dynamics(mocap: Path, seed: int) -> None:
    """Compares arch/pike ranges and sway of held handstands: CMU 88_02 vs synthetic holds."""
    from training.synth.body import J
    from training.synth.labels import hip_pike, joint_bend, label_frames, line_deviation

    points, mask, fps = mocap_points(mocap)
    hold = points[mask]
    # Subject height from the thigh (our thigh is 0.245 of the height).
    height = float(np.median(np.linalg.norm(points[:, J["r_knee"]] - points[:, J["r_hip"]],
                                            axis=-1)) / 0.245)
    labels, ambiguous = label_frames(hold, np.full(len(hold), height))
    deviation, pike = line_deviation(hold), hip_pike(hold)
    elbow = np.maximum(joint_bend(hold, "r_shoulder", "r_elbow", "r_wrist"),
                       joint_bend(hold, "l_shoulder", "l_elbow", "l_wrist"))
    knee = np.maximum(joint_bend(hold, "r_hip", "r_knee", "r_ankle"),
                      joint_bend(hold, "l_hip", "l_knee", "l_ankle"))
    pct = (10, 50, 90)

    def show(values, digits=3):
        return "/".join(f"{v:.{digits}f}" for v in np.percentile(values, pct))

    print(f"motion dynamics vs CMU 88_02 ({mask.sum()} handstand frames at {fps:.0f} fps, "
          f"subject height ~{height:.2f} m):")
    print(f"  mocap holds p10/50/90: line deviation {show(deviation)}, hip pike deg "
          f"{show(pike, 0)}, elbow bend deg {show(elbow, 0)}, knee bend deg {show(knee, 0)}")
    straight_arms = elbow < 20
    if straight_arms.any():
        print(f"  mocap frames with straight arms ({straight_arms.sum()}): line deviation "
              f"{show(deviation[straight_arms])}, hip pike deg {show(pike[straight_arms], 0)}")
    print("  mocap labels by our definition: " + ", ".join(
        f"{n} {np.mean(labels[~ambiguous] == i):.2f}" for i, n in enumerate(FORM_LABELS))
          + f" (ambiguous {ambiguous.mean():.2f})")
    clips = generate_clips(300, clip_length=150, rng=np.random.default_rng(seed),
                           config=SynthConfig(class_weights=(0.4, 0.4, 0.2, 0.0)))
    held = (clips.frame_labels != FORM_LABELS.index("not_handstand")).all(axis=1)
    synth_last = clips.points_3d[held, -1].astype(np.float64)
    print(f"  synthetic holds p10/50/90: line deviation {show(line_deviation(synth_last))}, "
          f"hip pike deg {show(hip_pike(synth_last), 0)}")
    runs = _runs(mask, int(1.4 * fps))
    mocap_sway = [sway_figures(points[a:b], fps) for a, b in runs]
    synth_sway = np.array([sway_figures(clips.points_3d[i].astype(np.float64), 30.0)
                           for i in np.flatnonzero(held)[:200]])
    for (a, b), (std, freq) in zip(runs, mocap_sway, strict=True):
        print(f"  mocap hold frames {a}-{b} ({(b - a) / fps:.1f} s): sway std {std:.1f} cm, "
              f"dominant {freq:.2f} Hz")
    print("  synthetic 5 s holds: sway std p10/50/90 "
          + "/".join(f"{v:.1f}" for v in np.nanpercentile(synth_sway[:, 0], pct))
          + " cm, dominant Hz p10/50/90 "
          + "/".join(f"{v:.2f}" for v in np.nanpercentile(synth_sway[:, 1], pct)))
    entries = [a for a, _ in _runs(mask, int(0.3 * fps))]
    for start in entries:
        window = points[max(0, start - int(2 * fps)):start + 1]
        tilt = window[:, J["thorax"], 1] < window[:, J["pelvis"], 1]
        first = int(np.argmax(tilt)) if tilt.any() else len(window) - 1
        lead = (len(window) - 1 - first) / fps
        print(f"  mocap entry at frame {start}: head below hips {lead:.2f} s before the handstand")


def main(argv: list[str] | None = None) -> int:
    """Prints the domain-classifier AUCs and a few distribution figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("cache/handstand_dev_blazepose.npz"))
    parser.add_argument("--synthetic", type=int, default=600, help="synthetic frames")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mocap", type=Path,
                        help="CMU 88_02_joints_m.npz: also compare motion dynamics")
    args = parser.parse_args(argv)
    if not args.cache.is_file():
        print(f"error: no BlazePose cache at {args.cache} (run python -m training.pose_cache)",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    if args.mocap is not None:
        if not args.mocap.is_file():
            print(f"error: no mocap file at {args.mocap}", file=sys.stderr)
            return 2
        motion_dynamics(args.mocap, args.seed)
    real, labels, real_groups = load_real(args.cache)
    synthetic, exact, synthetic_labels = synthetic_like(labels, args.synthetic, args.seed)
    counts = ", ".join(f"{name} {(labels == name).sum()}" for name in FORM_LABELS)
    print(f"real frames: {len(real)} ({counts})"
          f"; synthetic frames: {len(synthetic)}")
    line_deviation_by_label(real, labels, synthetic, synthetic_labels)
    describe("real", real, labels != "not_handstand")
    describe("synthetic", synthetic, synthetic_labels != "not_handstand")
    limb_share_spread(real[labels != "not_handstand"], exact[synthetic_labels != "not_handstand"],
                      synthetic[synthetic_labels != "not_handstand"])
    handstand_habits(args.cache, 2000, args.seed)
    # Which way a person faces in the image is arbitrary (webcam previews are mirrored, photos
    # get flipped); mirror half of each set at random so the classifier cannot use handedness.
    flip_rng = np.random.default_rng(args.seed + 1)
    keypoints = np.concatenate([random_flip(real, flip_rng), random_flip(synthetic, flip_rng)])
    is_real = np.concatenate([np.ones(len(real), bool), np.zeros(len(synthetic), bool)])
    groups = np.concatenate([real_groups, [f"synthetic{i}" for i in range(len(synthetic))]])
    all_labels = np.concatenate([labels, synthetic_labels])
    handstand = all_labels != "not_handstand"
    subsets = {"all": np.ones(len(all_labels), bool), "handstand classes": handstand,
               "not_handstand": ~handstand}
    print("domain classifier AUC (real vs synthetic; 0.5 = indistinguishable, target <= 0.65), "
          f"{args.folds}-fold CV x {args.repeats}; subsets scored from the same classifier:")
    worst = {name: 0.0 for name in subsets}
    for feature_name, confidence in (("positions+bones", "none"),
                                     ("positions+bones+seen", "seen"),
                                     ("positions+bones+conf", "value")):
        x = features(keypoints, confidence)
        for model_name, hidden in (("logistic", 0), ("mlp64", 64)):
            result = cross_validated_auc(x, is_real, groups, hidden, args.folds, args.repeats,
                                         args.seed, subsets)
            for name, (mean, _) in result.items():
                worst[name] = max(worst[name], mean)
            print(f"  {model_name:8s} on {feature_name:22s}: " + "  ".join(
                f"{name} {mean:.3f}+-{std:.3f}" for name, (mean, std) in result.items()))
    for name, value in worst.items():
        print(f"worst AUC ({name}): {value:.3f} "
              f"({'meets' if value <= 0.65 else 'misses'} the 0.65 target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
