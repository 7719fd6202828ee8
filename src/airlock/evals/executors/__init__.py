"""Where a run's samples run: on this machine (:class:`airlock.evals.runner.LocalExecutor`, the default) or across
a Ray cluster (:mod:`airlock.evals.executors.ray_cluster`), with the channel both ends of a cluster run seal their
messages with (:mod:`airlock.evals.executors.sealing`)."""
