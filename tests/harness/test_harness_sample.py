"""``--sample``: a seeded draw of rows, or of whole query groups for a suite that averages over them
(`harness.runner.sample_positions`), checked against a slow, obviously correct restatement."""
from __future__ import annotations

import numpy as np
import pytest

from harness.runner import sample_positions


def _slow_group_sample(groups, rows, seed):
    rng = np.random.default_rng(seed)
    ids = sorted(set(groups.tolist()))
    order = [ids[i] for i in rng.permutation(len(ids))]
    taken, count = set(), 0
    for g in order:
        if count >= rows:
            break
        taken.add(g)
        count += int(np.sum(groups == g))
    return np.array([i for i, g in enumerate(groups) if g in taken])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rows", [1, 7, 50, 199])
def test_whole_groups_are_drawn_as_the_slow_restatement_draws_them(seed, rows):
    rng = np.random.default_rng(100 + seed)
    groups = rng.integers(0, 40, size=200) * 3 + 11  # uneven group sizes, ids not 0..k-1, rows shuffled
    got = sample_positions(len(groups), rows, seed, groups)
    assert np.array_equal(got, _slow_group_sample(groups, rows, seed))
    chosen = set(groups[got].tolist())
    assert all(np.sum(groups[got] == g) == np.sum(groups == g) for g in chosen)  # whole groups only
    assert len(got) >= rows


def test_the_draw_of_groups_does_not_depend_on_the_rows_order_and_strings_work():
    rng = np.random.default_rng(0)
    groups = np.array([f"q{i}" for i in rng.integers(0, 30, size=300)], dtype=object)
    perm = rng.permutation(300)
    a = set(groups[sample_positions(300, 60, 4, groups)].tolist())
    b = set(groups[perm][sample_positions(300, 60, 4, groups[perm])].tolist())
    assert a == b


def test_rows_alone_and_the_whole_split():
    assert sample_positions(10, None, 0) is None and sample_positions(10, 10, 0) is None
    got = sample_positions(100, 10, 3)
    assert np.array_equal(got, np.sort(np.random.default_rng(3).choice(100, size=10, replace=False)))
