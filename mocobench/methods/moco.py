"""MoCo v1 / v2 (He et al., 2020; Chen et al., 2020): a momentum key encoder and a queue of K keys.

The model is `models/moco.py::MoCo`, the official builder's twin (facebookresearch/moco@7397dfe
moco/builder.py): the InfoNCE logits are `losses.py::infonce_logits` (MoCo eq. 1), the queue update
`MoCo._dequeue_and_enqueue`, the momentum update `MoCo._momentum_update_key_encoder` (eq. 2). v2 differs by
settings only: `mlp = true`, aug+ views, cosine lr, T 0.2 (the recipes).
"""

from __future__ import annotations

from torch import nn

from mocobench.config.scales import fit_moco_k
from mocobench.errors import UsageError
from mocobench.methods import shuffle_bn
from mocobench.methods.base import Changes, Method, RunConfig
from mocobench.models.encoders import encoder_builder
from mocobench.models.moco import MoCo as MoCoModel


class MoCo(Method):
    name = "moco"
    views = ("moco_v1", "aug_plus", "cifar_demo")
    grad_views = 1  # the key encoder runs under no_grad (moco/builder.py L142-152@7397dfe)

    def validate(self, config: RunConfig) -> None:
        super().validate(config)
        shuffle_bn.validate(config, self.name)

    def fit(self, config: RunConfig, n_train: int) -> Changes:
        """K as a tier sets it: a fraction of the training images (`config/scales.py::fit_moco_k`)."""
        return {"moco_k": fit_moco_k(config, n_train)}

    def numbers(self, config: RunConfig, n_train: int) -> dict[str, float]:
        k, m, batch = fit_moco_k(config, n_train), float(config.method.moco_m), int(config.optim.batch_size)
        tau = 1 / (1 - m) if m < 1 else float("inf")
        return {
            "moco_k": k,
            "k_over_n": k / max(n_train, 1),  # ImageNet: 65,536 / 1.28M = 0.051
            "key_encoder_steps": tau,  # 1 / (1 - m): the momentum encoder's time constant
            "key_encoder_epochs": tau / max(n_train // batch, 1),
            **shuffle_bn.numbers(config),
        }

    def facts(self, config: RunConfig, n_train: int) -> list[tuple[str, str]]:
        n = self.numbers(config, n_train)
        return [
            ("K / N", f"{n['moco_k']:,} / {n_train:,} = {100 * n['k_over_n']:.1f}% (ImageNet: 5.1%)"),
            (
                "key encoder 1/(1-m)",
                f"{n['key_encoder_steps']:,.0f} steps = {n['key_encoder_epochs']:.2f} epoch",
            ),
            shuffle_bn.fact(config),
        ]

    def build_model(self, config: RunConfig, num_classes: int, world_size: int) -> nn.Module:
        splits = shuffle_bn.splits_per_process(config, world_size)
        builder = encoder_builder(config.method.arch, splits, config.method.stem)
        m = config.method  # the official MoCo flags: --moco-dim, --moco-k, --moco-m, --moco-t, --mlp
        model = MoCoModel(builder, m.moco_dim, m.moco_k, m.moco_m, m.moco_t, m.mlp)
        try:
            model.check_batch_size(config.optim.batch_size)
        except ValueError as e:
            raise UsageError(str(e)) from e
        return model
