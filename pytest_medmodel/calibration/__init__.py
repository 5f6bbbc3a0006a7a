"""Calibration: metrics over probability vectors, paired with the baseline by item (see :mod:`.compare`)."""
