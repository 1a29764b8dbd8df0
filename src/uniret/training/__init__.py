"""Multi-task training: training data and negative mining, task-mixed batches, losses, trainer."""
