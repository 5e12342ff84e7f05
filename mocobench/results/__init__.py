"""Where runs and results live (layout), how repeated trials are kept (trials), reading them back (store)."""
