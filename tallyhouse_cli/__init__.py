"""The ``tallyhouse`` command: the layer people type into.

It sits on top of the others — the core package ``tallyhouse`` (loading, the database,
reconciliation, the receiver, the generator), ``orchestration`` (the Dagster job) and
``dashboards`` — and nothing imports it back: the core imports neither orchestration nor
the dashboards nor this package (tests/test_layers.py).
"""
