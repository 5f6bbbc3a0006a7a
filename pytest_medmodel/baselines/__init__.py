"""Baselines: the committed record of a model's answers.

:mod:`.format` (the file's content), :mod:`.folder` (where files may live),
:mod:`.update` (how ``--snapshot-update`` writes them, through a journal),
:mod:`.diff` (two versions compared), :mod:`.orphans` (files no suite owns) and
:mod:`.snapshot` (the format as a syrupy extension).
"""
