"""pyggml.sampling: each sampler's rule, llama.cpp's order, seeds, distributions, validation."""
import math

import numpy as np
import pytest

from pyggml.sampling import (RANDOM_SEED, Sampler, SamplingParams, apply_penalties, candidate_probabilities,
                             make_rng, min_p_cut, sorted_candidates, top_p_cut)

OFF = dict(top_k=0, top_p=1.0, min_p=0.0)  # no filtering: plain softmax sampling


def logits_for(probs):
    return np.log(np.asarray(probs, dtype=np.float64)).astype(np.float32)


def test_greedy_is_argmax_with_ties_to_the_lowest_id():
    params = SamplingParams(temperature=0)
    logits = np.array([0.5, 3.0, -1.0, 3.0, 2.9], np.float32)
    assert Sampler(params, seed=1).sample(logits) == 1
    rng_logits = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    assert Sampler(params).sample(rng_logits) == int(np.argmax(rng_logits))


def test_same_seed_same_tokens_and_different_seeds_differ():
    logits = np.zeros(1000, np.float32)  # uniform: every draw is pure randomness
    params = SamplingParams(temperature=1.0, **OFF)

    def draws(seed):
        sampler = Sampler(params, seed=seed)
        return [sampler.sample(logits) for _ in range(50)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_random_seed_markers_give_fresh_generators():
    for marker in (None, -1, RANDOM_SEED):
        a, b = make_rng(marker).integers(0, 2**62, 4), make_rng(marker).integers(0, 2**62, 4)
        assert not np.array_equal(a, b)


def test_samples_follow_the_softmax_distribution():
    probs = np.array([0.5, 0.25, 0.15, 0.1])
    sampler = Sampler(SamplingParams(temperature=1.0, **OFF), seed=3)
    n = 20000
    counts = np.bincount([sampler.sample(logits_for(probs)) for _ in range(n)], minlength=4)
    # every frequency within 4 standard deviations of its expectation
    sigma = np.sqrt(n * probs * (1 - probs))
    assert np.all(np.abs(counts - n * probs) < 4 * sigma), counts


def test_temperature_rescales_logits_before_the_softmax():
    logits = np.array([2.0, 1.0, 0.0, -1.0], np.float32)
    for t in (0.5, 1.0, 2.0):
        ids, p = candidate_probabilities(logits, [], SamplingParams(temperature=t, **OFF))
        expected = np.exp(logits / t) / np.exp(logits / t).sum()
        np.testing.assert_allclose(p, expected[ids], rtol=1e-6)
    # colder is sharper
    _, cold = candidate_probabilities(logits, [], SamplingParams(temperature=0.3, **OFF))
    _, hot = candidate_probabilities(logits, [], SamplingParams(temperature=3.0, **OFF))
    assert cold[0] > hot[0]


def test_top_k_keeps_the_k_best_best_first():
    logits = np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    ids, vals = sorted_candidates(logits, 10)
    assert list(ids) == list(np.argsort(-logits)[:10])
    assert np.all(np.diff(vals) <= 0)
    sampler = Sampler(SamplingParams(temperature=5.0, top_k=3, top_p=1.0, min_p=0.0), seed=0)
    assert {sampler.sample(logits) for _ in range(300)} == set(np.argsort(-logits)[:3])


def test_top_k_ties_at_the_cut_keep_the_lowest_ids():
    logits = np.array([1.0, 5.0, 1.0, 1.0, 3.0], np.float32)
    ids, _ = sorted_candidates(logits, 3)
    assert list(ids) == [1, 4, 0]


def test_top_p_keeps_the_shortest_prefix_reaching_p():
    cand = logits_for([0.5, 0.3, 0.15, 0.05])
    assert top_p_cut(cand, 0.45) == 1
    assert top_p_cut(cand, 0.75) == 2
    assert top_p_cut(cand, 0.9) == 3
    assert top_p_cut(cand, 1.0) == 4
    assert top_p_cut(cand, 0.1, min_keep=2) == 2


def test_min_p_keeps_tokens_above_a_fraction_of_the_best():
    cand = logits_for([0.5, 0.3, 0.15, 0.05])
    assert min_p_cut(cand, 0.2) == 3     # threshold 0.1
    assert min_p_cut(cand, 0.5) == 2     # threshold 0.25
    assert min_p_cut(cand, 0.0) == 4
    assert min_p_cut(cand, 0.99, min_keep=2) == 2


def test_filters_see_logits_before_temperature():
    # llama.cpp's chain: top-p on the untempered distribution, temperature afterwards
    logits = logits_for([0.6, 0.3, 0.1])
    ids, p = candidate_probabilities(logits, [], SamplingParams(temperature=10.0, top_k=0, top_p=0.85, min_p=0.0))
    assert list(ids) == [0, 1]
    ids, _ = candidate_probabilities(logits, [], SamplingParams(temperature=10.0, top_k=0, top_p=1.0, min_p=0.4))
    assert list(ids) == [0, 1]


def test_repeat_penalty_divides_positive_and_multiplies_negative_logits():
    logits = np.array([2.0, -2.0, 1.0, 0.5], np.float32)
    out = apply_penalties(logits, [0, 1], SamplingParams(repeat_penalty=2.0))
    np.testing.assert_allclose(out, [1.0, -4.0, 1.0, 0.5])
    assert logits[0] == 2.0  # input untouched


def test_frequency_and_presence_penalties_count_occurrences():
    logits = np.zeros(4, np.float32)
    out = apply_penalties(logits, [2, 2, 2, 3], SamplingParams(frequency_penalty=0.5, presence_penalty=0.25))
    np.testing.assert_allclose(out, [0.0, 0.0, -1.75, -0.75])


def test_penalties_only_look_at_the_last_n_tokens():
    logits = np.ones(4, np.float32)
    params = SamplingParams(repeat_penalty=2.0, repeat_last_n=2)
    np.testing.assert_allclose(apply_penalties(logits, [0, 1, 2, 3], params), [1, 1, 0.5, 0.5])
    everything = SamplingParams(repeat_penalty=2.0, repeat_last_n=-1)
    np.testing.assert_allclose(apply_penalties(logits, [0, 1, 2, 3], everything), [0.5] * 4)
    off = SamplingParams(repeat_penalty=2.0, repeat_last_n=0)
    np.testing.assert_allclose(apply_penalties(logits, [0, 1], off), [1] * 4)


def test_penalties_come_before_top_k_and_greedy():
    logits = np.array([3.0, 2.9, 0.0], np.float32)
    params = SamplingParams(temperature=0, repeat_penalty=2.0)
    assert Sampler(params).sample(logits, history=[0]) == 1
    ids, _ = candidate_probabilities(logits, [0], SamplingParams(top_k=1, repeat_penalty=2.0))
    assert list(ids) == [1]


def test_history_with_an_out_of_range_id_is_rejected():
    with pytest.raises(ValueError, match="history"):
        apply_penalties(np.zeros(4, np.float32), [7], SamplingParams(repeat_penalty=1.1))


@pytest.mark.parametrize("kwargs, name", [
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(top_p=-0.1), "top_p"),
    (dict(temperature=-0.5), "temperature"), (dict(temperature=math.nan), "temperature"),
    (dict(temperature="hot"), "temperature"),
    (dict(min_p=1.5), "min_p"), (dict(min_p=-0.1), "min_p"),
    (dict(top_k=-3), "top_k"), (dict(top_k=2.5), "top_k"),
    (dict(repeat_penalty=0.0), "repeat_penalty"), (dict(repeat_last_n=-2), "repeat_last_n"),
    (dict(frequency_penalty=math.inf), "frequency_penalty"), (dict(min_keep=0), "min_keep"),
])
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SamplingParams(**kwargs)


@pytest.mark.parametrize("seed", [-5, 1.5, "x"])
def test_bad_seed_is_rejected(seed):
    with pytest.raises(ValueError, match="seed"):
        make_rng(seed)


# ---- typical, mirostat, hooks ---------------------------------------------------------------

def test_typical_keeps_tokens_closest_to_the_entropy_until_mass_exceeds_p():
    from pyggml.sampling import typical_keep
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    logits = np.log(probs).astype(np.float32)
    entropy = -(probs * np.log(probs)).sum()                    # 1.1437
    distance = np.abs(-np.log(probs) - entropy)                 # [0.45, 0.06, 0.75, 1.85]
    order = np.argsort(distance)                                # 1, 0, 2, 3
    assert list(typical_keep(logits, 0.7)) == list(order[:2])   # 0.3 + 0.5 = 0.8 > 0.7
    assert list(typical_keep(logits, 0.2)) == [1]
    assert list(typical_keep(logits, 0.2, min_keep=3)) == list(order[:3])
    assert list(typical_keep(logits, 1.0)) == [0, 1, 2, 3]


def test_mirostat_v2_keeps_tokens_below_mu_and_updates_mu():
    probs = np.array([0.6, 0.3, 0.1])
    logits = np.log(probs).astype(np.float32)
    # tau 0.5: mu starts at 1.0 bit; only p=0.6 (0.74 bits) is below it
    sampler = Sampler(SamplingParams(mirostat_mode=2, mirostat_tau=0.5, mirostat_eta=0.1), seed=0)
    assert sampler.sample(logits) == 0
    # the kept set is renormalised to p = 1: surprise 0, mu -= 0.1 * (0 - 0.5)
    assert sampler.mirostat_mu == pytest.approx(1.05)
    state = sampler.state()
    sampler.mirostat_mu = 7.0
    sampler.set_state(state)
    assert sampler.mirostat_mu == pytest.approx(1.05)


def test_mirostat_v1_with_high_mu_samples_the_distribution():
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    logits = np.log(probs).astype(np.float32)
    sampler = Sampler(SamplingParams(mirostat_mode=1, mirostat_tau=20.0, mirostat_eta=0.0), seed=3)
    counts = np.bincount([sampler.sample(logits) for _ in range(4000)], minlength=4) / 4000
    assert np.allclose(counts, probs, atol=0.03)


def test_logit_bias_processor_checks_its_keys():
    from pyggml.sampling import LogitBiasProcessor
    bias = LogitBiasProcessor({"2": 5.0, 0: -1.0}, n_vocab=4)
    assert list(bias(np.zeros(1, np.int32), np.zeros(4, np.float32))) == [-1.0, 0.0, 5.0, 0.0]
    with pytest.raises(ValueError, match="logit_bias key 'x'"):
        LogitBiasProcessor({"x": 1.0}, n_vocab=4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        LogitBiasProcessor({9: 1.0}, n_vocab=4)


@pytest.mark.parametrize("kwargs, name", [({"typical_p": 0.0}, "typical_p"), ({"mirostat_mode": 3}, "mirostat_mode"),
                                          ({"mirostat_tau": -1.0}, "mirostat_tau"),
                                          ({"mirostat_eta": float("nan")}, "mirostat_eta")])
def test_bad_new_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SamplingParams(**kwargs)
