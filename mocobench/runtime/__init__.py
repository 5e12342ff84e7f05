"""Helpers every layer may use: distributed, checkpoints, atomic writes, seeds, schedules, progress, env."""
