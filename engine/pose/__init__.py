"""Pose back-ends: BlazePose (default) and the project's DeepHAR network."""
