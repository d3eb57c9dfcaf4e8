"""alink's benchmark suite: ``python -m benchmarks --help``.

One module per scenario group (``link_throughput``, ``responsiveness``,
``fuse_latency``, ``scaling``, ``plot``); shared machinery in ``_harness``
(settings, scratch trees, repeats, tables, JSON) and ``_linktools`` (the
compared link tools). See ``benchmarks/README.md``.
"""
