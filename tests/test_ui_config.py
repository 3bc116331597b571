"""The one config: URL round trip, clamping, garbage, presets."""
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from ui.config import (
    ACTIVATIONS,
    CELLS,
    FIELDS,
    INITS,
    LOSSES,
    OUTPUTS,
    RHO_GRID,
    SIGNALS,
    Config,
    coerce,
    from_query,
    reconcile,
    validated,
)
from ui.presets import PRESETS


def test_defaults_round_trip_to_empty_query():
    assert Config().to_query() == {}
    assert from_query({}) == (Config(), [])


def test_every_field_round_trips_through_the_url():
    # a gated cell fixes act = tanh (the default), so act and cell are covered by two configs
    rnn = Config(T=1000, H=256, D=3, O=4, signal="pulse", amp=2.5, init="nonnormal", rho=1.07,
                 act="linear", fb=-2.5, zb=7.0, out="softmax", loss="all", seed=42)
    gru = Config(cell="gru", T=7, fb=3.0, zb=6.0, seed=3)
    keys = set()
    for cfg in (rnn, gru):
        q = cfg.to_query()
        keys |= set(q)
        assert all(isinstance(v, str) for v in q.values())
        assert from_query(q) == (cfg, [])
    assert keys == {f.name for f in fields(Config)}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("act", ["relu", "sigmoid", "linear"])
def test_gated_cells_coerce_the_activation_to_tanh_with_a_notice(cell, act):
    cfg, notices = from_query({"cell": cell, "act": act, "T": "20"})
    assert (cfg.cell, cfg.act, cfg.T) == (cell, "tanh", 20)
    assert len(notices) == 1 and f"act={act}" in notices[0] and "tanh" in notices[0]
    assert validated(Config(cell=cell, act=act)) == Config(cell=cell)
    assert reconcile({"cell": cell, "act": act})[0]["act"] == "tanh"


def test_the_vanilla_cell_keeps_any_activation_and_the_gate_biases_are_clamped():
    assert from_query({"cell": "rnn", "act": "relu"}) == (Config(act="relu"), [])
    cfg, notices = from_query({"fb": "99", "zb": "-7", "cell": "LSTM"})
    assert (cfg.cell, cfg.fb, cfg.zb) == ("lstm", 8.0, -5.0)
    assert len(notices) == 2
    cfg, notices = from_query({"cell": "transformer"})
    assert cfg.cell == "rnn" and "cell=transformer" in notices[0]


def test_vocabulary_matches_the_engine_registries():
    assert set(ACTIVATIONS) == set(engine.ACTIVATIONS)
    assert set(INITS) == set(engine.INITS)
    assert set(OUTPUTS) == set(engine.OUTPUTS)
    assert set(LOSSES) == set(engine.LOSSES)
    assert set(SIGNALS) == set(engine.SIGNALS)
    assert set(CELLS) == set(engine.CELLS)


@pytest.mark.parametrize("name,raw,expected", [
    ("T", "5000", 1000), ("T", "0", 1), ("T", "-3", 1), ("H", "1e9", 256), ("H", "7.6", 8),
    ("rho", "99", 3.0), ("rho", "-1", 0.0), ("rho", "0.973", 0.97), ("amp", "11", 10.0),
    ("seed", "123456", 9999),
])
def test_out_of_range_values_are_clamped_with_a_notice(name, raw, expected):
    value, notice = coerce(name, raw)
    assert value == expected
    assert notice and name in notice


@pytest.mark.parametrize("name,raw", [
    ("T", "abc"), ("T", ""), ("rho", "nan"), ("rho", "inf"), ("act", "softplus"), ("init", "<script>"),
    ("amp", "1,5"), ("signal", "x" * 500),
])
def test_garbage_falls_back_to_the_default(name, raw):
    value, notice = coerce(name, raw)
    assert value == getattr(Config(), name)
    assert notice and len(notice) < 200


def test_valid_values_give_no_notice():
    cfg, notices = from_query({"T": "250", "rho": "0.90", "act": "relu", "loss": "all", "unknown": "x"})
    assert notices == []
    assert (cfg.T, cfg.rho, cfg.act, cfg.loss) == (250, 0.9, "relu", "all")


def test_repeated_parameters_use_the_last_value():
    cfg, _ = from_query({"T": ["10", "20"]})
    assert cfg.T == 20


def test_rho_grid_is_fine_around_one():
    assert RHO_GRID[0] == 0.0 and RHO_GRID[-1] == 3.0
    assert list(RHO_GRID) == sorted(set(RHO_GRID))
    near = [r for r in RHO_GRID if 0.8 <= r <= 1.2]
    assert len(near) == 41  # steps of 0.01


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(FIELDS) + ["junk"]),
                       st.one_of(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=3)),
                       max_size=14))
def test_any_query_gives_a_valid_config(params):
    cfg, notices = from_query(params)
    assert validated(cfg) == cfg
    assert isinstance(notices, list)
    assert hash(cfg) is not None


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_presets_are_valid_configs_that_run(preset):
    cfg = preset.config
    assert validated(cfg) == cfg
    assert from_query(cfg.to_query()) == (cfg, [])
    p = engine.init_params(cfg.D, cfg.H, cfg.O, init=cfg.init, spectral_radius=cfg.rho,
                           activation=cfg.act, output=cfg.out, seed=cfg.seed, cell=cfg.cell,
                           forget_bias=cfg.fb, update_bias=cfg.zb)
    tr = engine.bptt(p, engine.make_input(cfg.signal, cfg.T, cfg.D, amplitude=cfg.amp, seed=cfg.seed),
                     engine.make_target(cfg.out, cfg.loss, cfg.T, cfg.O, seed=cfg.seed), loss=cfg.loss)
    assert tr.h.shape == (cfg.T, cfg.H)


def test_presets_say_what_they_promise():
    by = {p.key: p.config for p in PRESETS}
    assert (by["vanishing"].act, by["vanishing"].init, by["vanishing"].rho, by["vanishing"].T) == (
        "tanh", "gaussian", 0.9, 100)
    assert by["exploding"].act in ("relu", "linear") and by["exploding"].rho == 1.2
    assert (by["edge"].init, by["edge"].rho) == ("orthogonal", 1.0)
    assert (by["irnn"].act, by["irnn"].init) == ("relu", "identity")
    assert (by["rho1"].init, by["rho1"].rho) == ("gaussian", 1.0)
    assert by["saturation"].act == "tanh" and by["saturation"].amp > 1
    nn = by["nonnormal"]
    W = engine.init_params(nn.D, nn.H, nn.O, init=nn.init, spectral_radius=nn.rho).W_hh
    assert W.shape == (2, 2)
    assert abs(engine.spectral_radius(W) - 0.9) < 1e-12
    assert engine.power_norms(W, 60).max() > 15  # O12: transient growth to about 19.4


def test_rho_one_preset_has_sigma_max_near_two():
    cfg = {p.key: p.config for p in PRESETS}["rho1"]
    W = engine.init_params(cfg.D, cfg.H, cfg.O, init=cfg.init, spectral_radius=cfg.rho, seed=cfg.seed).W_hh
    assert 1.6 < engine.spectral_norm(W) < 2.4  # O7
