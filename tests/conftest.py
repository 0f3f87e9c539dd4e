"""Shared test configuration: the local COS server fixtures (``local_cos``, ``local_cos_factory``)."""

pytest_plugins = ["cos_multipart.testing.pytest_plugin"]
