"""Agents by name: the built-ins, agents registered from Python, and installed plugins.

A *factory* builds an agent for one run (or one shard of a run) from an
:class:`AgentContext`. It may return

* an object with ``act(observation) -> (B, k) int64 slates`` and ``update(batch) -> dict``
  (the protocol of :class:`adaptrec.agents.base.Agent`), or
* a plain policy function ``observation -> (B, k) slates``, which never learns.

Register one from Python with :func:`register`, or from an installed package with an entry
point in the group ``adaptrec.agents`` (``name = "module:factory"``); either then works
everywhere a built-in name does (``adaptrec run --agents``, ``compare``, ``sweep``, the
report, the Parquet logs, Ray workers).

Every agent draws its randomness from its own stream, whose index (:func:`stream_index`) is
fixed per name: the built-ins keep the indices they always had, and any other name's index is
derived from the name itself, so it never depends on what else is registered or in which
order.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptrec.core.config import AGENT_NAMES
from adaptrec.core.validation import check_agent_name

if TYPE_CHECKING:
    from adaptrec.agents.base import Agent
    from adaptrec.core.catalog import Catalog
    from adaptrec.core.config import RunConfig
    from adaptrec.envs.population import Population

ENTRY_POINT_GROUP = "adaptrec.agents"
_PLUGIN_STREAMS = 1 << 16  # plugin streams start here, far above any built-in index


@dataclass(frozen=True)
class AgentContext:
    """What a factory gets to build an agent for one run (or one shard of it).

    Attributes:
        name: the agent's name in this run (its Parquet log is ``steps/<name>.parquet``).
        config: the run's :class:`~adaptrec.core.config.RunConfig`.
        item_vectors: ``(n_items, dim)`` float32, the encoder's unit-length item vectors.
        catalog: the run's :class:`~adaptrec.core.catalog.Catalog` (texts, metadata; the hidden
            topics are the simulator's and a fair agent does not read them).
        seed: the run's root seed.
        stream: this agent's random-stream index (:func:`stream_index`); seed an agent's
            generator with ``numpy.random.SeedSequence(seed, spawn_key=(3, stream))`` or
            :meth:`rng`, and results stay reproducible whatever runs beside it.
        population: the simulator, for the oracle only (it reads hidden state).
    """

    name: str
    config: RunConfig
    item_vectors: np.ndarray
    catalog: Catalog
    seed: int
    stream: int
    population: Population

    @property
    def n_items(self) -> int:
        return int(self.item_vectors.shape[0])

    @property
    def slate_size(self) -> int:
        return int(self.config.env.slate_size)

    def rng(self) -> np.random.Generator:
        """A ``numpy.random.Generator`` on this agent's own stream of this run's seed."""
        from adaptrec.core.rng import Component, generator

        return generator(self.seed, Component.AGENT, self.stream)


Factory = Callable[[AgentContext], Any]

_BUILTIN: dict[str, str] = {name: "adaptrec.agents.builtin:make_builtin" for name in AGENT_NAMES}
_registered: dict[str, Factory] = {}
_entry_points: dict[str, Any] | None = None  # name -> importlib.metadata.EntryPoint, on first use


check_name = check_agent_name


def stream_index(name: str) -> int:
    """The random-stream index of agent ``name``: a built-in's historical position in
    :data:`~adaptrec.core.config.AGENT_NAMES`, else ``2**16`` plus 31 bits of the name's
    BLAKE2b hash (independent of registration order)."""
    if name in AGENT_NAMES:
        return AGENT_NAMES.index(name)
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    return _PLUGIN_STREAMS + (int.from_bytes(digest, "big") >> 1)


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make agent ``name`` available to runs in this process (and to their Ray workers).

    ``factory(context: AgentContext)`` returns an agent (``act``/``update``) or a policy
    function ``observation -> slates``. Built-in names cannot be replaced; another registered
    name can with ``replace=True``.
    """
    check_name(name)
    if not callable(factory):
        raise TypeError(
            f"factory for agent {name!r} must be callable (context -> agent), "
            f"got {type(factory).__name__}"
        )
    if name in _BUILTIN:
        raise ValueError(f"agent {name!r} is built in and cannot be replaced; pick another name")
    if name in _registered and not replace and _registered[name] is not factory:
        raise ValueError(f"agent {name!r} is already registered; pass replace=True to replace it")
    _registered[name] = factory


def unregister(name: str) -> None:
    """Forget an agent registered with :func:`register` (no error if it is not)."""
    _registered.pop(name, None)


def registered() -> dict[str, Factory]:
    """The agents registered from Python in this process, name -> factory (a copy); what a Ray
    worker needs to build them (:func:`register_all`)."""
    return dict(_registered)


def register_all(factories: Mapping[str, Factory]) -> None:
    """Register every ``name -> factory`` (replacing), e.g. in a Ray worker."""
    for name, factory in factories.items():
        register(name, factory, replace=True)


def _plugins() -> dict[str, Any]:
    global _entry_points
    if _entry_points is None:
        from importlib.metadata import entry_points

        _entry_points = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    return _entry_points


def names() -> tuple[str, ...]:
    """Every agent name known here: built-ins, then registered, then installed plugins."""
    extra = [name for name in (*_registered, *_plugins()) if name not in _BUILTIN]
    return (*AGENT_NAMES, *dict.fromkeys(extra))


def check_known(name: Any, argument: str = "agents") -> str:
    """``name`` if an agent of that name exists, else ``ValueError`` listing the known ones."""
    check_name(name, argument)
    if name in _BUILTIN or name in _registered or name in _plugins():
        return name
    raise ValueError(
        f"{argument} must name a built-in agent ({', '.join(AGENT_NAMES)}), one registered with "
        f"adaptrec.agents.register, or a plugin of the entry-point group {ENTRY_POINT_GROUP!r}; "
        f"got {name!r}"
    )


def factory_of(name: str) -> Factory:
    """The factory of agent ``name`` (loading its plugin if it is one)."""
    check_known(name, "agent")
    if name in _BUILTIN:
        module, attribute = _BUILTIN[name].split(":")
        return getattr(importlib.import_module(module), attribute)
    if name in _registered:
        return _registered[name]
    point = _plugins()[name]
    try:
        factory = point.load()
    except Exception as err:  # a broken plugin is the plugin's fault: say which one, in a line
        raise ImportError(
            f"agent plugin {name!r} ({point.value}) failed to load: {type(err).__name__}: {err}"
        ) from err
    if not callable(factory):
        raise TypeError(
            f"agent plugin {name!r} ({point.value}) must be a callable factory, "
            f"got {type(factory).__name__}"
        )
    return factory


def make_agent(
    name: str, config: RunConfig, item_vectors: np.ndarray, population: Population
) -> Agent:
    """Build agent ``name`` for a run; agents other than the built-ins come back checked
    (:class:`~adaptrec.agents.plugin.CheckedAgent`)."""
    from adaptrec.agents.plugin import as_agent

    factory = factory_of(name)
    context = AgentContext(
        name=name,
        config=config,
        item_vectors=item_vectors,
        catalog=population.catalog,
        seed=config.seed,
        stream=stream_index(name),
        population=population,
    )
    built = factory(context)
    if name in _BUILTIN:
        return built
    return as_agent(name, built, context.n_items, context.slate_size)
