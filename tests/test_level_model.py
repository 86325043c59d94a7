"""Disc signal and the level model: constructed images and levels, the calibrate CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from modicmap.cli.main import main
from modicmap.grading.coherence import contradictions
from modicmap.grading.discs import disc_core, disc_region, disc_signals
from modicmap.grading.level_model import (
    FALLBACK_TYPE,
    FEATURES,
    WITHOUT_NETWORK,
    LevelEvidence,
    LevelModel,
    apply_level_model,
    feature_row,
    fit_level_model,
    level_evidence,
)
from modicmap.grading.tables import EndplateGrade, LevelGrade, read_endplates_csv, read_levels_csv
from modicmap.labels import vertebra_code

L4, L5, S1 = vertebra_code("L4"), vertebra_code("L5"), vertebra_code("S1")


def _spine(disc_t2: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One slice: L4, L5 and S1 as 20 x 30-pixel boxes 6 pixels apart, marrow 100 on T1
    and T2, the L4-L5 and L5-S1 disc spaces at ``disc_t2`` on T2 and 50 on T1."""
    labels = np.zeros((1, 90, 60), np.uint8)
    t1 = np.full(labels.shape, 10.0, np.float32)
    t2 = np.full(labels.shape, 10.0, np.float32)
    for code, top in ((L4, 5), (L5, 31), (S1, 57)):
        labels[0, top : top + 20, 15:45] = code
    t1[labels > 0] = t2[labels > 0] = 100.0
    for top, value in ((25, disc_t2[0]), (51, disc_t2[1])):
        t1[0, top : top + 6, 15:45] = 50.0
        t2[0, top : top + 6, 15:45] = value
    return t1, t2, labels


def test_the_disc_region_lies_between_the_bodies_and_its_core_in_its_middle() -> None:
    _, _, labels = _spine((150.0, 40.0))
    disc = disc_region(labels[0] == L4, labels[0] == L5)
    assert disc is not None
    rows, cols = np.nonzero(disc)
    assert rows.min() >= 25 and rows.max() <= 30, "between L4's bottom and L5's top"
    core = disc_core(disc)
    assert core.sum() < disc.sum() and core[disc].any()
    core_cols = np.nonzero(core)[1]
    assert core_cols.min() > cols.min() and core_cols.max() < cols.max(), "the middle half"


def test_no_disc_without_both_bodies() -> None:
    _, _, labels = _spine((150.0, 40.0))
    assert disc_region(labels[0] == L4, np.zeros_like(labels[0], bool)) is None


def test_a_dark_disc_has_a_lower_t2_ratio_than_a_bright_one() -> None:
    t1, t2, labels = _spine((150.0, 40.0))
    signals = disc_signals(t1, t2, labels, (4.0, 1.0, 1.0), [(L4, L5), (L5, S1)])
    assert signals[(L4, L5)].t2_ratio == pytest.approx(1.5)
    assert signals[(L5, S1)].t2_ratio == pytest.approx(0.4)
    assert signals[(L4, L5)].t1_ratio == pytest.approx(0.5)


def test_signals_on_a_stack_read_the_slices_near_the_level_centre() -> None:
    t1, t2, labels = _spine((150.0, 40.0))
    stack = [np.repeat(a, 9, axis=0) for a in (t1, t2, labels)]
    stack[1][0] = 1000.0  # a lateral slice (16 mm off the centre at 4 mm) is not read
    signals = disc_signals(*stack, (4.0, 1.0, 1.0), [(L4, L5)])
    assert signals[(L4, L5)].t2_ratio == pytest.approx(1.5)
    assert signals[(L4, L5)].slices == 3, "slices within 4 mm of the centre"


def _evidence(marrow: float, t2: float | None, index: int) -> LevelEvidence:
    t1 = None if t2 is None else 0.6
    return LevelEvidence("L4-L5", index, marrow, t1, t2, 1.0, 0.5, marrow)


def test_feature_rows_hold_the_logit_the_log_ratios_the_bands_and_the_level() -> None:
    row = feature_row(0.5, 2, disc_t1=0.98, band_t2=1.5)
    assert row.shape == (len(FEATURES),)
    assert row[0] == pytest.approx(0.0) and row[1] == pytest.approx(0.0)
    assert np.isnan(row[2]) and np.isnan(row[3]), "unread signals are NaN"
    assert row[FEATURES.index("band_t2")] == pytest.approx(1.5)
    assert list(row[FEATURES.index("level_1") :]) == [0, 1, 0, 0, 0]
    high = feature_row(0.5, 7, disc_t1=1.0, disc_t2=1.0, band_t1=0.0, band_t2=0.0)
    assert not high[FEATURES.index("level_1") :].any(), "levels above L1-L2 share the baseline"


def test_the_level_model_learns_that_dark_discs_carry_modic() -> None:
    rng = np.random.default_rng(0)
    dark = rng.random(200) < 0.5
    t2 = np.where(dark, rng.uniform(0.2, 0.5, 200), rng.uniform(0.8, 1.6, 200))
    truth = dark & (rng.random(200) < 0.9) | ~dark & (rng.random(200) < 0.1)
    evidence = [_evidence(0.3, float(v), 3) for v in t2]
    model = fit_level_model(evidence, truth)
    assert model.coefficients[FEATURES.index("disc_t2")] < 0, "darker disc, likelier Modic"
    rows = [
        feature_row(0.3, 3, disc_t1=0.6, disc_t2=t2, band_t1=1.0, band_t2=0.5) for t2 in (0.3, 1.2)
    ]
    p = model.probability(np.array(rows))
    assert p[0] > model.threshold > p[1]
    again = LevelModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again == model
    # an unread disc takes the training mean of the feature
    unread = model.probability(feature_row(0.3, 3, disc_t1=0.6, band_t1=1.0, band_t2=0.5)[None])
    assert p[1] < unread[0] < p[0]


def test_a_level_model_with_other_features_is_refused() -> None:
    data = LevelModel((0.0,) * len(WITHOUT_NETWORK), 0.0, 0.5, (0.0,) * 4).to_json()
    data["features"] = ["marrow"]
    with pytest.raises(ValueError, match="one coefficient per feature"):
        LevelModel.from_json(data)
    data["features"] = [*WITHOUT_NETWORK[:-1], "disc_height"]
    with pytest.raises(ValueError, match="not among"):
        LevelModel.from_json(data)


def _endplate(
    vertebra: str, side: str, modic: int, shares: tuple[float, float, float]
) -> EndplateGrade:
    return EndplateGrade(
        vertebra, side, modic, *shares, lesion_mm3=10.0 * sum(shares), probability=0.2
    )


def test_applied_levels_keep_the_endplate_grades_and_take_their_type_from_voxels() -> None:
    levels = [
        LevelGrade("L4-L5", 2, "L4", "L5", 0, 0, 0, 0.2),
        LevelGrade("L5-S1", 1, "L5", "S1", 3, 3, 0, 0.9),
    ]
    endplates = [
        _endplate("L4", "inferior", 0, (0.0, 0.0, 0.0)),
        _endplate("L5", "superior", 0, (0.01, 0.0, 0.0)),
        _endplate("L5", "inferior", 3, (0.0, 0.0, 0.2)),
        _endplate("S1", "superior", 0, (0.0, 0.0, 0.0)),
    ]
    # a model that grades every level (intercept 10) and one that grades none
    always = LevelModel((0.0,) * len(WITHOUT_NETWORK), 10.0, 0.5, (0.0,) * 4)
    never = LevelModel((0.0,) * len(WITHOUT_NETWORK), -10.0, 0.5, (0.0,) * 4)
    evidence = level_evidence(levels, {}, {})
    graded, updated = apply_level_model(always, levels, evidence, endplates)
    assert [g.modic for g in graded] == [1, 3], "type 1: largest voxel share; 3: graded endplate"
    assert [g.upper_endplate_modic for g in graded] == [0, 3]
    assert all(u.probability > 0.99 and u.marrow_probability < 1 for u in updated)
    assert [g.modic for g in apply_level_model(never, levels, evidence, endplates)[0]] == [0, 0]
    bare = [_endplate(e.vertebra, e.endplate, 0, (0.0, 0.0, 0.0)) for e in endplates]
    assert apply_level_model(always, levels[:1], evidence[:1], bare)[0][0].modic == FALLBACK_TYPE


def _runs_with_evidence(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    runs = tmp_path / "runs"
    lines = ["Patient,IVD label,Modic"]
    for patient in range(40):
        folder = runs / str(patient)
        folder.mkdir(parents=True)
        evidence = []
        for index in (1, 2, 3):
            dark = bool(rng.random() < 0.5)
            t2 = float(rng.uniform(0.2, 0.5) if dark else rng.uniform(0.8, 1.6))
            evidence.append(_evidence(float(rng.uniform(0.1, 0.9)), t2, index).to_json())
            lines.append(f"{patient},{index},{2 if dark else 0}")
        (folder / "summary.json").write_text(json.dumps({"levels": evidence}))
    gradings = tmp_path / "g.csv"
    gradings.write_text("\n".join(lines) + "\n")
    return runs, gradings


def _bundle_without_level_network(tmp_path: Path) -> Path:
    from modicmap.grading.level_network import SECTION
    from modicmap.models.bundle import load_bundle, save_bundle

    base = load_bundle(None)
    return save_bundle(tmp_path / "no_network", {}, base=base, drop=(SECTION,)).folder


def test_calibrate_level_model_cli_stores_the_model_and_keeps_the_threshold(
    tmp_path: Path,
) -> None:
    runs, gradings = _runs_with_evidence(tmp_path)
    out = tmp_path / "bundle"
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(gradings), "--level-model"]
    argv += ["--model", str(_bundle_without_level_network(tmp_path))]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "modicmap.json").read_text())
    default = json.loads(
        (Path(__file__).parents[1] / "src/modicmap/models/default/modicmap.json").read_text()
    )
    assert config["grading"] == default["grading"], "the endplate threshold is left alone"
    model = LevelModel.from_json(config["level_model"])
    assert model.coefficients[FEATURES.index("disc_t2")] < 0
    assert "120 levels of 40 patients" in model.source
    assert (out / "roc_levels.png").is_file()
    # every Modic level of these gradings is type 2: the prior is fitted from them
    modic_levels = sum(line.endswith(",2") for line in gradings.read_text().splitlines())
    assert model.type_prior == pytest.approx(
        tuple(np.array([1, modic_levels + 1, 1]) / (modic_levels + 3))
    )
    voxels = tmp_path / "voxel_types"
    assert main([*argv, "--voxel-types", "--out", str(voxels), "--quiet"]) == 0
    config = json.loads((voxels / "modicmap.json").read_text())
    assert LevelModel.from_json(config["level_model"]).type_prior is None


def test_calibrate_level_model_with_a_level_network_fits_its_logit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modicmap.grading.level_network import SECTION, LevelNetSpec, build_level_network
    from modicmap.models.bundle import load_bundle, save_bundle

    spec = LevelNetSpec(widths=(4, 8, 8, 8))
    with_network = save_bundle(
        tmp_path / "with_network",
        {SECTION: spec.to_json()},
        {SECTION: build_level_network(spec).state_dict()},
        base=load_bundle(_bundle_without_level_network(tmp_path)),
    ).folder
    runs, gradings = _runs_with_evidence(tmp_path)
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(gradings), "--level-model"]
    argv += ["--model", str(with_network), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "refused")]) == 2, "runs without its logit"
    assert "level network" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
    rng = np.random.default_rng(3)
    for summary in runs.glob("*/summary.json"):
        data = json.loads(summary.read_text())
        for item in data["levels"]:  # a logit that knows the disc
            item["level_net_logit"] = float(2.0 - 4.0 * item["disc_t2_ratio"] + rng.normal())
        summary.write_text(json.dumps(data))
    assert main([*argv, "--out", str(tmp_path / "fitted")]) == 0
    config = json.loads((tmp_path / "fitted" / "modicmap.json").read_text())
    model = LevelModel.from_json(config["level_model"])
    assert model.uses_network and model.coefficients[model.features.index("level_net")] > 0


def test_calibrate_level_model_needs_gradings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, _ = _runs_with_evidence(tmp_path)
    argv = ["calibrate", "--runs", str(runs), "--truth", str(tmp_path), "--level-model"]
    assert main([*argv, "--out", str(tmp_path / "b"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--gradings" in err[0]
    assert not (tmp_path / "b").exists()


def test_runs_without_level_evidence_are_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, gradings = _runs_with_evidence(tmp_path)
    for summary in runs.glob("*/summary.json"):
        summary.write_text("{}")
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(gradings), "--level-model"]
    assert main([*argv, "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "level evidence" in capsys.readouterr().err


def test_run_writes_the_level_evidence_and_grades_levels_with_the_bundles_model(
    tmp_path: Path,
) -> None:
    from modicmap.models.bundle import load_bundle, save_bundle
    from modicmap.synth.cohort import write_study
    from modicmap.synth.study import SynthOptions, synthesize_study

    study = synthesize_study(11, SynthOptions(slices=5, matrix=160, lesion_rate=0.0))
    t1, t2 = write_study(study, tmp_path / "s")
    always = LevelModel((0.0,) * len(WITHOUT_NETWORK), 10.0, 0.5, (0.0,) * 4, source="test")
    base = load_bundle(None)
    assert base.has("level_model"), "the default bundle grades levels with its level model"
    bundles = {
        "plain": save_bundle(tmp_path / "plain_b", {}, base=base, drop=("level_model",)),
        "level_model": save_bundle(tmp_path / "b", {"level_model": always.to_json()}, base=base),
    }
    outputs = {}
    for name, bundle in bundles.items():
        out = tmp_path / name
        argv = ["run", "--t1", str(t1), "--t2", str(t2), "--out", str(out)]
        argv += ["--model", str(bundle.folder), "--quiet"]
        assert main(argv) == 0
        summary = json.loads((out / "summary.json").read_text())
        outputs[name] = (read_levels_csv(out / "levels.csv"), summary)
    plain, plain_summary = outputs["plain"]
    assert not plain_summary["registration"]["warnings"]
    graded, summary = outputs["level_model"]
    assert plain_summary["level_model"] is None and summary["level_model"]["source"] == "test"
    evidence = [LevelEvidence.from_json(e) for e in plain_summary["levels"]]
    assert [e.level for e in evidence] == [r.level for r in plain]
    assert [e.marrow_probability for e in evidence] == pytest.approx(
        [r.probability for r in plain], abs=1e-6
    )
    assert all(e.disc_t2_ratio is not None and e.disc_t2_ratio > 0 for e in evidence), "discs read"
    assert all(e.band_t2_p90 is not None for e in evidence), "bands read"
    assert all(r.modic > 0 and r.probability > 0.99 for r in graded), "the model grades every level"
    # a lesion-free study graded Modic everywhere by the model: each level's finding is
    # attributed to an endplate, which shows the voxels behind it (one story per level)
    endplates = read_endplates_csv(tmp_path / "level_model" / "endplates.csv")
    assert contradictions(graded, endplates) == []
    assert all(r.carried_by in ("upper", "lower", "both") for r in graded)
    report = (tmp_path / "level_model" / "report.html").read_text()
    assert "band T2 z" in report and "disc T2 / marrow" in report


def test_a_bundle_with_a_broken_level_model_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modicmap.models.bundle import load_bundle, save_bundle
    from modicmap.synth.cohort import write_study
    from modicmap.synth.study import SynthOptions, synthesize_study

    study = synthesize_study(15, SynthOptions(slices=1, matrix=96, lesion_rate=0.0))
    t1, t2 = write_study(study, tmp_path / "s")
    broken = {"features": ["marrow"], "coefficients": [1.0]}
    bundle = save_bundle(tmp_path / "b", {"level_model": broken}, base=load_bundle(None))
    out = tmp_path / "out"
    argv = ["run", "--t1", str(t1), "--t2", str(t2), "--out", str(out)]
    assert main([*argv, "--model", str(bundle.folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "modicmap.json" in err[0] and "level_model" in err[0]
    assert not out.exists()


def test_strong_marrow_evidence_is_not_overruled_by_a_healthy_disc() -> None:
    coefficients = (0.5, 0.0, -3.0) + (0.0,) * 7  # a bright disc pulls the level down
    model = LevelModel(coefficients, 0.0, 0.5, (0.0,) * 4, marrow_override=0.8)
    signals = {"disc_t1": 1.0, "disc_t2": 2.0, "band_t1": 0.0, "band_t2": 0.0}
    bright_disc = [feature_row(p, 3, **signals) for p in (0.6, 0.95)]
    assert (model.probability(np.array(bright_disc), override=False) < 0.5).all()
    lifted = model.probability(np.array(bright_disc))
    assert lifted[0] < 0.5, "marrow 0.6 is under the override"
    assert lifted[1] == pytest.approx(0.95), "marrow 0.95 decides on its own"


def test_the_override_is_the_marrow_evidence_that_few_normal_levels_reach() -> None:
    rng = np.random.default_rng(2)
    marrow = rng.uniform(0.0, 1.0, 400)
    truth = rng.random(400) < 0.4
    model = fit_level_model([_evidence(float(p), 0.8, 2) for p in marrow], truth)
    share_above = float((marrow[~truth] >= model.marrow_override).mean())
    assert share_above == pytest.approx(0.05, abs=0.01)


def test_band_signals_take_the_brighter_endplate_band_near_the_centre() -> None:
    from modicmap.grading.bands import band_signals

    _, _, labels = _spine((150.0, 40.0))
    stack = np.repeat(labels, 7, axis=0)
    t1z = np.zeros(stack.shape, np.float32)
    t2z = np.zeros(stack.shape, np.float32)
    t2z[:, 46:51, 15:45] = 2.0  # the bottom 5 rows of L5: its inferior endplate band
    t2z[0] = 9.0  # a lateral slice (12 mm off the centre at 4 mm) is not read
    bands = band_signals(t1z, t2z, stack, (4.0, 1.0, 1.0), [(L4, L5), (L5, S1)])
    assert bands[(L5, S1)].t2_p90 == pytest.approx(2.0), "L5's inferior band faces L5-S1"
    assert bands[(L4, L5)].t2_p90 == pytest.approx(0.0), "L5's superior band is dark"
    assert bands[(L4, L5)].t1_p90 == pytest.approx(0.0)


def test_the_report_links_a_level_to_the_endplates_that_carry_it() -> None:
    from modicmap.report.html import _carriers_cell

    lower = LevelGrade("L4-L5", 2, "L4", "L5", 2, 0, 2, 0.6, carried_by="lower")
    assert _carriers_cell(lower) == '<td><a href="#endplate-L5-superior">L5 superior</a></td>'
    both = LevelGrade("L4-L5", 2, "L4", "L5", 2, 2, 1, 0.6, carried_by="both", mixed_type="1/2")
    assert _carriers_cell(both).count("<a href=") == 2
    assert _carriers_cell(LevelGrade("L4-L5", 2, "L4", "L5", 0, 0, 0, 0.1)) == "<td>-</td>"


def test_a_registration_that_warned_leaves_the_t2_signals_unread() -> None:
    from modicmap.grading.level_model import without_t2

    evidence = [_evidence(0.4, 0.5, 2)]
    (unread,) = without_t2(evidence)
    assert unread.disc_t2_ratio is None and unread.band_t2_p90 is None
    assert unread.disc_t1_ratio == evidence[0].disc_t1_ratio
    assert unread.band_t1_p90 == evidence[0].band_t1_p90


def test_run_does_not_read_t2_signals_when_the_registration_warned(tmp_path: Path) -> None:
    from modicmap.synth.cohort import write_study
    from modicmap.synth.study import SynthOptions, synthesize_study

    # a T2 that shows only the top third of the T1's field (another part of the spine):
    # the registered T2 covers little of the T1 and the registration warns
    study = synthesize_study(14, SynthOptions(slices=3, matrix=160, lesion_rate=0.0))
    t1, t2 = write_study(study, tmp_path / "s")
    image = sitk.ReadImage(str(t2))
    array = sitk.GetArrayFromImage(image)
    array[:, array.shape[1] // 3 :] = 0
    top = sitk.GetImageFromArray(array)
    top.CopyInformation(image)
    sitk.WriteImage(top, str(t2))
    out = tmp_path / "out"
    assert main(["run", "--t1", str(t1), "--t2", str(t2), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["registration"]["warnings"]
    evidence = [LevelEvidence.from_json(e) for e in summary["levels"]]
    assert evidence and all(e.disc_t2_ratio is None and e.band_t2_p90 is None for e in evidence)
    assert any(e.disc_t1_ratio is not None for e in evidence), "T1 signals are still read"
