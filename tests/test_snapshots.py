"""Snapshots computed in place (linop.snapshots.new_snapshot, new_snapshots): private, read-only,
written once; large lazy ones over memory the system commits only where it is written."""
from __future__ import annotations

import numpy as np
import pytest

from linop.snapshots import is_snapshot, new_snapshot, new_snapshots, writeable_alias

SMALL, LARGE = 1000, 1 << 18  # elements: below and above the size that gets a fresh mapping
LAZY = [False, True]


@pytest.mark.parametrize("n", [0, 1, SMALL, LARGE])
def test_new_snapshot_is_private_read_only_and_holds_what_fill_wrote(n):
    s = new_snapshot((n, 2), np.float64, lambda out: out.__setitem__(..., np.arange(2.0 * n).reshape(n, 2)))
    assert is_snapshot(s) and is_snapshot(s[::-1]) and not s.flags.writeable
    assert s.shape == (n, 2) and s.flags.c_contiguous and s.flags.aligned
    np.testing.assert_array_equal(s.ravel(), np.arange(2.0 * n))
    with pytest.raises(ValueError):
        s.setflags(write=True)
    alias = writeable_alias(s)
    assert np.shares_memory(alias, s) or n == 0


@pytest.mark.parametrize("lazy", LAZY)
@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_new_snapshots_fills_several_at_once_and_keeps_the_rows_written(n, lazy):
    def fill(pointers, values, labels):
        pointers[...] = np.arange(pointers.size)
        values[:n // 2] = 1.5
        labels[:n // 2] = 7
        return None, n // 2, n // 2

    pointers, values, labels = new_snapshots(
        [((n + 1,), np.int32), ((n,), np.float32), ((n,), np.int64)], fill, lazy=lazy)
    assert [a.shape for a in (pointers, values, labels)] == [(n + 1,), (n // 2,), (n // 2,)]
    assert [a.dtype for a in (pointers, values, labels)] == [np.int32, np.float32, np.int64]
    assert all(is_snapshot(a) and not a.flags.writeable for a in (pointers, values, labels))
    np.testing.assert_array_equal(pointers, np.arange(n + 1))
    assert np.all(values == 1.5) and np.all(labels == 7)


@pytest.mark.parametrize("rows", [(5,), (11,), (-1,), (1, 2)])
def test_new_snapshots_refuses_row_counts_that_do_not_fit(rows):
    with pytest.raises(ValueError, match="expected None or one row count"):
        new_snapshots([((10,), np.float64)], lambda out: rows if rows != (5,) else (5, None))


def test_object_arrays_are_private_copies():
    (s,) = new_snapshots([((3,), object)], lambda out: out.fill("x"))
    assert s.tolist() == ["x"] * 3 and not s.flags.writeable


@pytest.mark.parametrize("lazy", LAZY)
def test_large_lazy_snapshots_get_a_private_mapping_and_stay_snapshots(lazy):
    from linop.snapshots import _snapshot_buffer

    (s,) = new_snapshots([((LARGE,), np.float64)], lambda out: out.fill(2.0), lazy=lazy)
    assert is_snapshot(s) and is_snapshot(s[10:20]) and np.all(s == 2.0)
    assert type(_snapshot_buffer(s)).__name__ == ("_FreshSnapshotBuffer" if lazy else "_SnapshotBuffer")
    alias = writeable_alias(s[5:9])
    assert alias.flags.writeable and np.shares_memory(alias, s)
