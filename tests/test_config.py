import json

import pytest

from adaptrec.core.config import RunConfig, UserConfig, default_run_config


def test_json_round_trip_preserves_every_field_and_digest():
    config = default_run_config(123, 77, seed=9, agents=("random", "oracle"), data="movielens:d")
    again = RunConfig.from_json(json.dumps(config.to_dict()))
    assert again == config
    assert again.digest() == config.digest()
    assert again.agents == ("random", "oracle")  # lists come back as tuples
    assert again.data == "movielens:d"


def test_default_drift_is_halfway_and_episode_spans_the_run():
    config = default_run_config(10, 80)
    assert config.users.drift_step == 40
    assert config.env.max_steps == 80


def test_unknown_field_names_the_path_and_the_allowed_fields():
    with pytest.raises(ValueError, match=r"unknown config field users\.speed; allowed: .*drift"):
        RunConfig.from_dict({"users": {"speed": 1}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"n_users": 0}, "n_users must be >= 1, got 0"),
        ({"threshold": 1.5}, "threshold must be <= 1, got 1.5"),
        ({"agents": ["random", "nope"]}, "agents must be one of .*; got 'nope'"),
        ({"users": {"drift": "sudden"}}, "users.drift must be one of 'none', 'abrupt', 'gradual'"),
        ({"env": {"slate_size": 0}}, r"env.slate_size must be >= 1, got 0"),
        ({"n_steps": 500}, r"env.max_steps must be >= n_steps=500, got 300"),
        (
            {"data": "movielens:"},
            r"data must be 'synthetic', 'news-switch' or 'movielens:PATH'.*got 'movielens:'",
        ),
        ({"calibration": {"factors": 0}}, r"calibration.factors must be >= 1, got 0"),
        ({"calibration": {"test_fraction": 0.9}}, r"calibration.test_fraction must be <= 0.5"),
    ],
)
def test_bad_values_name_the_field_the_expectation_and_the_value(data, message):
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict(data)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="n_users must be an integer, got str '5'"):
        RunConfig(n_users="5")
    with pytest.raises(TypeError, match=r"users\.drift_step must be an integer, got float"):
        UserConfig(drift_step=1.5)
