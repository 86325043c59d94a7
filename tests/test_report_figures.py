"""The report's static figures, drawn without matplotlib: what each shows, and that writing
a report never imports pyplot."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from modicmap.report.drawing import (
    OUTLINE_RGB,
    level_patches_image,
    map_panel,
    scatter_svg,
    side_by_side,
)
from modicmap.report.viewer import viewer_zoom


def _body_with_lesion() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = np.full((60, 40), 100.0)
    image[10:50, 10:30] = 300.0
    vertebrae = np.zeros((60, 40), np.uint8)
    vertebrae[10:50, 10:30] = 23  # L4
    modic = np.zeros((60, 40), np.uint8)
    modic[44:49, 14:20] = 1
    return image, modic, vertebrae


def test_a_map_panel_shows_the_lesion_in_its_type_colour_and_the_body_outline() -> None:
    image, modic, vertebrae = _body_with_lesion()
    panel = np.asarray(map_panel(image, modic, vertebrae, 1.0, "T1"))
    assert panel.shape == (60, 40, 3)
    red = panel[46, 16].astype(int)
    assert red[0] > 180 and red[1] < 90 and red[2] < 90  # type 1: red over the bright body
    assert tuple(panel[10, 20]) == OUTLINE_RGB  # the body's top edge
    assert tuple(panel[40, 12]) == (255, 255, 255)  # inside the body: the image, windowed
    name = panel[22:38, 20:40].astype(int)  # "L4" right of the body's centre, in green
    assert ((name[..., 1] > 200) & (name[..., 0] < 180)).sum() > 5
    assert tuple(panel[58, 2]) == (0, 0, 0)  # background, far from any label


def test_a_panel_with_anisotropic_pixels_is_stretched_to_square_millimetres() -> None:
    image, modic, vertebrae = _body_with_lesion()
    assert map_panel(image, modic, vertebrae, 2.0, "").size == (40, 120)
    both = side_by_side([map_panel(image, modic, vertebrae, 1.0, "")] * 2, gap=6)
    assert both.size == (86, 60)


def test_level_patches_show_one_column_per_level_t1_above_t2() -> None:
    patch = np.zeros((2, 8, 8))
    patch[0] = 2.5  # T1 white, T2 black
    image = level_patches_image({"L4-L5": patch, "L5-S1": patch}, {"L4-L5": 0.9, "L5-S1": None})
    pixels = np.asarray(image)
    left, head, size, gap = 26, 34, 16, 6
    assert image.width == left + 2 * (size + gap)
    assert pixels[head + 4, left + 4].tolist() == [255, 255, 255]
    assert pixels[head + size + gap + 4, left + 4].tolist() == [0, 0, 0]


def test_the_scatter_is_valid_svg_with_every_type_counted_and_its_centroid() -> None:
    rng = np.random.default_rng(0)
    points = {1: (rng.normal(-2, 1, 50), rng.normal(2, 1, 50), 1234), 2: (rng.normal(2, 1, 9),) * 2}
    points[2] = (*points[2], 9)
    svg = scatter_svg(points, [((-2.0, 2.0), (1.0, 1.0)), ((2.0, 0.0), (1.0, 1.0))])
    root = ET.fromstring(svg)
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "type 1 (oedema) (1234 voxels)" in text and "type 2 (fatty) (9 voxels)" in text
    assert "centroid 1" in text and "centroid 2" in text
    assert len(list(root.iter("{http://www.w3.org/2000/svg}ellipse"))) == 2
    paths = [p.get("d", "") for p in root.iter("{http://www.w3.org/2000/svg}path")]
    assert max(p.count("h0") for p in paths) == 50  # one dot per plotted type-1 voxel


def test_viewer_volumes_are_capped_in_plane_and_never_upsampled() -> None:
    assert viewer_zoom((435, 204)) == 320 / 435
    assert viewer_zoom((300, 200)) == 1.0


def test_writing_a_report_does_not_import_matplotlib(tmp_path: Path) -> None:
    here = Path(__file__).parent
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from review_study import write_graded_study;"
        "write_graded_study(Path(sys.argv[2]), slices=3, matrix=96);"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(here), str(tmp_path / "s")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
    assert (tmp_path / "s" / "report.html").stat().st_size > 0
