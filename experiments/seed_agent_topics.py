"""Which of a user's favourite topics does the seed agent show? (the README's finding)

Runs the seed agent on the default users without drift and, every 30 steps, reports how often
the shown items' main topic is the user's favourite (rank 0) or among the top three, next to the
same share for the oracle's slates, and the shown expected clicks as a share of the oracle's.

    python experiments/seed_agent_topics.py [--users 300] [--steps 150] [--agent llm-cosine-seed]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from adaptrec.agents import StepBatch, make_agent
from adaptrec.core.catalog import make_catalog
from adaptrec.core.config import default_run_config
from adaptrec.core.encoders import make_encoder
from adaptrec.envs import UserPopulation
from adaptrec.rollout import torch_threads


def topic_ranks(population: UserPopulation, main_topic: np.ndarray, slates: np.ndarray):
    """``(B, k)`` rank of each shown item's main topic in the user's hidden preference."""
    order = np.argsort(-population.preference_, axis=1)
    rank_of_topic = np.argsort(order, axis=1)
    return np.take_along_axis(rank_of_topic, main_topic[slates], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--agent", default="llm-cosine", help="llm-cosine or llm-cosine-seed")
    args = parser.parse_args()

    config = default_run_config(args.users, args.steps)
    config = dataclasses.replace(config, users=dataclasses.replace(config.users, drift="none"))
    catalog = make_catalog(config.catalog, config.seed)
    vectors = make_encoder(config.encoder).encode(list(catalog.texts))
    population = UserPopulation(catalog, config.users, config.env)
    population.reset(np.arange(config.n_users), config.seed)
    agent = make_agent(args.agent, config, vectors, population)
    main_topic = catalog.topics.argmax(axis=1)
    print(
        "step | agent: favourite topic, top-3 topics | oracle: favourite, top-3 | share of oracle"
    )
    with torch_threads(config.torch_threads):  # results are the config's, on any machine
        for step in range(config.n_steps):
            slates = agent.act(population.observations())
            ranks = topic_ranks(population, main_topic, slates)
            oracle_ranks = topic_ranks(population, main_topic, population.oracle_slates())
            shown_at = population.step_.copy()
            outcome = population.step(slates)
            agent.update(
                StepBatch(
                    population.user_ids_,
                    shown_at,
                    slates,
                    outcome.clicked,
                    outcome.skipped,
                    outcome.dwell,
                    outcome.reward,
                )
            )
            if step % 30 == 29 or step == config.n_steps - 1:
                share = outcome.expected_clicks.mean() / outcome.oracle_expected_clicks.mean()
                print(
                    f"{step + 1:4d} | {(ranks == 0).mean():.2f}, {(ranks < 3).mean():.2f} | "
                    f"{(oracle_ranks == 0).mean():.2f}, {(oracle_ranks < 3).mean():.2f} | "
                    f"{share:.3f}"
                )


if __name__ == "__main__":
    main()
