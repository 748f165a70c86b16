"""Running a pipeline: the load runner, its lock, recovery after a killed load, and the check."""
