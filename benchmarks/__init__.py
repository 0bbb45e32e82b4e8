"""Speed benchmarks of the correspondence engines (issue #6); run ``python -m benchmarks.run --help``.

Not part of the installed package: the scripts run from a source checkout, on CPU here and on a
GPU machine that has torch but no diffusers (see ``benchmarks/README.md``).
"""
