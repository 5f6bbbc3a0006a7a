"""Repository-level pytest configuration.

`pytest suites` runs the shipped suites against the model named by the `medmodel`
ini key in pyproject.toml (the demo model). A project that builds its model in
Python instead defines a session-scoped `medmodel` fixture in a conftest.py like
this one, returning an adapter or a model spec string, for example::

    @pytest.fixture(scope="session")
    def medmodel():
        return MyEndpointAdapter(url=os.environ["TRIAGE_URL"])

This repository keeps the ini route, so there is no such fixture here.
"""

# The project's own tests drive the plugin through pytester; pytest only accepts
# `pytest_plugins` in the top-level conftest.
pytest_plugins = ["pytester"]
