"""The built wheel is a complete app: weights as package data and a ``formcoach`` command."""

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import pytest

from engine.verdict import FORM_LABELS

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("weights/form_handstand.pt", "weights/form_handstand.json", "weights/ideal_pose.npz")


def _build_wheel(out: Path) -> Path:
    # From a copy: setuptools leaves build/ behind, and a stale one would end up in the wheel.
    source = out / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".*", "build", "runs", "cache", "demo_output", "*.egg-info", "__pycache__"))
    # No build isolation and no index: setuptools is already installed; no network needed.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(out), str(source)],
        check=True, capture_output=True, timeout=240,
    )
    (wheel,) = out.glob("formcoach-*.whl")
    return wheel


def _venv_with_installed_dependencies(root: Path) -> Path:
    """A fresh venv that sees this interpreter's site-packages (torch, mediapipe, ...)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    python = root / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path("
                              "'purelib'))"], check=True, capture_output=True, text=True)
    # A plain path line: the dependencies become importable, but the .pth files in there (the
    # editable install of this checkout) are not run, so `coach` can only come from the wheel.
    Path(purelib.stdout.strip(), "installed_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.mark.slow
def test_wheel_installs_and_judges_a_photo_from_another_folder(tmp_path):
    wheel = _build_wheel(tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(SHIPPED) <= names
    python = _venv_with_installed_dependencies(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=240)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    demo = cv2.VideoCapture(str(REPO / "coach" / "assets" / "demo_handstand.mp4"))
    demo.set(cv2.CAP_PROP_POS_FRAMES, 150)  # mid-hold: the body is inverted and in view
    ok, frame = demo.read()
    assert ok
    cv2.imwrite(str(workdir / "photo.png"), frame)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [tmp_path / "venv" / "bin" / "formcoach", "--image", "photo.png", "--json", "r.json"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "no form model" not in result.stderr
    (photo,) = json.loads((workdir / "r.json").read_text())
    assert photo["label"] in FORM_LABELS and photo["can_judge"]
    assert set(photo["probabilities"]) == set(FORM_LABELS)
    located = subprocess.run([python, "-c", "import coach, weights; print(coach.__file__); "
                              "print(weights.__file__)"], cwd=workdir, env=env,
                             capture_output=True, text=True, check=True)
    assert str(REPO) not in located.stdout  # the wheel's copy ran, not this checkout
