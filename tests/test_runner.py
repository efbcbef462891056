"""ModelRunner on tiny random models (both architectures) against the numpy oracle, graph reuse
across decode steps, and clear errors for bad models and arguments."""
import numpy as np
import pytest

from numpy_model import NumpyModel
from pyggml.arch import ModelFormatError
from pyggml.gguf import GGUFReader, GGUFWriter
from pyggml.gguf.writer import copy_metadata
from pyggml.models.tiny import write_tiny_gemma3, write_tiny_llama
from pyggml.runner import KV_PAD, ModelRunner


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama.gguf", n_ctx=600, seed=3)


@pytest.fixture(scope="module")
def tiny_gemma3(tmp_path_factory):
    return write_tiny_gemma3(tmp_path_factory.mktemp("tiny") / "gemma3.gguf", n_ctx=600, seed=4,
                             sliding_window=16)


def _close(a, b):
    scale = np.abs(b).max()
    return np.abs(a - b).max() <= 2e-3 * scale, np.abs(a - b).max() / scale


@pytest.mark.parametrize("which", ["tiny_llama", "tiny_gemma3"])
@pytest.mark.parametrize("n_batch", [512, 7])
def test_prompt_and_decode_match_numpy_oracle(which, n_batch, request):
    """F32 weights: pyggml (F16 KV cache, F16-rounded attention) vs numpy F32 within 2e-3.
    40 positions go past gemma3's 16-token sliding window."""
    path = request.getfixturevalue(which)
    runner = ModelRunner(path, n_ctx=128, n_batch=n_batch, n_threads=2)
    oracle = NumpyModel(path)
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, runner.config.n_vocab, size=30).tolist()
    got = runner.eval(prompt, logits_all=True)
    want = oracle.forward(prompt)
    ok, err = _close(got, want)
    assert ok, err
    for tok in rng.integers(0, runner.config.n_vocab, size=10).tolist():
        ok, err = _close(runner.eval([tok])[-1], oracle.forward([tok])[-1])
        assert ok, err
    assert runner.n_past == 40


def test_decode_reuses_one_graph_per_kv_block(tiny_llama):
    runner = ModelRunner(tiny_llama, n_ctx=600, n_threads=1)
    runner.eval([1, 2, 3])
    for i in range(KV_PAD + 10):
        runner.eval([4 + i % 50])
    decode_graphs = [k for k in runner._graphs if k[0] == 1]
    assert len(decode_graphs) == 2   # n_kv = 256, then 512


@pytest.mark.parametrize("which", ["tiny_llama", "tiny_gemma3"])
def test_one_token_inputs_are_the_batch_rule(which, request):
    """A decoded token's inputs are written by a short path: the same slots, positions and masks
    (causal, and gemma3's 16-token window) as the rule for a batch."""
    runner = ModelRunner(request.getfixturevalue(which), n_ctx=600, n_threads=1)
    runner.eval([1, 2, 3])
    for p in (3, 15, 16, 17, 255, 256, 400):
        runner.n_past = p
        built = runner._graph_for(1, -(-(p + 1) // KV_PAD) * KV_PAD, 1, "logits")
        runner._set_inputs(built, np.array([9], np.int32), 1)
        tokens, positions, slots, out_rows, masks, _ = built.views()
        assert (tokens[0], positions[0], slots[0], out_rows[0]) == (9, p, p, 0)
        kv_pos = np.arange(built.batch.n_kv)
        for window, mask in masks.items():
            visible = (kv_pos <= p) & ((p - kv_pos < window) if window else True)
            np.testing.assert_array_equal(mask[0], np.where(visible, 0.0, -np.inf).astype(np.float32))
        assert len(masks) == (2 if which == "tiny_gemma3" else 1)


@pytest.mark.parametrize("which", ["tiny_llama", "tiny_gemma3"])
def test_decode_fast_path_is_the_general_path(which, request):
    """eval([int]) takes the one-token path; eval(np.array([...])) the general one: the same
    logits bit for bit at every step (across a KV_PAD boundary and gemma3's window), the same
    counters and the same errors."""
    path = request.getfixturevalue(which)
    fast, general = (ModelRunner(path, n_ctx=300, n_threads=2) for _ in range(2))
    for r in (fast, general):
        r.eval([1, 2, 3])
    rng = np.random.default_rng(5)
    for tok in rng.integers(0, fast.config.n_vocab, size=KV_PAD + 4).tolist():
        np.testing.assert_array_equal(fast.eval([tok]), general.eval(np.array([tok])))
    assert fast.n_past == general.n_past == KV_PAD + 7
    assert fast.timings["eval_tokens"] == general.timings["eval_tokens"] == KV_PAD + 4
    with pytest.raises(ValueError, match="out of range"):
        fast.eval([fast.config.n_vocab])
    with pytest.raises(ValueError, match="out of range"):
        fast.eval([-1])
    fast.n_past = 300
    with pytest.raises(ValueError, match="exceed n_ctx"):
        fast.eval([5])


def test_truncate_and_reset_recompute_identically(tiny_llama):
    runner = ModelRunner(tiny_llama, n_ctx=64, n_threads=2)
    a = runner.eval([5, 6, 7, 8])
    runner.truncate(2)
    b = runner.eval([7, 8])
    runner.reset()
    c = runner.eval([5, 6, 7, 8])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_bad_arguments_raise(tiny_llama):
    with pytest.raises(ValueError, match="n_ctx"):
        ModelRunner(tiny_llama, n_ctx=0)
    with pytest.raises(ValueError, match="training context"):
        ModelRunner(tiny_llama, n_ctx=10**6)
    runner = ModelRunner(tiny_llama, n_ctx=16)
    with pytest.raises(ValueError, match="out of range"):
        runner.eval([runner.config.n_vocab])
    with pytest.raises(ValueError, match="exceed n_ctx"):
        runner.eval(list(range(17)))
    with pytest.raises(ValueError, match="no tokens"):
        runner.eval([])


def _rewrite(src, dst, *, arch=None, drop_tensor=None):
    reader = GGUFReader(src)
    writer = GGUFWriter(dst)
    copy_metadata(reader, writer)
    if arch:
        writer.set_kv("general.architecture", arch)
    for t in reader.tensors:
        if t.name != drop_tensor:
            writer.add_tensor(t.name, t.data, t.type, t.ne)
    writer.write()
    return dst


def test_unsupported_architecture_is_named(tiny_llama, tmp_path):
    path = _rewrite(tiny_llama, tmp_path / "x.gguf", arch="mamba")
    with pytest.raises(ModelFormatError, match="unsupported architecture 'mamba'"):
        ModelRunner(path)


def test_missing_tensor_is_named(tiny_llama, tmp_path):
    path = _rewrite(tiny_llama, tmp_path / "x.gguf", drop_tensor="blk.1.ffn_up.weight")
    with pytest.raises(ModelFormatError, match="blk.1.ffn_up.weight"):
        ModelRunner(path)
