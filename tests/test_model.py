"""The compiled kernel against the plain-numpy statement of the user model, step by step."""

from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from adaptrec.core.config import CatalogConfig
from adaptrec.envs import model
from adaptrec.envs.users import UserPopulation
from adaptrec.testing.strategies import live_slates, populations, slates


def _state_of(population: UserPopulation, row: int) -> model.UserState:
    return model.UserState(
        utility=population.utility_[row].copy(),
        fatigue=population.fatigue([row])[0],
        key=population.keys_[row],
        step=int(population.step_[row]),
        session=int(population.session_[row]),
        session_step=int(population.session_step_[row]),
    )


@given(populations(max_users=4, changing=True), st.integers(1, 10), st.data())
def test_kernel_steps_exactly_as_the_model_says(population, n_steps, data):
    params = model.ModelParams.from_config(population.users, population.env)
    catalog, users = population.catalog, population.users
    np.testing.assert_array_equal(params.examination, population.examination)
    states = [_state_of(population, b) for b in range(len(population.user_ids_))]
    for _ in range(n_steps):
        # The oracle, before the step: the same slates (exact) and expected clicks.
        lo, hi = catalog.live_bounds(population.step_)
        best = [model.oracle(params, s, (lo[b], hi[b])) for b, s in enumerate(states)]
        np.testing.assert_array_equal(population.oracle_slates(), [slate for slate, _ in best])
        if data.draw(st.booleans()):
            shown = population.oracle_slates()
        elif catalog.changes:
            shown = data.draw(live_slates(population))
        else:
            shown = data.draw(slates(catalog.n_items, population.slate_size, len(states)))
        outcome = population.step(shown)
        for b, state in enumerate(states):
            response = model.respond(params, state, shown[b])
            # Discrete outcomes bit for bit; continuous ones to float rounding (the kernel keeps
            # fatigue on a log clock, the model multiplies).
            np.testing.assert_array_equal(outcome.clicked[b], response.clicked)
            np.testing.assert_array_equal(outcome.skipped[b], response.skipped)
            np.testing.assert_allclose(outcome.dwell[b], response.dwell, rtol=1e-5)
            np.testing.assert_allclose(
                outcome.click_probability[b], response.click_probability, rtol=1e-9
            )
            np.testing.assert_allclose(outcome.expected_clicks[b], response.expected_clicks, 1e-9)
            np.testing.assert_allclose(outcome.oracle_expected_clicks[b], best[b][1], rtol=1e-9)
            np.testing.assert_allclose(outcome.reward[b], response.reward, rtol=1e-6)
            state, ends = model.transition(params, state, shown[b], response)
            assert ends == outcome.session_end[b]
            assert (state.step, state.session, state.session_step) == (
                population.step_[b],
                population.session_[b],
                population.session_step_[b],
            )
            # Drift, then the base utility of the (possibly new) preference, exactly.
            preference = model.preference_at(
                state.step,
                population.initial_preference_[b],
                population.drift_preference_[b],
                bool(population.drifts_[b]),
                users,
            )
            np.testing.assert_array_equal(population.preference_[b], preference)
            utility = model.base_utility(preference, catalog.topics, population.item_term)
            np.testing.assert_array_equal(population.utility_[b], utility)
            state = replace(state, utility=utility)
            np.testing.assert_allclose(
                population.fatigue([b])[0], state.fatigue, rtol=1e-9, atol=1e-12
            )
            states[b] = state


def test_the_model_is_not_vacuous():
    """A user shown the same slate tires of it, leaves more often without clicks, and the
    oracle moves on: the properties the kernel test relies on the model to have."""
    from adaptrec.core.config import EnvConfig, UserConfig

    params = model.ModelParams.from_config(
        UserConfig(fatigue_weight=2.0, leave_probability=0.0, leave_if_no_click=1.0),
        EnvConfig(slate_size=2),
    )
    state = model.UserState(
        utility=np.array([3.0, 2.0, 0.0, -1.0]), fatigue=np.zeros(4), key=np.uint64(7), step=0
    )
    slate, _ = model.oracle(params, state)
    np.testing.assert_array_equal(slate, [0, 1])
    before = model.attractiveness(params, state)[0]
    response = model.respond(params, state, slate)
    state, ends = model.transition(params, state, slate, response)
    assert ends == (not response.clicked.any())  # leave_if_no_click = 1, else 0
    assert model.attractiveness(params, state)[0] < before  # fatigue lowers attractiveness
    np.testing.assert_allclose(state.fatigue[[0, 1, 2]], [1.0, 1.0, 0.0])


def test_both_worlds_are_populations_with_the_newest_slate_first():
    from adaptrec.core.catalog import make_catalog
    from adaptrec.core.config import EnvConfig, UserConfig
    from adaptrec.envs.news_switch import NewsSwitchPopulation, news_catalog
    from adaptrec.envs.population import Population

    env = EnvConfig(slate_size=1, history_length=3, max_steps=50)
    news = NewsSwitchPopulation(news_catalog(), UserConfig(drift="none"), env)
    synthetic = UserPopulation(make_catalog(CatalogConfig(n_items=30), 0), UserConfig(), env)
    for population in (news, synthetic):
        population.reset(np.arange(2), 0)
        assert isinstance(population, Population)  # its state attributes exist after reset
        shown = []
        for step in range(4):
            slate = np.full((2, 1), step % population.n_items)
            if population is news:
                # news-switch keeps one history per (person, time) context: pin the context
                population.context_[:] = 0
            population.step(slate)
            shown.append(step % population.n_items)
        if population is news:
            population.context_[:] = 0
        items = population.observations()["items"]
        assert items.shape == (2, 3, 1)
        np.testing.assert_array_equal(items[0, :, 0], shown[::-1][:3])  # newest first
