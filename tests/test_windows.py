"""Window policy: where the 30 s windows of a track go."""

import pytest

from model.windows import parse_policy, window_starts

CLIP = 30.0


def test_default_spreads_three_windows_over_a_song():
    assert window_starts(240.0, CLIP) == [45.0, 105.0, 165.0]


def test_short_tracks_get_one_window_from_zero():
    assert window_starts(12.0, CLIP) == [0.0]
    assert window_starts(30.0, CLIP) == [0.0]


@pytest.mark.parametrize("duration", [61.0, 70.0, 95.0, 119.0, 125.0, 3 * 3600.0])
def test_windows_never_overlap_and_stay_inside(duration):
    starts = window_starts(duration, CLIP)
    assert len(starts) == min(3, int(duration // CLIP))
    assert all(b - a >= CLIP - 1e-6 for a, b in zip(starts, starts[1:]))
    assert starts[0] >= 0 and starts[-1] + CLIP <= duration + 1e-6


def test_all_tiles_and_keeps_a_substantial_tail():
    assert window_starts(95.0, CLIP, "all") == [0.0, 30.0, 60.0]  # 5 s tail: dropped
    assert window_starts(75.0, CLIP, "all") == [0.0, 30.0, 60.0]  # 15 s tail kept


def test_offset_fixes_the_first_window():
    assert window_starts(240.0, CLIP, "default", offset=12.5) == [12.5]
    assert window_starts(100.0, CLIP, "all", offset=10.0) == [10.0, 40.0, 70.0]


def test_explicit_count_and_parse():
    assert len(window_starts(600.0, CLIP, 5)) == 5
    assert parse_policy("ALL") == "all" and parse_policy("4") == 4
    with pytest.raises(ValueError):
        parse_policy("sometimes")
    with pytest.raises(ValueError):
        parse_policy(0)
