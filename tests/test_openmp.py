"""OpenMP's idle spin is limited at ``import adaptrec`` unless the user chose a wait policy
(adaptrec/_openmp.py: the loaded-machine collapse of issue 16)."""

import os
import subprocess
import sys

import pytest

from adaptrec._openmp import SPIN_COUNT, limit_spinning


def test_spin_is_limited_when_the_user_chose_nothing():
    environ: dict[str, str] = {}
    limit_spinning(environ)
    assert environ == {"GOMP_SPINCOUNT": SPIN_COUNT}
    assert int(SPIN_COUNT) < 300_000  # below libgomp's own default, or it changes nothing


@pytest.mark.parametrize("chosen", [{"GOMP_SPINCOUNT": "300000"}, {"OMP_WAIT_POLICY": "active"}])
def test_a_users_own_wait_policy_is_kept(chosen):
    environ = dict(chosen)
    limit_spinning(environ)
    assert environ == chosen


def test_import_adaptrec_sets_it_before_torch_and_numba_load():
    """The setting only works if libgomp has not loaded yet: ``import adaptrec`` must neither
    load torch or numba itself nor skip the setting."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
    }
    code = (
        "import os, sys, adaptrec\n"
        "print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [SPIN_COUNT, "False", "False"]
