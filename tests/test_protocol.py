"""The barcode protocol: exact round trips, robustness, and rejection of damage."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portunus.protocol import (AuraState, DecodeError, EnemyState, GameSnapshot, decode, decode_frame, encode,
                               encode_frame, locate)
from tests.protocol_damage import damage, nearest_resize, place
from tests.snapshot_cases import random_snapshot, snapshots

FUZZ_FRAMES, FUZZ_CHUNKS = 100_000, 4


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_frame_bytes_round_trip_exactly(snapshot):
    assert decode_frame(encode_frame(snapshot)) == snapshot


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(max_enemies=8), st.integers(1, 6), st.integers(0, 40), st.integers(0, 7), st.integers(0, 2**31))
def test_strip_found_at_any_offset_and_cell_size(snapshot, cell_size, x, y, seed):
    strip = encode(snapshot, cell_size)
    rng = np.random.default_rng(seed)
    canvas = rng.integers(0, 256, (strip.shape[0] + y + 5, strip.shape[1] + x + 9, 3)).astype(np.uint8)
    canvas[y:y + strip.shape[0], x:x + strip.shape[1]] = strip
    assert decode(canvas) == snapshot


@pytest.mark.parametrize("factor", [2.5, 3.0, 2.25, 3.7, 5.0])
def test_ui_scale_other_than_nominal(factor):
    """A 2-pixel strip resized (nearest neighbor) by a non-integer factor still decodes."""
    snapshot = random_snapshot(np.random.default_rng(7))
    image = nearest_resize(encode(snapshot, 2), factor / 2)
    assert decode(image) == snapshot


def test_color_changes_and_small_noise_decode_exactly():
    rng = np.random.default_rng(3)
    for cell_size in (1, 3):
        snapshot = random_snapshot(rng)
        image = encode(snapshot, cell_size).astype(np.float64)
        assert decode(np.clip(image * 0.8 + 20, 0, 255).astype(np.uint8)) == snapshot  # gamma, filters
        noisy = np.clip(image + rng.integers(-4, 5, image.shape), 0, 255).astype(np.uint8)
        assert decode(noisy) == snapshot


def test_bgra_screenshots():
    snapshot = random_snapshot(np.random.default_rng(4))
    rgb = encode(snapshot, 2)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert decode(bgra, order="BGRA") == snapshot
    with pytest.raises(ValueError, match="order"):
        decode(bgra, order="RGB")


def test_damaged_strip_beside_a_good_one():
    rng = np.random.default_rng(5)
    good, other = random_snapshot(rng), random_snapshot(rng)
    damaged = encode(other, 2).copy()
    damaged[:, 40:44] = 255 - damaged[:, 40:44]
    strip = encode(good, 2)
    canvas = np.zeros((9, max(strip.shape[1], damaged.shape[1]) + 4, 3), np.uint8)
    canvas[1:3, 2:2 + damaged.shape[1]] = damaged
    canvas[6:8, 2:2 + strip.shape[1]] = strip
    assert decode(canvas) == good


def test_every_single_bit_flip_is_rejected():
    frame = bytearray(encode_frame(random_snapshot(np.random.default_rng(6))))
    for bit in range(8 * len(frame)):
        frame[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(DecodeError):
            decode_frame(bytes(frame))
        frame[bit // 8] ^= 1 << (bit % 8)


def test_rejections_say_why():
    frame = encode_frame(GameSnapshot(spec_id=70))
    with pytest.raises(DecodeError, match="header says"):
        decode_frame(frame[:-1])
    with pytest.raises(DecodeError, match="version 9"):
        decode_frame(frame[:2] + bytes([9]) + frame[3:])
    with pytest.raises(DecodeError, match="no Portunus strip"):
        decode(np.zeros((20, 50, 3), np.uint8))
    with pytest.raises(DecodeError, match="truncated"):
        decode(encode(GameSnapshot(spec_id=70), 2)[:, :-7])
    with pytest.raises(DecodeError, match="shape"):
        decode(np.zeros((20, 50), np.uint8))


def test_encoder_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="at most 16 enemies"):
        encode_frame(GameSnapshot(enemies=(EnemyState(),) * 17))
    with pytest.raises(ValueError, match="same number of tracked debuffs"):
        encode_frame(GameSnapshot(enemies=(EnemyState(debuffs=()), EnemyState(debuffs=(AuraState(),)))))


@pytest.mark.parametrize("chunk", range(FUZZ_CHUNKS))
def test_fuzz_no_damaged_frame_is_accepted_with_wrong_content(chunk):
    """FUZZ_FRAMES damaged captures in all (noise, bit flips, overwrites, on-grid cell changes,
    swapped cells, color shifts, truncation, rescaling, decoy strips): each is either decoded
    to exactly the snapshot drawn, or rejected."""
    rng = np.random.default_rng(1000 + chunk)
    outcomes, wrong = collections.Counter(), []
    frames_per_snapshot = 50
    for _ in range(FUZZ_FRAMES // FUZZ_CHUNKS // frames_per_snapshot):
        snapshot = random_snapshot(rng)
        strip = encode(snapshot, int(rng.integers(1, 5)))
        for _ in range(frames_per_snapshot):
            canvas, damages = damage(rng, *place(rng, strip))
            try:
                decoded = decode(canvas)
            except DecodeError:
                outcomes["rejected"] += 1
                continue
            outcomes["exact" if decoded == snapshot else "wrong"] += 1
            if decoded != snapshot:
                wrong.append(damages)
    print(f"fuzz chunk {chunk}: {dict(outcomes)}")
    assert sum(outcomes.values()) == FUZZ_FRAMES // FUZZ_CHUNKS
    assert outcomes["wrong"] == 0, wrong[:5]
    assert outcomes["exact"] > 0.1 * FUZZ_FRAMES / FUZZ_CHUNKS  # the decoder is not just refusing everything


def test_locate_gives_the_strip_box():
    snapshot = random_snapshot(np.random.default_rng(8))
    strip = encode(snapshot, 3)
    canvas = np.full((30, strip.shape[1] + 40, 3), 60, np.uint8)
    canvas[11:14, 17:17 + strip.shape[1]] = strip
    found, box = locate(canvas)
    assert found == snapshot and box == (11, 17, 14, 17 + strip.shape[1])
