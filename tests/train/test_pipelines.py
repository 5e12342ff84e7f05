"""`--pipeline`: the official one fixes loader, colour placement and precision; fast takes the options."""

from __future__ import annotations

import pytest

from mocobench.errors import UsageError
from mocobench.runtime.step_options import StepOptions
from mocobench.train.pipelines import describe, pipeline_record, resolve_pipeline


def test_official_fixes_the_official_codes_choices():
    official = {"pipeline": "official", "loader": "pil", "augment_on": "loader", "step_options": "fp32"}
    assert resolve_pipeline("official") == official
    assert resolve_pipeline("official", loader="pil", step_options="fp32") == official  # saying so is fine
    with pytest.raises(UsageError, match="fixes --step-options fp32, not auto"):
        resolve_pipeline("official", step_options="auto")


def test_fast_takes_the_options_or_auto():
    assert resolve_pipeline("fast") == {
        "pipeline": "fast", "loader": "auto", "augment_on": "auto", "step_options": "auto"
    }  # fmt: skip
    assert resolve_pipeline("fast", loader="ffcv", augment_on="device")["loader"] == "ffcv"


def test_the_record_names_precision_and_compile():
    loader = {"loader": "ffcv", "augment_on": "device", "beton": "/c/x.beton", "stored": "a beton (q90)"}
    record = pipeline_record("fast", loader, StepOptions(True, True, True, True))
    assert record["precision"].startswith("bf16 autocast") and record["compile"] and record["fused_sgd"]
    assert describe(record) == (
        "fast: ffcv loader, colour on the device, a beton (q90), bf16 autocast (logits and loss fp32), "
        "torch.compile, channels_last"
    )
    assert describe({}) == "not recorded"
