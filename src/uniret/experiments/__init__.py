"""The paper's experiment matrix as data: experiment files, the cached cell runner, reports."""
