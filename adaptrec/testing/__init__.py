"""Hypothesis strategies for adaptrec's arrays and objects, for your own rankers' tests too.

    from hypothesis import given
    from adaptrec.testing import strategies as ars

    @given(ars.score_matrices(), ars.slate_sizes())
    def test_my_ranker(scores, k): ...

Needs ``hypothesis`` (``pip install 'adaptrec[test]'``).
"""

from adaptrec.testing import strategies

__all__ = ["strategies"]
