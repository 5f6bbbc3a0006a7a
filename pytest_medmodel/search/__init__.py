"""The search for the smallest change that flips a right answer (``--medmodel-search``)."""
