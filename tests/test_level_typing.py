"""A graded level's type from its lesion signal and a type prior: constructed signals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modicmap.cli.main import main
from modicmap.grading.endplates import Endplate
from modicmap.grading.level_model import (
    WITHOUT_NETWORK,
    LevelEvidence,
    LevelModel,
    apply_level_model,
    fit_level_model,
    level_evidence,
)
from modicmap.grading.level_typing import (
    SAMPLE_AREA_MM2,
    effective_samples,
    lesion_signals,
    type_posterior,
    type_prior,
)
from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.grading.typing import PAPER_CENTROIDS, Centroids
from modicmap.labels import vertebra_code
from modicmap.models.bundle import load_bundle, save_bundle

L4, L5, S1 = vertebra_code("L4"), vertebra_code("L5"), vertebra_code("S1")
UNIFORM = (1 / 3, 1 / 3, 1 / 3)
#: SPIDER dev's shipped prior: 3, 309 and 5 Modic levels of types 1, 2, 3, add-one smoothed
SPIDER_LIKE: tuple[float, float, float] = type_prior([1] * 3 + [2] * 309 + [3] * 5 + [0] * 417)


def test_the_prior_counts_modic_grades_only_and_rules_no_type_out() -> None:
    assert type_prior([1] * 3 + [2] * 309 + [3] * 5 + [0] * 417) == pytest.approx(
        (4 / 320, 310 / 320, 6 / 320)
    )
    assert type_prior([0, 0, 0]) == pytest.approx(UNIFORM), "no Modic level: uniform"
    assert type_prior([2, 2]) == pytest.approx((0.2, 0.6, 0.2))


@pytest.mark.parametrize("kind", [1, 2, 3])
def test_with_a_uniform_prior_a_signal_at_a_centroid_takes_that_type(kind: int) -> None:
    post = type_posterior(PAPER_CENTROIDS.means[kind - 1], PAPER_CENTROIDS, UNIFORM)
    assert int(np.argmax(post)) + 1 == kind
    assert post.sum() == pytest.approx(1.0)


def test_the_posterior_is_bayes_rule_with_independent_normals() -> None:
    centroids = Centroids(((0.0, 0.0), (2.0, 0.0), (0.0, 2.0)), ((1.0, 1.0),) * 3, "test")
    post = type_posterior((1.0, 0.0), centroids, (0.25, 0.5, 0.25))
    # types 1 and 2 are equally far (1 sd on T1); type 3 is sqrt(5) sd away
    like = np.exp(-0.5 * np.array([1.0, 1.0, 5.0])) * np.array([0.25, 0.5, 0.25])
    assert post == pytest.approx(like / like.sum())


def test_a_dominant_prior_keeps_its_type_unless_the_signal_is_far_out() -> None:
    type1 = PAPER_CENTROIDS.means[0]
    assert int(np.argmax(type_posterior(type1, PAPER_CENTROIDS, SPIDER_LIKE))) + 1 == 2
    # T1 dark and T2 very bright: far on type 1's side of type 2
    assert int(np.argmax(type_posterior((-1.5, 4.0), PAPER_CENTROIDS, SPIDER_LIKE))) + 1 == 1
    # dark on both, far out: type 3
    assert int(np.argmax(type_posterior((-1.0, -3.0), PAPER_CENTROIDS, SPIDER_LIKE))) + 1 == 3
    assert type_posterior(None, PAPER_CENTROIDS, SPIDER_LIKE) == pytest.approx(SPIDER_LIKE)


def test_a_large_lesion_on_a_centroid_takes_its_type_against_the_prior_a_small_one_does_not() -> (
    None
):
    """The mean of many independent voxels is sure of its place; a few voxels are not."""
    assert effective_samples(None) == effective_samples(1.0) == 1.0
    assert effective_samples(100 * SAMPLE_AREA_MM2) == pytest.approx(100.0)
    for kind in (1, 3):
        centre = PAPER_CENTROIDS.means[kind - 1]
        small = type_posterior(centre, PAPER_CENTROIDS, SPIDER_LIKE, effective_samples(4.0))
        large = type_posterior(centre, PAPER_CENTROIDS, SPIDER_LIKE, effective_samples(200.0))
        assert int(np.argmax(small)) + 1 == 2, kind
        assert int(np.argmax(large)) + 1 == kind
    # halfway between types 1 and 2 the prior decides at any size
    between = tuple(np.mean(PAPER_CENTROIDS.means[:2], axis=0))
    huge = type_posterior(between, PAPER_CENTROIDS, SPIDER_LIKE, 1e6)  # type: ignore[arg-type]
    assert int(np.argmax(huge)) + 1 == 2
    one = type_posterior((0.1, 0.2), PAPER_CENTROIDS, SPIDER_LIKE, 1.0)
    assert one == pytest.approx(type_posterior((0.1, 0.2), PAPER_CENTROIDS, SPIDER_LIKE))


def test_the_lesion_signal_is_the_mean_over_both_endplate_regions_of_a_level() -> None:
    shape = (1, 10, 10)
    t1z = np.zeros(shape)
    t2z = np.zeros(shape)
    modic = np.zeros(shape, np.uint8)
    upper_inferior = np.zeros(shape, bool)
    lower_superior = np.zeros(shape, bool)
    upper_inferior[0, 3, :] = True
    lower_superior[0, 5, :] = True
    modic[0, 3, :2] = 1  # two lesion voxels at T1 z 1, T2 z 2
    t1z[0, 3, :2], t2z[0, 3, :2] = 1.0, 2.0
    modic[0, 5, :2] = 3  # two at T1 z -1, T2 z 0
    t1z[0, 5, :2] = -1.0
    modic[0, 8, :] = 2  # outside both regions: not read
    t1z[0, 8, :] = 9.0
    regions = {(L4, Endplate.INFERIOR): upper_inferior, (L5, Endplate.SUPERIOR): lower_superior}
    signals = lesion_signals(t1z, t2z, modic, regions, [(L4, L5), (L5, S1)])
    assert set(signals) == {(L4, L5)}, "L5-S1 has no region (and no lesion voxel)"
    assert signals[(L4, L5)].t1z == pytest.approx(0.0)
    assert signals[(L4, L5)].t2z == pytest.approx(1.0)
    assert signals[(L4, L5)].voxels == 4


def _endplate(vertebra: str, side: str, modic: int) -> EndplateGrade:
    share = (0.0, 0.0, 0.2) if modic == 3 else (0.0, 0.0, 0.0)
    return EndplateGrade(vertebra, side, modic, *share, lesion_mm3=5.0, probability=0.9)


def test_a_level_model_with_a_prior_types_graded_levels_by_the_posterior() -> None:
    levels = [
        LevelGrade("L4-L5", 2, "L4", "L5", 0, 0, 0, 0.2),
        LevelGrade("L5-S1", 1, "L5", "S1", 3, 3, 0, 0.9),
    ]
    endplates = [
        _endplate("L4", "inferior", 0),
        _endplate("L5", "superior", 0),
        _endplate("L5", "inferior", 3),
        _endplate("S1", "superior", 0),
    ]
    evidence = [
        LevelEvidence("L4-L5", 2, 0.2, None, None, None, None, 0.2),
        # the L5-S1 voxels were typed 3, but their mean lies close to the origin
        LevelEvidence(
            "L5-S1", 1, 0.9, None, None, None, None, 0.9, lesion_t1z=-0.2, lesion_t2z=-0.1
        ),
    ]
    plurality = LevelModel((0.0,) * len(WITHOUT_NETWORK), 10.0, 0.5, (0.0,) * 4)
    with_prior = LevelModel(
        (0.0,) * len(WITHOUT_NETWORK), 10.0, 0.5, (0.0,) * 4, type_prior=SPIDER_LIKE
    )
    graded, updated = apply_level_model(plurality, levels, evidence, endplates)
    assert [g.modic for g in graded] == [2, 3], "without a prior: the voxels' type"
    assert all(u.type_posterior is None for u in updated)
    graded, updated = apply_level_model(with_prior, levels, evidence, endplates)
    assert [g.modic for g in graded] == [2, 2]
    assert [g.lower_endplate_modic for g in graded] == [0, 0]
    assert [g.upper_endplate_modic for g in graded] == [0, 3], "endplate columns stay the voxels'"
    assert updated[0].type_posterior == pytest.approx(SPIDER_LIKE, abs=1e-4), "no signal: prior"
    assert updated[1].type_posterior is not None and updated[1].type_posterior[1] > 0.9
    again = LevelEvidence.from_json(json.loads(json.dumps(updated[1].to_json())))
    assert again == updated[1]
    # a level the model does not grade stays 0 whatever its posterior
    never = LevelModel((0.0,) * len(WITHOUT_NETWORK), -10.0, 0.5, (0.0,) * 4, type_prior=UNIFORM)
    assert [g.modic for g in apply_level_model(never, levels, evidence, endplates)[0]] == [0, 0]


def test_the_prior_is_fitted_from_the_graded_types_and_stored() -> None:
    rng = np.random.default_rng(0)
    types = rng.choice([0, 0, 2, 2, 2, 1, 3], size=120)
    evidence = level_evidence(
        [LevelGrade("L4-L5", 2, "L4", "L5", 0, 0, 0, float(p)) for p in rng.random(120)], {}, {}
    )
    model = fit_level_model(evidence, types > 0, types=types)
    assert model.type_prior == pytest.approx(type_prior(types.tolist()))
    assert LevelModel.from_json(json.loads(json.dumps(model.to_json()))) == model
    assert fit_level_model(evidence, types > 0).type_prior is None
    data = model.to_json()
    data["type_prior"] = [0.5, 0.5, 0.0]
    with pytest.raises(ValueError, match="three positive shares"):
        LevelModel.from_json(data)


def test_a_bundle_naming_an_unknown_endplate_typing_rule_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = load_bundle(None)
    assert base.section("typing")["endplate_type"] == "prior", "the default weighs the prior"
    typing = {**base.section("typing"), "endplate_type": "plurality"}
    bundle = save_bundle(tmp_path / "b", {"typing": typing}, base=base)
    sample = Path(__file__).resolve().parents[1] / "src" / "modicmap" / "samples" / "spider-2"
    out = tmp_path / "out"
    argv = ["run", "--t1", str(sample / "t1.nii.gz"), "--t2", str(sample / "t2.nii.gz")]
    assert main([*argv, "--out", str(out), "--model", str(bundle.folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "endplate_type" in err[0] and "modicmap.json" in err[0]
    assert not out.exists(), "no partial output"
