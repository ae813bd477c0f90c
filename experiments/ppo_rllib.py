"""PPO (RLlib) on ``adaptrec/SlateRecRL-v0``, then measured by adaptrec's report.

    pip install -c constraints-cpu.txt -e '.[rl]'
    python experiments/ppo_rllib.py          # ~5 min on 2 cores

The same world and protocol as ``experiments/ppo_sb3.py`` (train on users 1,000,000 on with
the "slate" action; evaluate the frozen, deterministic policy on users 0..199 beside random
and the seed agent), with RLlib's PPO on its new API stack. RLlib's default model takes one
vector, so the env is wrapped in ``FlattenObservation`` and the evaluation flattens the same
way.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import ray
import torch
from gymnasium.wrappers import FlattenObservation
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.tune.registry import register_env

from adaptrec.rl import env_kwargs, evaluate_policy, item_vectors_of, rl_run_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=150_000, help="PPO environment steps")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--users", type=int, default=200, help="evaluation users")
    parser.add_argument("--steps", type=int, default=100, help="steps per user (episode)")
    parser.add_argument("--action", default="slate", choices=("query", "scores", "slate"))
    parser.add_argument("--batch", type=int, default=1024, help="env steps per PPO iteration")
    parser.add_argument("--gamma", type=float, default=0.99, help="discount")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/ppo-rllib")
    parser.add_argument("--verbose", action="store_true", help="print each iteration's return")
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = rl_run_config(args.items, args.users, args.steps, seed=args.seed)
    vectors = item_vectors_of(config)
    kwargs = env_kwargs(config, vectors, args.action)
    register_env(
        "adaptrec-rl", lambda _: FlattenObservation(gym.make("adaptrec/SlateRecRL-v0", **kwargs))
    )
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    algo = (
        PPOConfig()
        .environment("adaptrec-rl")
        # One env per runner: sub-envs of an RLlib vector env would all see the same users.
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .training(
            train_batch_size_per_learner=args.batch,
            minibatch_size=min(256, args.batch),
            num_epochs=10,
            gamma=args.gamma,
            lr=3e-4,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh"))
        .debugging(seed=args.seed)
        .build_algo()
    )
    started = time.perf_counter()
    done = 0
    while done < args.timesteps:
        result = algo.train()
        done = result["num_env_steps_sampled_lifetime"]
        returns = result.get("env_runners", {}).get("episode_return_mean")
        if args.verbose and returns is not None:
            print(f"{done:>8.0f} steps: mean episode return {returns:.1f}")
    trained = time.perf_counter() - started
    print(f"trained RLlib PPO for {done} steps in {trained:.0f} s")

    module = algo.get_module()
    space = gym.make("adaptrec/SlateRecRL-v0", **kwargs).observation_space

    def predict(observation):
        rows = [
            {key: value[b] for key, value in observation.items()}
            for b in range(len(observation["time"]))
        ]
        flat = np.stack([gym.spaces.flatten(space, row) for row in rows]).astype(np.float32)
        with torch.no_grad():
            out = module.forward_inference({"obs": torch.from_numpy(flat)})
        dist = module.get_inference_action_dist_cls().from_logits(out["action_dist_inputs"])
        return dist.to_deterministic().sample().numpy()

    result = evaluate_policy(config, "ppo-rllib", predict, args.action, args.out)
    algo.stop()
    ray.shutdown()
    print(result.table())
    print(f"wrote {result.out_dir}; wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
