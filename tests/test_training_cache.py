"""The training data's per-file cache (features, roles): two trainings on one corpus fill it side
by side, and a cache file cut short (by a crash, or a reader racing a writer) must not end a run."""
import numpy as np

from model_training.training_data import cached


def test_a_cache_cut_short_is_computed_again_and_written_whole(tmp_path):
    conv = tmp_path / "conv_00000.npz"
    conv.write_bytes(b"a conversation")
    cache = tmp_path / "conv_00000.features.npy"
    np.save(cache, np.ones((100, 8), np.float32))
    cache.write_bytes(cache.read_bytes()[:300])             # what a reader racing a writer saw
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6.0).reshape(2, 3)

    value = cached(conv, ".features.npy", compute)
    assert calls == [1] and np.array_equal(value, np.arange(6.0).reshape(2, 3))
    assert np.array_equal(np.load(cache), value)
    assert np.array_equal(cached(conv, ".features.npy", compute), value) and calls == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv_00000.features.npy", "conv_00000.npz"]
