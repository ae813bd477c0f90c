"""The seed agent, "LLM predictor + cosine", and everything only it uses.

- :mod:`.agent`: :class:`LLMCosineAgent`, the act/update loop (user vectors, exploration);
- :mod:`.predictor`: :class:`BehaviorPredictor`, P(y|x) = sigmoid(MLP(embed(x))) in torch;
- :mod:`.retrieval`: exact top-``c`` candidates by cosine (compiled);
- :mod:`.rerank`: cos x P of the candidates with the predictor split into compiled kernels;
- :mod:`.parallel_blas`: the row-split float32 products the agent's hot path uses.

The ranking rules themselves (cosine, ``cos * p``, top-k ties) are in
:mod:`adaptrec.core.ranking`, shared with the simulator and the other agents.
"""

from adaptrec.agents.llm_cosine.agent import LLMCosineAgent
from adaptrec.agents.llm_cosine.predictor import BehaviorPredictor

__all__ = ["BehaviorPredictor", "LLMCosineAgent"]
