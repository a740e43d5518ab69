"""The serving benchmarks' parts (``benchmarks/serve.py`` and ``benchmarks/soak.py`` run them).

In the order a run uses them: ``options`` (the command line both scripts share), ``setup``
(the data dir: data set, tenant, import, training, keys), ``servers`` (``relevo serve``
started, primed and read through ``/metrics``), ``floor`` (the bare Starlette app Relevo is
compared with), ``client`` (the raw HTTP/1.1 keep-alive client), ``closed`` (closed loops,
their rounds and ratios), ``rate`` (the open loop at a fixed rate), ``freshness`` (event to
answer), ``phases`` (each phase on a fresh server, with its cache hits and lost traces),
``report`` (the JSON figures, warnings and the Rich table) and ``cli`` (serve.py's main).
"""
