"""recipes/detection.yaml against the official MoCo detection config (PAPER.md), and the scale rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from mocobench.config.detection import SCALED, paper_values, scaled_protocol
from mocobench.detection.cfg import build_cfg, paper_cfg
from mocobench.errors import UsageError


def test_paper_md_states_the_values_pinned_here(paper_md: str):
    text = paper_md
    for fact in (
        "24k iterations, 16 images/batch, base lr 0.02, steps (18k, 22k), warm-up 100 iterations",
        "(480, 512, ..., 800 in steps of 32), test min size 800",
        'RESNETS.NORM "naiveSyncBN"',
        'ROI_HEADS.NAME "Res5ROIHeadsExtraNorm"',
        "PRE/POST_NMS_TOPK_TEST 6000/1000",
        "PIXEL_MEAN [123.675, 116.280, 103.530], PIXEL_STD [58.395, 57.120,\n57.375], STRIDE_IN_1X1 False, "
        'INPUT.FORMAT "RGB"',
    ):
        assert fact in text


def test_paper_config_is_the_official_moco_voc_config():
    cfg = paper_cfg()
    assert cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN" and not cfg.MODEL.MASK_ON
    assert cfg.MODEL.RESNETS.DEPTH == 50 and cfg.MODEL.RESNETS.OUT_FEATURES == ["res4"]
    assert cfg.MODEL.RESNETS.NORM == "naiveSyncBN"
    assert cfg.MODEL.RESNETS.STRIDE_IN_1X1 is False
    assert cfg.MODEL.BACKBONE.FREEZE_AT == 0
    assert cfg.MODEL.ROI_HEADS.NAME == "Res5ROIHeadsExtraNorm"
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 20
    assert (cfg.MODEL.RPN.PRE_NMS_TOPK_TEST, cfg.MODEL.RPN.POST_NMS_TOPK_TEST) == (6000, 1000)
    assert cfg.MODEL.PIXEL_MEAN == [123.675, 116.280, 103.530]
    assert cfg.MODEL.PIXEL_STD == [58.395, 57.120, 57.375]
    assert cfg.INPUT.FORMAT == "RGB"
    assert tuple(cfg.INPUT.MIN_SIZE_TRAIN) == tuple(range(480, 801, 32))
    assert cfg.INPUT.MIN_SIZE_TEST == 800
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_ITER) == (16, 0.02, 24000)
    assert tuple(cfg.SOLVER.STEPS) == (18000, 22000) and cfg.SOLVER.WARMUP_ITERS == 100
    assert cfg.TEST.PRECISE_BN.ENABLED
    assert tuple(cfg.DATASETS.TRAIN) == ("voc_2007_trainval", "voc_2012_trainval")
    assert tuple(cfg.DATASETS.TEST) == ("voc_2007_test",)


def test_paper_scale_changes_nothing():
    assert scaled_protocol("paper") == {**paper_values(), "max_train_images": 0, "max_test_images": 0}


def test_mini_scale_shrinks_iterations_batch_and_sizes_in_proportion():
    p = scaled_protocol("cpu")
    assert p["max_iter"] == 150 and p["steps"] == [112, 138]  # 18k/22k of 24k
    assert p["ims_per_batch"] == 2 and p["base_lr"] == pytest.approx(0.02 * 2 / 16)
    assert p["min_size_train"][0] == round(480 * 0.08) and p["min_size_train"][-1] == 64
    assert p["min_size_test"] == 64 and p["warmup_iters"] == 1


def _flat(cfg, prefix=""):  # type: ignore[no-untyped-def]
    out = {}
    for key, value in cfg.items():
        if hasattr(value, "items"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("scale", ["cpu", "smoke"])
def test_a_scale_changes_only_the_scaled_keys(scale: str, tmp_path: Path):
    """The model, norm, head, input format and normalisation are the paper's at every scale."""
    args = ("resnet50", "", ("a",), "b", 20, tmp_path, 0, "cpu")
    paper, scaled = _flat(build_cfg("paper", *args)), _flat(build_cfg(scale, *args))
    changed = {k for k in paper if paper[k] != scaled[k]}
    allowed = {".".join(where) for where in SCALED.values()}
    assert changed and changed <= allowed


def test_backbone_depth_follows_the_pretrained_arch(tmp_path: Path):
    cfg = build_cfg("smoke", "resnet18", "", ("a",), "b", 3, tmp_path, 1, "cpu")
    assert cfg.MODEL.RESNETS.DEPTH == 18 and cfg.MODEL.RESNETS.RES2_OUT_CHANNELS == 64
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 3 and cfg.SEED == 1
    with pytest.raises(UsageError, match="resnet9"):
        build_cfg("smoke", "resnet9", "", ("a",), "b", 3, tmp_path, 1, "cpu")


def test_batch_must_split_over_processes(tmp_path: Path):
    with pytest.raises(UsageError, match="do not split over 3 processes"):
        build_cfg("smoke", "resnet18", "", ("a",), "b", 3, tmp_path, 0, "cpu", world_size=3)


def test_unknown_detection_rule_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from mocobench.config.files import recipes_dir

    folder = tmp_path / "recipes"
    folder.mkdir()
    for path in recipes_dir().iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    text = (folder / "scales.toml").read_text().replace("[smoke.detection]\n", "[smoke.detection]\nroi = 3\n")
    (folder / "scales.toml").write_text(text)
    monkeypatch.setenv("MOCOBENCH_RECIPES", str(folder))
    with pytest.raises(UsageError, match="unknown rule"):
        scaled_protocol("smoke")
