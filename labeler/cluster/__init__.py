"""Propagation and evaluation spread over many GPUs and machines with Ray (``--ray``).

Optional: ``pip install "labeler[cluster]"``. Nothing here is imported unless ``--ray`` is
given (or the GUI's "Run on: Ray cluster" is chosen), and Ray itself only when a run starts.

* :class:`RayExecutor`: the prediction step of :func:`labeler.propagation.propagate` on Ray
  actors (one per GPU); the driver prepares references once and commits every batch.
* :func:`labeler.cluster.evaluation.run_sharded`: ``labeler eval --ray``, benchmark pairs
  sharded over the same workers, the same PCK as one process.
"""

from labeler.cluster.connection import AUTO, LOCAL, ClusterError, ClusterOptions
from labeler.cluster.executor import RayExecutor, WorkerStatus

__all__ = ["AUTO", "LOCAL", "ClusterError", "ClusterOptions", "RayExecutor", "WorkerStatus"]
