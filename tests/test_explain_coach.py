import cv2
import numpy as np
import pytest
import torch
from test_explain_poses import stick_handstand, tiny_classifier  # noqa: F401

from coach.explain import LiveCorrection, compose_explanation, worst_moment, write_explanation
from engine.ideal import IdealPose, normalize_pose
from engine.skeleton import BONES

SIZE = (320, 240)


def _photo(pose: np.ndarray) -> np.ndarray:
    width, height = SIZE
    image = np.full((height, width, 3), (90, 140, 60), np.uint8)
    for a, b in BONES:
        cv2.line(image, tuple(int(v) for v in pose[a, :2]), tuple(int(v) for v in pose[b, :2]),
                 (150, 170, 220), 11)
    return image


def _ideal() -> IdealPose:
    return IdealPose(normalize_pose(stick_handstand(np.random.default_rng(30), banana=False)))


def test_write_explanation_writes_three_labeled_panels(tmp_path):
    pose = stick_handstand(np.random.default_rng(31), banana=True, size=SIZE)
    photo = _photo(pose)
    out = write_explanation(photo, pose, tiny_classifier(), tmp_path / "why.png", ideal=_ideal())
    assert out == tmp_path / "why.png"
    image = cv2.imread(str(out))
    width, height = SIZE
    assert image.shape[0] > height  # cues underneath
    separator = (image.shape[1] - 3 * width) // 2
    assert separator > 0 and image.shape[1] == 3 * width + 2 * separator
    panels = [image[:height, i * (width + separator): i * (width + separator) + width]
              for i in range(3)]
    body_rows = slice(60, height)  # below the panel titles
    assert np.abs(panels[2][body_rows].astype(int) - panels[0][body_rows].astype(int)).mean() > 1
    ghost_green = (panels[1][..., 1].astype(int) - panels[1][..., 2].astype(int)) > 60
    assert ghost_green.sum() > 200  # the ideal pose is drawn in green
    assert not list(tmp_path.glob(".explain-*"))  # no temporary file left behind


def test_explanation_without_ideal_pose_still_works():
    pose = stick_handstand(np.random.default_rng(32), banana=True, size=SIZE)
    image = compose_explanation(_photo(pose), pose, tiny_classifier(), ideal=False)
    assert image.shape[1] > 3 * SIZE[0]


def test_write_explanation_errors_are_os_errors(tmp_path):
    pose = stick_handstand(np.random.default_rng(33), banana=True, size=SIZE)
    photo = _photo(pose)
    with pytest.raises(OSError):
        write_explanation(photo, pose, tiny_classifier(), tmp_path / "no" / "dir" / "x.png",
                          ideal=False)
    with pytest.raises(OSError, match="cannot encode"):
        write_explanation(photo, pose, tiny_classifier(), tmp_path / "x.notanimage", ideal=False)


def test_corrected_view_has_the_frame_shape_and_follows_a_stream():
    rng = np.random.default_rng(34)
    pose = stick_handstand(rng, banana=True, size=SIZE)
    photo = _photo(pose)
    live = LiveCorrection(tiny_classifier())
    for _ in range(3):
        jittered = pose.copy()
        jittered[:, :2] += rng.normal(0, 0.5, (16, 2))
        view = live.view(photo, jittered)
        assert view.shape == photo.shape and view.dtype == np.uint8
    assert np.abs(view.astype(int) - photo.astype(int)).mean() > 1


def _probabilities(straight: float) -> dict[str, float]:
    return {"straight": straight, "banana": 1.0 - straight, "other_handstand": 0.0,
            "not_handstand": 0.0}


def test_worst_moment_is_the_least_straight_frame_of_a_hold():
    stand = {"straight": 0.0, "banana": 0.0, "other_handstand": 0.0, "not_handstand": 1.0}
    frames = [stand, stand] + [_probabilities(p) for p in (0.9, 0.8, 0.2, 0.7, 0.9)] + [stand]
    assert worst_moment(frames, edge_seconds=0) == 4
    # A one-frame flicker is not a hold; a borderline frame (banana 0.45) names no fault.
    flicker = [stand, _probabilities(0.1), stand, *[_probabilities(0.55)] * 3,
               _probabilities(0.3)]
    assert worst_moment(flicker, edge_seconds=0) == 6
    assert worst_moment(flicker[:-1], edge_seconds=0) is None
    assert worst_moment([stand, None, stand], edge_seconds=0) is None
    labels = ["not_handstand"] * 2 + ["straight"] * 5 + ["not_handstand"]
    assert worst_moment(frames, labels, edge_seconds=0) == 4
    with pytest.raises(ValueError):
        worst_moment(frames, labels[:-1], edge_seconds=0)


def test_worst_moment_skips_glitched_poses_and_straight_holds():
    frames = [_probabilities(p) for p in (0.9, 0.9, 0.1, 0.3, 0.9)]
    # Frame 2 is a pose glitch (a folded leg): the fault comes from the estimate, not the body.
    trusted = [True, True, False, True, True]
    assert worst_moment(frames, trusted=trusted, edge_seconds=0) == 3
    assert worst_moment(frames, trusted=[True, True, False, False, True], edge_seconds=0) is None
    straight_hold = [_probabilities(p) for p in (0.95, 0.9, 0.85, 0.97, 0.9)]
    assert worst_moment(straight_hold, edge_seconds=0) is None


def test_worst_moment_leaves_out_the_way_in_and_out_of_a_hold():
    # A 1 s hold whose last frames are the come-down (the smoothed label still says straight).
    frames = [_probabilities(0.9)] * 27 + [_probabilities(p) for p in (0.1, 0.05, 0.02)]
    assert worst_moment(frames) is None
    frames[12] = _probabilities(0.2)  # a banana in the middle of the hold
    assert worst_moment(frames) == 12


def test_an_unusable_pose_gives_a_one_line_input_error(tmp_path):
    from coach.errors import InputError

    collapsed = np.ones((16, 3), np.float32) * 50.0
    collapsed[:, 2] = 1.0
    photo = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    with pytest.raises(InputError, match="cannot explain this pose") as error:
        write_explanation(photo, collapsed, tiny_classifier(), tmp_path / "x.png", ideal=False)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "x.png").exists()


class _SeesNoHandstand(torch.nn.Module):
    """The tiny form model with its scores pushed to not_handstand."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.num_joints = inner.num_joints

    def forward(self, pose, appearance=None):
        logits, view_logit, block_logits = self.inner(pose)
        return logits + torch.tensor([0.0, 0.0, 0.0, 30.0]), view_logit, block_logits


def test_no_correction_is_searched_when_the_model_sees_no_handstand():
    from engine.explain import explain
    from engine.form import FormClassifier

    tiny = tiny_classifier()
    classifier = FormClassifier(_SeesNoHandstand(tiny.model), clip_length=tiny.clip_length,
                                checks=tiny.checks)
    pose = stick_handstand(np.random.default_rng(33), banana=True, size=SIZE)
    explanation = explain(pose, classifier)
    assert "no handstand" in explanation.not_searched and explanation.steps == 0
    np.testing.assert_array_equal(explanation.corrected, explanation.original)
    searched = explain(pose, tiny)
    assert not searched.not_searched and searched.steps > 0
    assert np.abs(searched.corrected - searched.original).max() > 1.0
    image = compose_explanation(_photo(pose), pose, classifier, ideal=_ideal())
    footer = image[-30:]
    assert footer.max() > 200  # the one cue line is written
