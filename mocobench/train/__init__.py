"""Pre-training: the loop, the step, the recipe's model and optimizer (SGD, LARS), and the launchers."""
