"""Background and scheduled work as procrastinate jobs: the tasks (tasks.py), queueing from a
session (queue.py), what is retried (retry.py), the worker (worker.py) and metrics (metrics.py)."""
