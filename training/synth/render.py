"""Renders synthetic poses as shaded 3D figures on varied backgrounds (OpenCV, CPU).

The body is a set of capsules (limbs, torso, neck) and a head with hair and a face, drawn
far-to-near (painter's algorithm) with cylinder-like shading from a light direction, over a
wall-and-floor scene with a soft contact shadow. Good enough for BlazePose to find the person;
used for the demo clip, end-to-end test inputs and image data.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from training.silhouette import SILHOUETTE_SIZE
from training.synth.body import J

SKIN_TONES_BGR: tuple[tuple[int, int, int], ...] = (
    (189, 224, 255), (150, 200, 241), (120, 170, 224), (95, 140, 198), (66, 105, 160),
    (45, 75, 120), (36, 56, 89),
)  # fmt: skip
HAIR_BGR: tuple[tuple[int, int, int], ...] = (
    (20, 20, 25), (30, 45, 70), (40, 70, 110), (90, 150, 200), (60, 60, 70), (25, 35, 50),
)  # fmt: skip


@dataclass(frozen=True)
class Appearance:
    """How a person looks.

    Attributes:
        skin: BGR skin colour.
        hair: BGR hair colour.
        top: BGR colour of the shirt.
        bottom: BGR colour of the trousers or shorts.
        shoes: BGR colour of the feet (skin when barefoot).
        sleeves: 0 sleeveless, 1 short, 2 long.
        shorts: True for shorts (bare shanks), False for long trousers.
        size: radius multiplier (slim to broad).
    """

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    shoes: tuple[int, int, int]
    sleeves: int
    shorts: bool
    size: float


def _colour(rng: np.random.Generator, saturation: tuple[float, float] = (0.2, 0.9),
            value: tuple[float, float] = (0.2, 0.95)) -> tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * rng.uniform(*saturation)),
                      int(255 * rng.uniform(*value))]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _contrasting(rng: np.random.Generator, avoid: np.ndarray | None,
                 value: tuple[float, float] = (0.2, 0.95)) -> tuple[int, int, int]:
    """A random colour at least some distance from ``avoid`` (the background's mean)."""
    colour = _colour(rng, value=value)
    for _ in range(20):
        if avoid is None or np.linalg.norm(np.array(colour, float) - avoid) > 90:
            break
        colour = _colour(rng, value=value)
    return colour


def sample_appearance(rng: np.random.Generator,
                      background: np.ndarray | None = None) -> Appearance:
    """A random person: skin tone, hair, clothing colours and cut.

    Args:
        rng: random generator.
        background: (H, W, 3) image the person will stand in front of; clothing colours are
            kept away from its mean colour so the person does not vanish into it.
    """
    avoid = None if background is None else background.reshape(-1, 3).mean(axis=0)
    skin = SKIN_TONES_BGR[rng.integers(len(SKIN_TONES_BGR))]
    skin = tuple(int(np.clip(c * rng.uniform(0.92, 1.08), 0, 255)) for c in skin)
    barefoot = rng.uniform() < 0.5
    return Appearance(
        skin=skin,
        hair=HAIR_BGR[rng.integers(len(HAIR_BGR))],
        top=_contrasting(rng, avoid),
        bottom=_contrasting(rng, avoid, value=(0.1, 0.7)),
        shoes=skin if barefoot else _contrasting(rng, avoid, value=(0.1, 0.95)),
        sleeves=int(rng.integers(0, 3)),
        shorts=bool(rng.uniform() < 0.45),
        size=float(rng.uniform(1.05, 1.35)),
    )


def _noise_texture(shape: tuple[int, int], rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth random texture in [-1, 1] of (H, W)."""
    small = rng.uniform(-1.0, 1.0, (max(2, cells * shape[0] // max(shape)),
                                    max(2, cells * shape[1] // max(shape))))
    return cv2.resize(small.astype(np.float32), (shape[1], shape[0]),
                      interpolation=cv2.INTER_CUBIC)


def render_background(image_size: tuple[int, int], rotation: np.ndarray, position: np.ndarray,
                      focal: float, rng: np.random.Generator) -> np.ndarray:
    """A room seen by the camera: textured wall, floor plane, a few wall objects.

    Args:
        image_size: (width, height).
        rotation: (3, 3) world -> camera rotation.
        position: (3,) camera centre.
        focal: focal length in pixels.
        rng: random generator.

    Returns:
        (H, W, 3) uint8 BGR image.
    """
    width, height = image_size
    wall = np.array(_colour(rng, (0.0, 0.5), (0.35, 0.95)), dtype=np.float32)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    gradient = 1.0 + rng.uniform(-0.25, 0.25) * (ys - 0.5)
    image = np.broadcast_to(wall, (height, width, 3)) * gradient
    image = image + 18.0 * rng.uniform(0.2, 1.0) * _noise_texture((height, width), rng, 12)[
        ..., None]
    for _ in range(rng.integers(0, 4)):  # posters, doors, windows, wall bars
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 12, width // 3 + 2), rng.integers(height // 10, height // 2)
        cv2.rectangle(image, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)),
                      tuple(float(c) for c in _colour(rng)), -1)

    # Floor: a large square on y = 0 around the scene, clipped in front of the camera.
    extent = 30.0
    corners = np.array([[-extent, 0, -extent], [extent, 0, -extent], [extent, 0, extent],
                        [-extent, 0, extent]]) + np.array([position[0], 0.0, position[2]])
    polygon = _clip_and_project(corners, rotation, position, focal, image_size)
    if polygon is not None:
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
        floor_colour = np.array(_colour(rng, (0.1, 0.7), (0.2, 0.8)), dtype=np.float32)
        texture = _noise_texture((height, width), rng, 40)
        if rng.uniform() < 0.5:  # wooden boards
            stripes = np.sin(np.arange(width, dtype=np.float32) * rng.uniform(0.05, 0.3))
            texture = 0.5 * texture + 0.5 * stripes[None, :]
        floor = floor_colour * (1.0 + 0.15 * texture[..., None])
        image = np.where(mask[..., None] > 0, floor, image)
    return np.clip(image, 0, 255).astype(np.uint8)


def _clip_and_project(polygon: np.ndarray, rotation: np.ndarray, position: np.ndarray,
                      focal: float, image_size: tuple[int, int]) -> np.ndarray | None:
    """Projects a 3D polygon after clipping it against the near plane; None if all behind."""
    cam = (polygon - position) @ rotation.T
    near = 0.05
    clipped = []
    for i in range(len(cam)):
        a, b = cam[i], cam[(i + 1) % len(cam)]
        if a[2] >= near:
            clipped.append(a)
        if (a[2] >= near) != (b[2] >= near):
            t = (near - a[2]) / (b[2] - a[2])
            clipped.append(a + t * (b - a))
    if len(clipped) < 3:
        return None
    cam = np.array(clipped)
    centre = np.array(image_size, dtype=float) / 2.0
    projected = focal * cam[:, :2] / cam[:, 2:3] + centre
    return np.clip(projected, -1e5, 1e5)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[float, float, float]:
    return tuple(float(np.clip(c * factor, 0, 255)) for c in colour)


def _capsule(image: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float,
             colour: tuple[int, int, int], light: np.ndarray) -> None:
    """A shaded 2D capsule (thick line, round caps), brighter on the side of ``light``."""
    layers = ((1.0, 0.55), (0.85, 0.75), (0.62, 0.92), (0.35, 1.08))
    for size, brightness in layers:
        offset = light * radius * (1.0 - size) * 0.8
        r = max(1, int(round(radius * size)))
        p, q = a + offset, b + offset
        if not (np.isfinite(p).all() and np.isfinite(q).all()):
            return
        cv2.line(image, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])),
                 _shade(colour, brightness), thickness=2 * r, lineType=cv2.LINE_AA)


def _disc(image: np.ndarray, centre: np.ndarray, radius: float, colour,
          axes_ratio: float = 1.0) -> None:
    axes = (max(1, int(radius)), max(1, int(radius * axes_ratio)))
    cv2.ellipse(image, (int(centre[0]), int(centre[1])), axes, 0, 0, 360,
                tuple(float(x) for x in colour), -1, lineType=cv2.LINE_AA)


def body_capsules(appearance: Appearance) -> list[tuple[str, str, float, tuple[int, int, int]]]:
    """The capsules a figure is drawn from: (point a, point b, radius in metres, BGR colour).

    Radii are for a 1.7 m body of ``size`` 1; ``render_figure`` scales them.
    """
    a = appearance
    sleeve_upper = a.top if a.sleeves >= 1 else a.skin
    sleeve_fore = a.top if a.sleeves == 2 else a.skin
    shank = a.skin if a.shorts else a.bottom
    return [
        ("pelvis", "thorax", 0.115, a.top),
        ("r_shoulder", "l_shoulder", 0.06, a.top),
        ("r_shoulder", "r_hip", 0.075, a.top),
        ("l_shoulder", "l_hip", 0.075, a.top),
        ("r_hip", "l_hip", 0.085, a.bottom),
        ("thorax", "head_center", 0.05, a.skin),
        ("r_shoulder", "r_elbow", 0.045, sleeve_upper),
        ("l_shoulder", "l_elbow", 0.045, sleeve_upper),
        ("r_elbow", "r_wrist", 0.036, sleeve_fore),
        ("l_elbow", "l_wrist", 0.036, sleeve_fore),
        ("r_wrist", "r_hand", 0.03, a.skin),
        ("l_wrist", "l_hand", 0.03, a.skin),
        ("r_hip", "r_knee", 0.07, a.bottom),
        ("l_hip", "l_knee", 0.07, a.bottom),
        ("r_knee", "r_ankle", 0.05, shank),
        ("l_knee", "l_ankle", 0.05, shank),
        ("r_heel", "r_toe", 0.035, a.shoes),
        ("l_heel", "l_toe", 0.035, a.shoes),
    ]


def _project(world: np.ndarray, rotation: np.ndarray, position: np.ndarray, focal: float,
             centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection: (..., 3) world points -> ((..., 2) pixels, (...) depth)."""
    cam = (world - position) @ rotation.T
    depth = np.maximum(cam[..., 2], 0.05)
    return focal * cam[..., :2] / depth[..., None] + centre, depth


def render_figure(image: np.ndarray, points: np.ndarray, rotation: np.ndarray,
                  position: np.ndarray, focal: float, appearance: Appearance,
                  height: float = 1.7, light_dir: np.ndarray | None = None) -> np.ndarray:
    """Draws one person into ``image`` (in place) and returns it.

    Args:
        image: (H, W, 3) uint8 BGR background.
        points: (NUM_POINTS, 3) world points of the body.
        rotation: (3, 3) world -> camera rotation.
        position: (3,) camera centre.
        focal: focal length in pixels.
        appearance: colours and clothing.
        height: body height in metres (scales limb thickness).
        light_dir: (3,) direction towards the light (world); default above and to the side.

    Returns:
        The same image with the figure drawn.
    """
    h, w = image.shape[:2]
    centre = np.array([w / 2.0, h / 2.0])

    def project(world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _project(world, rotation, position, focal, centre)

    pix, depth = project(points)
    if light_dir is None:
        light_dir = np.array([0.3, 1.0, 0.4])
    light_cam = rotation @ (light_dir / np.linalg.norm(light_dir))
    light2d = light_cam[:2] / (np.linalg.norm(light_cam[:2]) + 1e-6)
    k = height / 1.7 * appearance.size
    parts = body_capsules(appearance)
    items = []
    for name_a, name_b, radius, colour in parts:
        ia, ib = J[name_a], J[name_b]
        mean_depth = 0.5 * (depth[ia] + depth[ib])
        items.append((mean_depth, (pix[ia], pix[ib], focal * radius * k / mean_depth, colour)))
    # The head sits between the arms in a handstand; keep it in front of the trunk parts.
    items.append((depth[J["head_center"]] - 0.12 * k, None))

    # Soft contact shadow: the body squashed onto the floor.
    floor = points.copy()
    floor[:, 1] = 0.0
    floor_pix, floor_depth = project(floor)
    if ((floor - position) @ rotation.T)[:, 2].min() > 0.1:
        hull = cv2.convexHull(np.round(floor_pix).astype(np.int32))
        overlay = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(overlay, hull, 255)
        overlay = cv2.GaussianBlur(overlay, (0, 0), max(2.0, 0.02 * w))
        image[:] = (image * (1.0 - 0.35 * overlay[..., None] / 255.0)).astype(np.uint8)

    for _, payload in sorted(items, key=lambda item: -item[0]):
        if payload is None:
            _draw_head(image, points, project, appearance, k)
        else:
            pa, pb, r_px, colour = payload
            _capsule(image, pa, pb, r_px, colour, light2d)
    return image


def render_silhouette(points: np.ndarray, rotation: np.ndarray, position: np.ndarray,
                      focal: float, image_size: tuple[int, int], transform: np.ndarray,
                      appearance: Appearance, *, height: float = 1.7,
                      size: tuple[int, int] = SILHOUETTE_SIZE, supersample: int = 4
                      ) -> np.ndarray:
    """The exact person mask of ``render_figure``'s body, drawn straight into a crop.

    Args:
        points: (NUM_POINTS, 3) world points of the body.
        rotation: (3, 3) world -> camera rotation.
        position: (3,) camera centre.
        focal: focal length in pixels.
        image_size: (width, height) of the camera image.
        transform: (2, 3) image pixels -> crop pixels
            (``training.silhouette.body_axis_transform``).
        appearance: the person (its ``size`` sets the limb thickness).
        height: body height in metres.
        size: (rows, columns) of the crop.
        supersample: drawn this many times larger, then averaged down (soft edges).

    Returns:
        (rows, columns) float32 in [0, 1].
    """
    rows, columns = size
    centre = np.array([image_size[0] / 2.0, image_size[1] / 2.0])
    pix, depth = _project(points, rotation, position, focal, centre)
    # Supersampled pixel centres: crop pixel u covers [u - 0.5, u + 0.5].
    crop = (pix @ transform[:, :2].T + transform[:, 2] + 0.5) * supersample - 0.5
    # Pixel radii shrink with the crop's scale (crop pixels per image pixel).
    shrink = supersample * float(np.linalg.norm(transform[0, :2]))
    k = height / 1.7 * appearance.size
    if not np.isfinite(crop).all():
        return np.zeros(size, np.float32)
    canvas = np.zeros((rows * supersample, columns * supersample), np.uint8)
    for name_a, name_b, radius, _ in body_capsules(appearance):
        ia, ib = J[name_a], J[name_b]
        r = focal * radius * k / (0.5 * (depth[ia] + depth[ib])) * shrink
        a, b = np.clip(np.round(crop[[ia, ib]]), -1e5, 1e5).astype(np.int64)
        cv2.line(canvas, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 255,
                 thickness=max(1, int(round(2 * r))))
    head = J["head_center"]
    head_radius = focal * 0.11 * k / depth[head] * shrink
    cv2.circle(canvas, (int(round(crop[head, 0])), int(round(crop[head, 1]))),
               max(1, int(round(head_radius))), 255, -1)
    small = cv2.resize(canvas, (columns, rows), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def _draw_head(image: np.ndarray, points: np.ndarray, project, appearance: Appearance,
               k: float) -> None:
    """Head with hair and, when turned towards the camera, eyes, brows, nose and mouth."""
    centre = points[J["head_center"]]
    forward = points[J["nose"]] - centre
    forward /= np.linalg.norm(forward) + 1e-9
    lateral = points[J["l_ear"]] - points[J["r_ear"]]
    lateral /= np.linalg.norm(lateral) + 1e-9
    up = np.cross(forward, lateral)
    up /= np.linalg.norm(up) + 1e-9
    if np.dot(up, points[J["head_top"]] - centre) < 0:
        up = -up
    centre_pix, centre_depth = project(centre)
    radius = float(np.linalg.norm(project(centre + 0.11 * k * up)[0] - centre_pix))
    radius = max(radius, 1.0)

    def at(offset: np.ndarray) -> np.ndarray:
        return project(centre + k * offset)[0]

    _disc(image, at(0.025 * up - 0.035 * forward), radius * 1.02, _shade(appearance.hair, 0.9))
    _disc(image, at(-0.01 * up + 0.012 * forward), radius * 0.9, appearance.skin)
    _disc(image, at(-0.06 * up + 0.03 * forward), radius * 0.6, _shade(appearance.skin, 0.95))
    _disc(image, at(0.06 * up - 0.02 * forward), radius * 0.72, appearance.hair)
    facing_camera = project(centre + 0.1 * forward)[1] < centre_depth - 0.02
    if project(centre + 0.1 * forward)[1] > centre_depth + 0.05:  # seen from behind
        _disc(image, at(0.01 * up - 0.02 * forward), radius * 0.95, appearance.hair)
        _disc(image, at(-0.075 * up - 0.02 * forward), radius * 0.42,
              _shade(appearance.skin, 0.85))  # nape of the neck
    for side in (-1.0, 1.0):  # ears on the side turned to the camera
        ear = centre + side * 0.085 * k * lateral
        if project(ear)[1] < centre_depth - 0.01:
            _disc(image, at(side * 0.08 * lateral - 0.005 * up), radius * 0.2,
                  _shade(appearance.skin, 0.9), 1.5)
    if not facing_camera:
        return
    thick = max(1, int(round(radius * 0.1)))
    for side in (-1.0, 1.0):
        eye = at(0.085 * forward + 0.01 * up + side * 0.033 * lateral)
        _disc(image, eye, radius * 0.17, (235, 235, 235), 0.65)
        _disc(image, eye, radius * 0.085, (30, 25, 20))
        _line(image, at(0.085 * forward + 0.035 * up + side * 0.018 * lateral),
              at(0.08 * forward + 0.037 * up + side * 0.05 * lateral),
              _shade(appearance.hair, 0.7), thick)
    _line(image, at(0.095 * forward), at(0.105 * forward - 0.03 * up),
          _shade(appearance.skin, 0.7), thick)
    _line(image, at(0.09 * forward - 0.055 * up - 0.022 * lateral),
          at(0.09 * forward - 0.055 * up + 0.022 * lateral), (70, 70, 160), thick)


def _line(image: np.ndarray, a: np.ndarray, b: np.ndarray, colour, thickness: int) -> None:
    cv2.line(image, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])),
             tuple(float(c) for c in colour), thickness, cv2.LINE_AA)


def render_frames(points: np.ndarray, rotation: np.ndarray, position: np.ndarray, focal: float,
                  image_size: tuple[int, int], *, rng: np.random.Generator,
                  height: float = 1.7, appearance: Appearance | None = None,
                  background: np.ndarray | None = None, blur: float | None = None,
                  noise: float | None = None) -> np.ndarray:
    """Renders the frames of one clip with one person, one room and one camera.

    Args:
        points: (T, NUM_POINTS, 3) world points per frame.
        rotation: (T, 3, 3) or (3, 3) world -> camera rotation.
        position: (3,) camera centre.
        focal: focal length in pixels.
        image_size: (width, height).
        rng: random generator (appearance, room, light, sensor noise).
        height: body height in metres.
        appearance: the person's look (random when None).
        background: (H, W, 3) uint8 BGR room (random when None).
        blur: Gaussian blur sigma in pixels (random when None).
        noise: sensor noise standard deviation (random when None).

    Returns:
        (T, H, W, 3) uint8 BGR frames.
    """
    points = np.asarray(points, dtype=float)
    rotation = np.asarray(rotation, dtype=float)
    if rotation.ndim == 2:
        rotation = np.broadcast_to(rotation, (len(points), 3, 3))
    width, height_px = int(image_size[0]), int(image_size[1])
    if background is None:
        background = render_background((width, height_px), rotation[0], position, focal, rng)
    appearance = appearance or sample_appearance(rng, background)
    light = np.array([rng.uniform(-1, 1), rng.uniform(0.6, 1.5), rng.uniform(-1, 1)])
    blur = rng.uniform(0.3, 1.0) if blur is None else blur
    noise = rng.uniform(1.0, 5.0) if noise is None else noise
    frames = np.empty((len(points), height_px, width, 3), np.uint8)
    for t in range(len(points)):
        image = background.copy()
        render_figure(image, points[t], rotation[t], position, focal, appearance, height, light)
        if blur > 0:
            image = cv2.GaussianBlur(image, (0, 0), blur)
        if noise > 0:
            image = np.clip(image + rng.normal(0.0, noise, image.shape), 0, 255).astype(np.uint8)
        frames[t] = image
    return frames


def render_clip(clips, index: int, rng: np.random.Generator, **kwargs) -> np.ndarray:
    """Renders clip ``index`` of a ``SynthClips`` batch with its own camera.

    Returns:
        (T, H, W, 3) uint8 BGR frames.
    """
    cameras = clips.cameras
    return render_frames(clips.points_3d[index], cameras.rotation[index],
                         cameras.position[index], float(cameras.focal[index]),
                         tuple(int(v) for v in cameras.image_sizes[index]), rng=rng,
                         height=float(clips.dims[index, 0]), **kwargs)
