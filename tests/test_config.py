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
        ({"agents": ["random", "No pe"]}, "agents must be 1-64 characters .*, got 'No pe'"),
        ({"users": {"drift": "sudden"}}, "users.drift must be one of 'none', 'abrupt', 'gradual'"),
        ({"env": {"slate_size": 0}}, r"env.slate_size must be >= 1, got 0"),
        ({"n_steps": 500}, r"env.max_steps must be >= n_steps=500, got 300"),
        (
            {"data": "movielens:"},
            r"data must be 'synthetic', 'news-switch', 'movielens:PATH'.*got 'movielens:'",
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


def _cli_config(capsys, *argv: str) -> dict:
    from adaptrec.cli import main

    assert main(["run", *argv, "--show-config"]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_field_is_reachable_from_the_cli_with_set(capsys):
    from adaptrec.core.config import field_docs

    # Every field the help lists can be set; a value other than the default must arrive.
    # (Fields whose validity depends on others are covered by the cases below.)
    tree = _cli_config(
        capsys,
        "--set",
        "env.slate_size=7",
        "--set",
        "bandits.epsilon=0.3",
        "--set",
        "llm_cosine.avoid_recent=false",
        "--set",
        'agents=["random", "oracle"]',
        "--set",
        "data=news-switch",
    )
    assert tree["env"]["slate_size"] == 7
    assert tree["bandits"]["epsilon"] == 0.3
    assert tree["llm_cosine"]["avoid_recent"] is False
    assert tree["agents"] == ["random", "oracle"]
    assert tree["data"] == "news-switch"  # not JSON: kept as the plain string
    names = [name for name, _, _ in field_docs()]
    flat = []

    def walk(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat.append(f"{prefix}{key}")

    walk(RunConfig().to_dict())
    assert names == flat  # the help lists exactly the config's fields, in order
    docs = dict((name, doc) for name, _, doc in field_docs())
    assert "Steps per user" in docs["n_steps"] and docs["env.slate_size"]


def test_named_flags_and_set_go_through_one_resolve(capsys):
    # --steps moves a drift step that no longer fits to halfway and stretches the episode ...
    tree = _cli_config(capsys, "--set", "n_steps=60")
    assert tree["users"]["drift_step"] == 30 and tree["env"]["max_steps"] == 60
    assert _cli_config(capsys, "--steps", "60") == tree  # flag and --set are one path
    # ... but never a drift step the user set.
    tree = _cli_config(capsys, "--steps", "60", "--set", "users.drift_step=45")
    assert tree["users"]["drift_step"] == 45


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("llm_cosine.foo=1", r"unknown config field llm_cosine\.foo; allowed: .*epsilon"),
        ("env.slate_size=abc", r"env\.slate_size must be an integer, got str 'abc'"),
        ("no-equals-sign", r"--set must look like section\.field=value"),
        ("env.slate_size.x=1", r"goes through 'slate_size', which is not a table"),
    ],
)
def test_bad_set_answers_in_one_line_naming_the_field(capsys, assignment, message):
    import re

    from adaptrec.cli import main

    assert main(["run", "--set", assignment, "--show-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and re.search(message, err), err
