"""PPO (Stable-Baselines3) on ``adaptrec/SlateRecRL-v0``, then measured by adaptrec's report.

    pip install -c constraints-cpu.txt -e '.[rl]'
    python experiments/ppo_sb3.py            # ~2 min on 2 cores

Trains PPO on a 100-item world (users 1,000,000 on: never the evaluation's users), with the
"slate" action: five item ids (``MultiDiscrete``; a repeated id is replaced by the next free
one). ``--action query`` (a vector in the MiniLM item space; the top 5 items by dot product)
and ``--action scores`` learn less here (see the README). Then ``adaptrec.run`` simulates users
0..199 under the trained policy (frozen, deterministic), the random agent and the seed agent,
and prints adaptrec's adaptation table.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
from gymnasium.wrappers import FilterObservation
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from adaptrec.rl import env_kwargs, evaluate_policy, item_vectors_of, rl_run_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=150_000, help="PPO environment steps")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--users", type=int, default=200, help="evaluation users")
    parser.add_argument("--steps", type=int, default=100, help="steps per user (episode)")
    parser.add_argument("--action", default="slate", choices=("query", "scores", "slate"))
    parser.add_argument("--envs", type=int, default=4, help="parallel training episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gamma", type=float, default=0.99, help="discount")
    parser.add_argument(
        "--log-std", type=float, default=-1.0, help="initial log std of the Gaussian policy"
    )
    parser.add_argument("--out", default="runs/ppo-sb3")
    parser.add_argument(
        "--keys",
        default="",
        help="observation keys the policy sees (default: all), comma-separated",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # small MLPs: threads cost more than they give on 2 cores

    config = rl_run_config(args.items, args.users, args.steps, seed=args.seed)
    vectors = item_vectors_of(config)  # MiniLM, as the run will encode the catalog
    keys = args.keys.split(",") if args.keys else None

    def make_env(i: int) -> gym.Env:
        kwargs = env_kwargs(config, vectors, args.action, first_user=10**6 + i,
                            user_stride=args.envs)  # fmt: skip
        env = gym.make("adaptrec/SlateRecRL-v0", **kwargs)
        return FilterObservation(env, keys) if keys else env

    envs = DummyVecEnv([lambda i=i: make_env(i) for i in range(args.envs)])
    envs.seed(args.seed)
    model = PPO(
        "MultiInputPolicy",
        envs,
        n_steps=256,
        batch_size=256,
        gamma=args.gamma,
        policy_kwargs={"log_std_init": args.log_std} if args.action != "slate" else None,
        seed=args.seed,
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(args.timesteps)
    trained = time.perf_counter() - started
    print(f"trained PPO for {args.timesteps} steps in {trained:.0f} s")

    def predict(observation):
        if keys:
            observation = {key: observation[key] for key in keys}
        return model.predict(observation, deterministic=True)[0]

    result = evaluate_policy(config, "ppo", predict, args.action, args.out)
    print(result.table())
    print(f"wrote {result.out_dir}; wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
