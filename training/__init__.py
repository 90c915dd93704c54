"""formcoach training applications: data, synthetic generator, labeling, training, evaluation."""
