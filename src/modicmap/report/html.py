"""``report.html``: one self-contained page: an interactive viewer and review table (NiiVue,
inlined, see ``viewer.py``) and static figures (PNG data URIs) for printing."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.grading.typing import Centroids
from modicmap.registration.rigid import MIN_EDGE_CORRELATION
from modicmap.report.drawing import (
    TYPE_COLOURS,
    TYPE_NAMES,
    legend_html,
    level_patches_image,
    map_panel,
    png_data_uri,
    registration_image,
    scatter_svg,
    side_by_side,
)
from modicmap.report.viewer import (
    level_bodies,
    lumbar_crop,
    viewer_css,
    viewer_data,
    viewer_section,
)
from modicmap.zscore import ZScoreMaps


def _map_figures(
    t1: np.ndarray,
    t2: np.ndarray,
    modic: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    bodies: tuple[str, ...] = (),
) -> list[tuple[int, str]]:
    """Up to three slices (those with most lesion voxels, else the middle one): T1 beside
    the registered T2 with the map, the outlines and the names, cropped as the viewer is."""
    counts = (modic > 0).sum(axis=(1, 2))
    slices = [int(k) for k in np.argsort(counts)[::-1][:3] if counts[k] > 0] or [
        modic.shape[0] // 2
    ]
    rows, cols = lumbar_crop(vertebrae, spacing_zyx, bodies)
    aspect = spacing_zyx[1] / spacing_zyx[2]
    out = []
    for k in sorted(slices):
        crop = (k, rows, cols)
        panels = [
            map_panel(image[crop], modic[crop], vertebrae[crop], aspect, title)
            for image, title in (
                (t1, f"T1, slice {k + 1}"),
                (t2, f"T2 (registered), slice {k + 1}"),
            )
        ]
        out.append((k, png_data_uri(side_by_side(panels))))
    return out


def _scatter(zmaps: ZScoreMaps, modic: np.ndarray, centroids: Centroids) -> str:
    """Up to 3000 lesion voxels per type in (T1 z, T2 z), with the type centroids."""
    rng = np.random.default_rng(0)
    points = {}
    flat = modic.ravel()
    for kind in TYPE_COLOURS:
        m = np.flatnonzero(flat == kind)
        if m.size:
            pick = np.sort(rng.choice(m, min(m.size, 3000), replace=False))
            points[kind] = (zmaps.t1z.ravel()[pick], zmaps.t2z.ravel()[pick], int(m.size))
    spread = [
        ((float(mean[0]), float(mean[1])), (float(sd[0]), float(sd[1])))
        for mean, sd in zip(centroids.means, centroids.sds, strict=True)
    ]
    return scatter_svg(points, spread)


def _level_patches(patches: dict[str, np.ndarray], evidence: dict[str, dict[str, Any]]) -> str:
    """One column per level: the middle patch the level network read, T1 above T2 (signal
    relative to the bodies' marrow, 0-2.5), titled with the network's probability."""
    probabilities = {}
    for name in patches:
        logit = evidence.get(name, {}).get("level_net_logit")
        probabilities[name] = None if logit is None else 1 / (1 + math.exp(-float(logit)))
    return png_data_uri(level_patches_image(patches, probabilities))


def _registration(t1: np.ndarray, t2: np.ndarray, aspect: float) -> str:
    return png_data_uri(registration_image(t1, t2, aspect))


def _cell(modic: int, mixed: str = "") -> str:
    if not modic:
        return '<td class="m0">none</td>'
    extra = f" ({html.escape(mixed)})" if mixed else ""
    return f'<td class="m{modic}">{html.escape(TYPE_NAMES[modic])}{extra}</td>'


def write_report(
    path: Path,
    *,
    t1,
    t2,
    modic,
    vertebrae,
    zmaps,
    centroids,
    endplates: list[EndplateGrade],
    levels: list[LevelGrade],
    summary: dict[str, Any],
    spacing_zyx: tuple[float, float, float],
    level_patches: dict[str, np.ndarray] | None = None,
    study_id: str | None = None,
) -> Path:
    """Write the report; ``summary`` already excludes patient identifiers unless asked for.
    ``level_patches``: per level name, the patch arr[2, S, S] the level network read.
    ``study_id`` (default: the report's folder name) goes into the review.csv rows."""
    aspect = spacing_zyx[1] / spacing_zyx[2]
    threshold = float(summary.get("lesion_probability_threshold", 0.5))
    if summary.get("grading_rule") == "probability":
        rule_text = (
            f"An endplate is graded when its confidence reaches {threshold:.2f}, with the type "
            "that has most lesion voxels in its region."
        )
    else:
        rule_text = (
            "An endplate is graded with the type that has most lesion voxels within 8 mm of it "
            "when that type's share of the region passes the calibrated threshold."
        )
    maps = _map_figures(t1, t2, modic, vertebrae, spacing_zyx, level_bodies(levels))
    evidence = {e["level"]: e for e in summary.get("levels", [])}
    look_from, cut = _near_cut_band(summary)
    level_rows = "".join(
        f'<tr data-level="{html.escape(r.level)}" data-endplate="level"><td>{html.escape(r.level)}</td>'
        f"<td>{r.index_from_sacrum}</td>"
        + (
            '<td class="m0 near">none, near the cut</td>'
            if not r.modic and look_from is not None and look_from <= r.probability < cut
            else _cell(r.modic, r.mixed_type)
        )
        + f"{_carriers_cell(r)}"
        f"{_cell(r.upper_endplate_modic)}{_cell(r.lower_endplate_modic)}<td>{r.probability:.2f}</td>"
        f"{_evidence_cells(evidence.get(r.level))}</tr>"
        for r in levels
    )
    if summary.get("level_model"):
        level_text = (
            "A level's confidence comes from the level model: the marrow evidence of its two "
            "endplates (the larger endplate confidence, and the 90th percentile of the T1 and "
            "T2 z-scores in the endplate bands), the disc's T1 and T2 signal relative to the "
            "marrow (a degenerated disc is dark and often sits next to Modic changes), "
            + (
                "the level network (a small network that reads the disc and both endplates on "
                "one patch, trained on per-level gradings; it also estimates the disc's "
                "Pfirrmann grade) "
                if "level_net" in summary["level_model"].get("features", [])
                else ""
            )
            + "and the level, fitted on per-level gradings. "
            + _operating_point_text(summary)
            + " A level whose marrow confidence "
            f"reaches {float(summary['level_model'].get('marrow_override', 1.0)):.2f} keeps at "
            "least that confidence, whatever its disc. "
            + ONE_STORY_TEXT
            + (
                " The column 'type if Modic' is the level model's type prior's view (how often "
                "each type occurs among the graded levels it was fitted on); it does not set "
                "the type."
                if summary["level_model"].get("type_prior")
                else ""
            )
        )
    else:
        level_text = "A level is graded from the two endplates facing its disc."
    endplate_rows = "".join(
        f'<tr id="{_endplate_anchor(r.vertebra, r.endplate)}"{_endplate_jump(r, levels)}><td>{html.escape(r.vertebra)}</td><td>{r.endplate}</td>'
        f'<td>{html.escape(r.level) or "-"}</td>{_cell(r.modic, r.mixed_type)}<td class="f-{r.finding}">{r.finding}</td>'
        f"<td>{r.type1_fraction:.3f}</td><td>{r.type2_fraction:.3f}</td><td>{r.type3_fraction:.3f}</td>"
        f"<td>{r.lesion_mm3:.0f}</td><td>{r.probability:.2f}</td>{_measure_cells(r)}</tr>"
        for r in endplates
    )
    unit = "mm²" if t1.shape[0] == 1 else "mm³"
    viewer = viewer_section(
        viewer_data(
            study_id=study_id or path.parent.name,
            t1=t1,
            t2=t2,
            modic=modic,
            vertebrae=vertebrae,
            levels=levels,
            spacing_zyx=spacing_zyx,
        )
    )
    warnings = (
        "".join(f"<li>{html.escape(w)}</li>" for w in summary.get("warnings", []))
        or "<li>none</li>"
    )
    figures = "".join(
        f'<figure><img alt="Modic map slice {k + 1}" src="{src}"></figure>' for k, src in maps
    )
    patches_section = (
        "<h2>What the level network read</h2>"
        '<p class="note">Each level\'s middle patch: the disc between the two bodies, turned so '
        "that the line joining the bodies' centres is vertical (upper body at the top, front at the "
        "left), T1 above T2, signal relative to the bodies' "
        "marrow; above each, the network's probability of a Modic change at the level (one "
        "input of the level confidence).</p>"
        f'<figure><img alt="level patches" src="{_level_patches(level_patches, evidence)}">'
        "</figure>"
        if level_patches
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>modicmap report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }}
table {{ border-collapse: collapse; font-size: 0.9em; }} .wide {{ overflow-x: auto; }} td, th {{ border: 1px solid #bbb; padding: 3px 8px; }}
th {{ background: #eee; }} .m1 {{ background: #f6b3b3; }} .m2 {{ background: #fbe7a1; }} .m3 {{ background: #b6ccf7; }}
.m0 {{ color: #888; }} .near {{ color: #222; background: repeating-linear-gradient(45deg, #fff, #fff 4px, #fbe7a1 4px, #fbe7a1 6px); }} figure {{ margin: 0.5em 0; }} img {{ max-width: 100%; }}
.note {{ font-size: 0.85em; color: #555; }} .warn {{ background: #fff3cd; border: 1px solid #e0b252; padding: 0.5em 2em; }}
tr[data-level] {{ cursor: pointer; }}
.legend span {{ margin-right: 1.2em; font-size: 0.85em; }} .legend i {{ display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -0.1em; }}
{viewer_css()}
</style></head><body>
<h1>Modic change map</h1>
<p class="note">modicmap {html.escape(str(summary["software"]["modicmap"]))}, model {html.escape(str(summary["model"]["id"]))}.
Research software: every finding must be checked on the images by a radiologist.</p>
<h2>Warnings</h2><ul class="{"warn" if summary.get("warnings") else "note"}">{warnings}</ul>
<h2>Disc levels</h2>
<div class="wide"><table><tr><th>level</th><th>index from sacrum</th><th>Modic</th><th>carried by</th><th>upper endplate</th><th>lower endplate</th><th>confidence</th><th>marrow</th><th>band T1 z</th><th>band T2 z</th><th>disc T1 / marrow</th><th>disc T2 / marrow</th><th>level network</th><th>Pfirrmann (estimated)</th><th>type if Modic: P(1 / 2 / 3)</th></tr>{level_rows}</table></div>
{_findings_note(summary)}
{viewer}
<h2>Modic maps</h2>
<p class="note">Static figures for printing (cropped to the lumbar region as the viewer is). Colours: red type 1, yellow type 2, blue type 3; green outlines: vertebral bodies with their names.</p>
{figures}
{legend_html()}
{patches_section}
<h2>Endplates</h2>
<p class="note">finding: <b>graded</b> = a Modic finding of its level; <b>sub-threshold</b> = lesion voxels on the map too weak to make a finding; the measures readers report (ISSLS): the lesion's height from the endplate as a share of the body's height, its Nordic extent grade (1 &lt; 25 %, 2 25-50 %, 3 &gt; 50 %), its share of the body's volume, and a second type covering at least a quarter of it.</p>
<div class="wide"><table><tr><th>vertebra</th><th>endplate</th><th>level</th><th>Modic</th><th>finding</th><th>type 1 share</th><th>type 2 share</th><th>type 3 share</th><th>lesion {unit}</th><th>confidence</th><th>height</th><th>extent grade</th><th>volume</th><th>mixed</th></tr>{endplate_rows}</table></div>
<h2>Lesion voxels in (T1 z, T2 z)</h2>
<figure class="scatter">{_scatter(zmaps, modic, centroids)}</figure>
<h2>Registration check</h2>
<p class="note">{html.escape(_registration_text(summary.get("registration", {})))}</p>
<figure><img alt="registration" src="{_registration(t1, t2, aspect)}"></figure>
<h2>How to read this report</h2>
<p class="note">Each voxel inside a vertebral body whose lesion probability passes the model's threshold is typed by the
nearest centroid of (T1 z-score, T2 z-score) within the bodies: type 1 T1 dark / T2 bright, type 2 T1 bright, type 3 dark on
both. {rule_text} {level_text} Confidence is the mean of the highest lesion
probabilities over 20 mm&sup2; of the endplate region (8 mm deep); a level's marrow evidence is
the larger of its two endplates'. Level names are counted from the sacrum (S1); check them.</p>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def _endplate_jump(row: EndplateGrade, levels: list[LevelGrade]) -> str:
    """Data attributes that let a click on an endplate row jump the viewer to it."""
    for level in levels:
        if row.endplate == "inferior" and level.upper_vertebra == row.vertebra:
            return f' data-level="{html.escape(level.level)}" data-endplate="upper"'
        if row.endplate == "superior" and level.lower_vertebra == row.vertebra:
            return f' data-level="{html.escape(level.level)}" data-endplate="lower"'
    return ""


def _registration_text(registration: dict[str, Any]) -> str:
    """One line on the T2 -> T1 registration for the report."""
    if registration.get("skipped"):
        return "Registration skipped (--no-register): the T2 is taken on the T1's grid as it is."
    angles = ", ".join(f"{a:.1f}" for a in registration.get("rotation_deg", []))
    shift = ", ".join(f"{v:.1f}" for v in registration.get("translation_mm", []))
    text = f"Rotation ({angles}) degrees, translation ({shift}) mm"
    if registration.get("dimension") == 2:
        text += f", scale {registration.get('scale', 1.0):.3f}"
    edges = registration.get("edge_correlation")
    if edges is not None:
        text += (
            f"; T1/T2 edge correlation {edges:.2f} (below {MIN_EDGE_CORRELATION} the "
            "registration warns that the T2 may show other anatomy)"
        )
    return text + "."


ONE_STORY_TEXT = (
    "The level's decision is carried by its endplates: by those the voxel rule grades, else by "
    "the one with the stronger marrow evidence ('carried by' links to its row); a carrying "
    "endplate always shows lesion voxels on the map (when none passed the map's threshold, the "
    "voxels behind its confidence are marked, and the notes below say so), and the level's "
    "type is its endplates' type (two different types: the one with more lesion, both named, "
    "e.g. 'type 2 (1/2)'). Lesion voxels at a level called none are 'sub-threshold' in the "
    "endplate table."
)


def _near_cut_band(summary: dict[str, Any]) -> tuple[float | None, float]:
    """(the next lower named cut, the cut in use) of the run's operating point."""
    point = summary.get("operating_point") or {}
    look_from = point.get("look_from")
    cut = float(point.get("threshold", 1.0))
    return (None if look_from is None else float(look_from)), cut


def _findings_note(summary: dict[str, Any]) -> str:
    """Under the level table: the operating point in use and what a reader should know."""
    parts = []
    if summary.get("level_model"):
        text = _operating_point_text(summary)
        look_from, _ = _near_cut_band(summary)
        if look_from is not None:
            text += (
                f" <b>none, near the cut</b>: called none, but the confidence reaches "
                f"{look_from:.2f}, the next lower operating point's cut; these are the levels "
                "to look at next (a missed change shows little on the map)."
            )
        parts.append(f'<p class="note">{text}</p>')
    notes = summary.get("findings_notes") or []
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        parts.append(f'<ul class="note">{items}</ul>')
    return "".join(parts)


def _operating_point_text(summary: dict[str, Any]) -> str:
    point = summary.get("operating_point")
    if not point:
        threshold = float(summary["level_model"]["threshold"])
        return f"A level is called Modic when its confidence reaches {threshold:.2f}."
    text = (
        f"A level is called Modic when its confidence reaches {float(point['threshold']):.2f}, "
        f"the <b>{html.escape(str(point['name']))}</b> operating point"
    )
    if point.get("sensitivity") is not None and point.get("specificity") is not None:
        text += (
            f" (out of fold on {html.escape(str(point.get('source', '')))}: sensitivity "
            f"{float(point['sensitivity']):.2f}, specificity {float(point['specificity']):.2f})"
        )
    return text + "; <code>--operating-point sensitive|specific|CUT</code> moves it."


def _endplate_anchor(vertebra: str, endplate: str) -> str:
    return f"endplate-{html.escape(vertebra)}-{html.escape(endplate)}"


def _carriers_cell(level: LevelGrade) -> str:
    """Links to the endplate rows that carry a Modic level ('-' for a level called none)."""
    rows = {
        "upper": [(level.upper_vertebra, "inferior")],
        "lower": [(level.lower_vertebra, "superior")],
        "both": [(level.upper_vertebra, "inferior"), (level.lower_vertebra, "superior")],
    }.get(level.carried_by, [])
    if not rows:
        return "<td>-</td>"
    links = ", ".join(
        f'<a href="#{_endplate_anchor(v, e)}">{html.escape(v)} {e}</a>' for v, e in rows
    )
    return f"<td>{links}</td>"


def _measure_cells(row: EndplateGrade) -> str:
    if not (row.height_fraction or row.volume_fraction):
        return "<td>-</td><td>0</td><td>-</td><td></td>"
    return (
        f"<td>{100 * row.height_fraction:.0f} %</td><td>{row.extent_grade}</td>"
        f"<td>{100 * row.volume_fraction:.1f} %</td><td>{html.escape(row.mixed_type)}"
        + (f" ({100 * row.second_type_share:.0f} %)" if row.mixed_type else "")
        + "</td>"
    )


def _evidence_cells(item: dict[str, Any] | None) -> str:
    if item is None:
        return "<td></td>" * 8

    def value(key: str, digits: int = 2) -> str:
        v = item.get(key)  # type: ignore[union-attr]
        return "<td>-</td>" if v is None else f"<td>{float(v):.{digits}f}</td>"

    keys = ("marrow_probability", "band_t1_p90", "band_t2_p90", "disc_t1_ratio", "disc_t2_ratio")
    logit = item.get("level_net_logit")
    network = "<td>-</td>" if logit is None else f"<td>{1 / (1 + math.exp(-float(logit))):.2f}</td>"
    posterior = item.get("type_posterior")
    types = (
        "<td>-</td>"
        if posterior is None
        else "<td>" + " / ".join(f"{float(v):.2f}" for v in posterior) + "</td>"
    )
    return "".join(value(k) for k in keys) + network + value("pfirrmann_estimate", 1) + types
