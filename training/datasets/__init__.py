"""Dataset readers for pose and action training (MPII, Penn Action)."""
