"""A real local Ray instance (2 CPUs, loopback only) for the whole session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_address():
    """The address of a Ray instance started here; other processes join it with --ray ADDRESS."""
    from labeler.cluster.connection import _local_env, disconnect, import_ray, private_token_env

    ray = import_ray(loopback=True)
    _local_env.update(private_token_env())  # as --ray local: a token of its own, nothing in ~/.ray
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        object_store_memory=256 * 2**20,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        disconnect(ray)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """As in the workers (Ray gives a 1-CPU actor one thread): the same arithmetic, so the same
    predictions to the last bit."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
