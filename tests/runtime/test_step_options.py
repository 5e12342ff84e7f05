"""Step options: parsing, what each switch does to the model/optimizer, and the loss against fp32."""

from __future__ import annotations

import copy

import pytest
import torch

from mocobench.bench.step import loss_check, measure, synthetic_pairs, trainable
from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError
from mocobench.run.config import resolve
from mocobench.runtime.step_options import StepOptions

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_defaults_are_on_for_gpu_and_off_for_cpu() -> None:
    assert StepOptions.defaults(CUDA) == StepOptions(True, True, True, True)
    assert StepOptions.defaults(CPU) == StepOptions()
    assert StepOptions.parse(None, CUDA) == StepOptions.parse("auto", CUDA) == StepOptions.defaults(CUDA)
    assert StepOptions.parse("fp32", CUDA) == StepOptions()


def test_parse_lists_and_removals() -> None:
    assert StepOptions.parse("bf16,channels_last", CPU) == StepOptions(channels_last=True, bf16=True)
    assert StepOptions.parse("auto,-compile", CUDA) == StepOptions(True, True, True, False)
    assert StepOptions.parse("auto,bf16", CPU) == StepOptions(bf16=True)
    assert StepOptions(bf16=True, fused=True).describe() == "bf16,fused"
    assert StepOptions().describe() == "fp32"
    with pytest.raises(UsageError, match="unknown step option 'fp16'"):
        StepOptions.parse("fp16", CPU)


def tiny_config(**over: object) -> RunConfig:
    config = resolve("mlp+aug+cos", "smoke", ["image_size=16", "moco_k=64", "batch_size=8", "bn_group=4"])
    return config.replace(**over)


def test_switches_reach_the_model_and_optimizer() -> None:
    opts = StepOptions(channels_last=True, fused=True)
    built = trainable(tiny_config(), CPU, opts)
    model, optimizer = built.model, built.optimizer
    conv = model.encoder_q.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert optimizer.defaults["fused"] is True
    plain = trainable(tiny_config(), CPU, StepOptions()).optimizer
    assert not plain.defaults["fused"]


def test_bf16_loss_is_within_tolerance_of_fp32() -> None:
    config = tiny_config()
    check = loss_check(config, 8, CPU, StepOptions(bf16=True, channels_last=True))
    assert 0 < check["rel_diff"] < check["rtol"]  # bf16 did run (the loss moved), within tolerance
    assert check["loss_fp32"] > 0
    same = loss_check(config, 8, CPU, StepOptions(channels_last=True))
    assert same["rel_diff"] < 1e-4  # a memory format changes nothing but rounding order


def test_measure_reports_throughput_memory_and_losses() -> None:
    opts = StepOptions()
    built = trainable(tiny_config(), CPU, opts)
    fig = measure(built, synthetic_pairs(8, 16, CPU, opts), 8, 2, 1, opts, CPU)
    assert fig.pairs_per_s > 0 and fig.seconds_per_step > 0
    assert fig.steps == 2 and fig.memory_kind == "peak RSS (CPU process)" and fig.peak_bytes > 2**20
    with pytest.raises(UsageError):
        measure(built, synthetic_pairs(8, 16, CPU, opts), 8, 0, 1, opts, CPU)


@pytest.mark.parametrize("recipe", ["mlp+aug+cos", "end-to-end-b256"])
def test_logits_and_loss_are_fp32_under_bf16_and_the_step_agrees_with_fp32(recipe: str) -> None:
    """MoCo / NT-Xent logits stay fp32 under bf16 autocast (losses.py). The bf16 step's loss is within 1%
    of the fp32 step's on the same weights and inputs, and its projection-head gradient points the same
    way (cosine > 0.9; the encoder's own bf16 rounding is what remains)."""
    config = resolve(recipe, "smoke", ["image_size=32", "moco_k=64", "batch_size=16"])
    fp32, bf16 = StepOptions(), StepOptions(bf16=True)
    built = trainable(config, CPU, fp32)
    model = built.model
    im_q, im_k = next(synthetic_pairs(16, 32, CPU, fp32))
    grads, losses = [], []
    for opts in (fp32, bf16):
        trained = copy.deepcopy(model)
        torch.manual_seed(1)  # the same shuffle-BN permutation
        loss, logits, _ = built.forward(trained, (im_q, im_k), opts)
        assert logits.dtype == torch.float32 and loss.dtype == torch.float32
        loss.backward()
        encoder = trained.encoder_q if hasattr(trained, "encoder_q") else trained.encoder
        grads.append(torch.cat([p.grad.flatten() for p in encoder.fc.parameters()]))
        losses.append(loss.item())
    assert abs(losses[1] - losses[0]) / losses[0] < 0.01
    assert torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0) > 0.9
