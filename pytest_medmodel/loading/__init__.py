"""Loading a suite recipe (YAML) into a :class:`~pytest_medmodel.suite.types.Suite`, checked against the registries."""
