"""A stateful test: random sequences of reset, valid steps and invalid steps on the env."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adaptrec.envs import SlateRecEnv

N_ITEMS, K = 30, 4


class EnvMachine(RuleBasedStateMachine):
    """Catches: an invalid action that changes state before it is rejected (the step counter,
    history or RNG position advancing), observations outside the observation space, and steps
    after truncation being accepted. Broken with: validating the slate after the kernel ran."""

    @initialize(seed=st.integers(0, 2**16), max_steps=st.integers(1, 12))
    def build(self, seed, max_steps):
        self.env = SlateRecEnv(
            catalog={"n_items": N_ITEMS},
            env={"slate_size": K, "max_steps": max_steps},
            users={"drift_step": 3},
        )
        self.max_steps = max_steps
        self.obs, _ = self.env.reset(seed=seed)
        self.steps = 0
        self.done = False

    @rule(user=st.integers(0, 50))
    def reset(self, user):
        self.obs, info = self.env.reset(options={"user_id": user})
        assert info["user_id"] == user and self.obs["user_id"] == user
        self.steps, self.done = 0, False

    @precondition(lambda self: not self.done)
    @rule(data=st.data())
    def valid_step(self, data):
        action = np.asarray(data.draw(st.permutations(range(N_ITEMS)))[:K], dtype=np.int64)
        self.obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        assert not terminated
        assert truncated == (self.steps >= self.max_steps)
        assert 0 <= info["expected_clicks"] <= info["oracle_expected_clicks"] + 1e-12
        assert reward == float(self.obs["clicks"][0].sum())
        assert self.obs["items"][0].tolist() == action.tolist()
        self.done = truncated

    @precondition(lambda self: not self.done)
    @rule(kind=st.sampled_from(["duplicate", "range", "shape", "dtype"]), data=st.data())
    def invalid_step(self, kind, data):
        action = np.asarray(data.draw(st.permutations(range(N_ITEMS)))[:K], dtype=np.int64)
        if kind == "duplicate":
            action[-1] = action[0]
            message = "distinct items"
        elif kind == "range":
            action[0] = data.draw(st.sampled_from([-1, N_ITEMS, N_ITEMS + 7]))
            message = "item indices in"
        elif kind == "shape":
            action = action[:-1]
            message = "must have shape"
        else:
            action = action.astype(np.float64)
            message = "int dtype"
        before = {key: value.copy() for key, value in self.obs.items()}
        try:
            self.env.step(action)
        except ValueError as err:
            assert message in str(err) and "action" in str(err)
        else:
            raise AssertionError(f"invalid action ({kind}) was accepted: {action}")
        # the rejected step changed nothing the agent can see...
        after = {key: value[0] for key, value in self.env.population.observations().items()}
        for key in before:
            assert np.array_equal(before[key], after[key]), key

    @precondition(lambda self: self.done)
    @rule()
    def step_after_truncation_is_refused(self):
        try:
            self.env.step(np.arange(K))
        except RuntimeError as err:
            assert "reset()" in str(err)
        else:
            raise AssertionError("a step after truncation was accepted")

    @invariant()
    def observation_is_in_the_space(self):
        if hasattr(self, "env"):
            assert self.env.observation_space.contains(self.obs)


TestEnvMachine = EnvMachine.TestCase
