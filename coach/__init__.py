"""formcoach application: sources, real-time loop, window, recorder, timeline and reports."""
