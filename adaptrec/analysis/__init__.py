"""Every figure adaptrec reports, defined once: adaptation curves (how high, how fast),
survival statistics of reaching a share of the oracle, windowed times, regret, bootstrap
intervals, the pooling of seeds, the agent order, the words and the plots.

``adaptrec.report`` (a run), ``adaptrec.compare`` (scenarios x seeds) and ``adaptrec.sweep``
(points x seeds) all call :func:`analyse_agents` / :func:`agent_figures`.
"""

from adaptrec.analysis.summary import (
    METRICS,
    SEED_AGENT,
    AgentAnalysis,
    agent_figures,
    agent_order,
    analyse_agent,
    analyse_agents,
    load_run,
    pool_units,
)

__all__ = [
    "METRICS",
    "SEED_AGENT",
    "AgentAnalysis",
    "agent_figures",
    "agent_order",
    "analyse_agent",
    "analyse_agents",
    "load_run",
    "pool_units",
]
