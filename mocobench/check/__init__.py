"""An installation check for a GPU machine: every GPU path of mocobench, time-capped, in one report.

In the spirit of `python -m torch.utils.collect_env`, for any CUDA machine, including a node with no
network. `mocobench check` runs the set-up (the offline wheels, a probe of the device and imports), then
the stages in priority order, each as its own `python -m mocobench ...` subprocess with its own time cap:
a hang or a crash is cut, reported, and the later stages still run. After every stage it rewrites
`gpu_check.json` and `gpu_check.md` in `--report` (atomically), so a run cut from outside still leaves a
valid report up to its last finished stage.

    sizes.py    the stages, their sizes and caps per device    stage.py    a stage's entry, statuses, settle
    options.py  the options, checked once for both front ends  runner.py   budget clock, capped commands
    figures.py  figures through the result store's readers     stages.py   the stages themselves
    setup.py    offline wheels install, probe, tiny data        report.py   json + markdown report
    wheels.py   gathering the offline node's wheels             main.py     the run, signals, exit codes

Stages, in priority order (`--device cpu` runs each as a smoke on tiny data):

1. pretrain-fast       smoke pre-training of MoCo v2 with the GPU defaults (loader, colour on the device,
                       bf16, compile): loss, kNN, the pipeline that ran (config.json)
2. pretrain-official   the same with `--pipeline official` (PIL loader, fp32, no compile); both losses
3. bench-step          paper-scale step, batch 256, for fp32 / channels_last,bf16,fused / + compile:
                       pairs/s synthetic and with the loader, peak memory, the loss check against fp32
4. bench-loader        pil / torch / ffcv pairs/s (ffcv skipped where it does not import)
5. profile             Table 3 (written under `--report`/table3)
6. linear              linear protocol on stage 1's run (top-1)
7. detect-voc          Faster R-CNN smoke on a small generated VOC set (skipped without Detectron2)
8. tier                the one-GPU tier's evidence: MoCo v1 and row (d) at `--scale gpu`, the budget left
                       shared between them, one seed each: kNN per finished epoch against the random-init
                       kNN, seconds an epoch, and each row's full time at the tier estimated from them;
                       reaching the budget is its planned end ("stopped at budget")

Status per stage: passed, failed, timed out, skipped (with the reason: budget, not selected, a missing
dependency), or for tier stopped at budget. `--budget` is the whole run's: the set-up runs first whatever
it is, then each stage gets min(its cap, budget left) and is skipped ("budget") when that is below its
minimum; `--no-caps` lifts every cap and the budget.
"""
