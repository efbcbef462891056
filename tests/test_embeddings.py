"""Llama(embedding=True): embed / create_embedding against llama.cpp's vectors
(tests/reference/embeddings.npz, written by tools/make_embedding_reference.py with llama-cpp-python)."""
import numpy as np
import pytest

import pyggml

MODELS = ("smollm2-135m-q4_1", "gemma3-270m-q4_k_m")
POOLINGS = {"none": 0, "mean": 1, "cls": 2, "last": 3}


@pytest.fixture(scope="module")
def reference(reference_dir):
    return np.load(reference_dir / "embeddings.npz")


def _cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("pooling", sorted(POOLINGS))
def test_embeddings_match_llama_cpp(model_path, reference, model, pooling):
    llm = pyggml.Llama(str(model_path(model)), embedding=True, pooling_type=POOLINGS[pooling], n_ctx=256,
                       verbose=False, n_threads=2)
    inputs = [str(t) for t in reference[f"{model}/inputs"]]
    got = llm.embed(inputs)
    assert len(got) == len(inputs)
    for i, vectors in enumerate(got):
        ref = reference[f"{model}/{pooling}/{i}"]
        assert np.asarray(vectors).shape == ref.shape
        assert _cosines(vectors, ref).min() >= 0.9999
        assert np.allclose(np.asarray(vectors), ref, rtol=0.02, atol=0.02 * np.abs(ref).max())
    llm.close()


@pytest.fixture(scope="module")
def embedder(model_path):
    llm = pyggml.Llama(str(model_path(MODELS[0])), embedding=True, pooling_type=1, n_ctx=256, n_batch=64,
                       verbose=False, n_threads=2)
    yield llm
    llm.close()


def test_create_embedding_has_openai_shape(embedder):
    out = embedder.create_embedding(["hello", "good morning"], model="m")
    assert out["object"] == "list" and out["model"] == "m"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == embedder.n_embd() for d in out["data"])
    n = sum(len(embedder.tokenize(t.encode())) for t in ["hello", "good morning"])
    assert out["usage"] == {"prompt_tokens": n, "total_tokens": n}
    from openai.types import CreateEmbeddingResponse
    CreateEmbeddingResponse.model_validate(out)
    single = embedder.create_embedding("hello")
    assert len(single["data"]) == 1 and single["data"][0]["embedding"] == pytest.approx(out["data"][0]["embedding"])


def test_normalize_and_truncate(embedder):
    raw = np.array(embedder.embed("hello there"))
    unit = np.array(embedder.embed("hello there", normalize=True))
    assert np.linalg.norm(unit) == pytest.approx(1.0, abs=1e-5)
    assert unit == pytest.approx(raw / np.linalg.norm(raw), abs=1e-6)
    long_text = "word " * 200
    cut = embedder.embed(long_text)                       # truncated to n_batch = 64 tokens
    first64 = embedder.tokenize(long_text.encode())[:64]
    assert cut == pytest.approx(embedder.embed(embedder.detokenize(first64).decode()), abs=1e-4)
    with pytest.raises(ValueError, match="exceed batch size"):
        embedder.embed(long_text, truncate=False)


def test_embedding_leaves_generation_working(model_path, embedder):
    before = embedder("The capital of France is", max_tokens=4, temperature=0)["choices"][0]["text"]
    embedder.embed("something else")
    after = embedder("The capital of France is", max_tokens=4, temperature=0)["choices"][0]["text"]
    assert before == after


def test_embed_needs_embedding_mode_and_text(model_path, embedder):
    llm = pyggml.Llama(str(model_path(MODELS[0])), n_ctx=64, verbose=False)
    with pytest.raises(RuntimeError, match="embedding=True"):
        llm.embed("hi")
    llm.close()
    with pytest.raises(ValueError, match="string or a list of strings"):
        embedder.embed([1, 2])
