"""MoCo's end-to-end mechanism (MoCo paper sec. 3.3 and 4.1, Fig. 2a; Table 3 of MoCo v2).

MoCo's InfoNCE with the current batch's N keys (gathered over processes) as the dictionary, the positive
being each query's own key (`losses.py::end_to_end_logits`); the keys come from the same encoder, with
gradient, under MoCo's shuffle BN (`models/end_to_end.py::EndToEnd`). No queue, no momentum encoder.
"""

from __future__ import annotations

from torch import nn

from mocobench.methods import shuffle_bn
from mocobench.methods.base import Method, RunConfig
from mocobench.models.encoders import encoder_builder
from mocobench.models.end_to_end import EndToEnd as EndToEndModel


class EndToEnd(Method):
    name = "end-to-end"
    views = ("moco_v1", "aug_plus", "cifar_demo")

    def validate(self, config: RunConfig) -> None:
        super().validate(config)
        shuffle_bn.validate(config, self.name)

    def numbers(self, config: RunConfig, n_train: int) -> dict[str, float]:
        return {"dictionary_keys": int(config.optim.batch_size), **shuffle_bn.numbers(config)}

    def facts(self, config: RunConfig, n_train: int) -> list[tuple[str, str]]:
        batch = int(config.optim.batch_size)
        return [
            ("dictionary", f"the batch's {batch:,} keys ({batch - 1:,} negatives a query)"),
            shuffle_bn.fact(config),
        ]

    def build_model(self, config: RunConfig, num_classes: int, world_size: int) -> nn.Module:
        splits = shuffle_bn.splits_per_process(config, world_size)
        builder = encoder_builder(config.method.arch, splits, config.method.stem)
        return EndToEndModel(builder, config.method.moco_dim, config.method.moco_t, config.method.mlp)
