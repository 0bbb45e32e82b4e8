"""Fixtures for the evaluation tests; the builders live in eval_fixtures.py."""

from __future__ import annotations

import pytest

from eval_fixtures import Fixture, build_cub, build_pf_willow, build_spair


@pytest.fixture
def spair_fixture(tmp_path, photos) -> Fixture:
    return build_spair(tmp_path / "SPair-71k", photos)


@pytest.fixture
def pf_willow_fixture(tmp_path, photos) -> Fixture:
    return build_pf_willow(tmp_path / "PF-WILLOW", photos)


@pytest.fixture
def cub_fixture(tmp_path, photos) -> Fixture:
    return build_cub(tmp_path / "CUB_200_2011", photos)
