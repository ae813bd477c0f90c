"""Items: ids, text descriptions and hidden attributes; a seeded synthetic catalog generator.

Each synthetic item has a hidden topic mixture (a main topic plus a secondary one) and a hidden
quality. Its description is written from those topics ("Slow-burning crime drama set in 1970s
Naples, with a love affair"), so a pretrained language model's embedding of the text carries real
but imperfect signal about the hidden attributes: the secondary topic is mentioned only when it
is strong, quality is not mentioned at all, and the phrasing varies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adaptrec.core.config import ArrivalConfig, CatalogConfig
from adaptrec.core.rng import Component, generator

# name, adjectives, heads, details, touches (how the topic is named when it is secondary)
TOPICS: tuple[
    tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...
] = (
    (
        "crime",
        ("Slow-burning", "Gritty", "Tense", "Hard-boiled"),
        ("crime drama", "detective thriller", "mafia saga", "heist film"),
        (
            "set in 1970s Naples",
            "about a corrupt police precinct",
            "following a retired inspector",
            "in the back streets of Marseille",
        ),
        ("a murder investigation", "a double-crossing gangster", "a bank robbery"),
    ),
    (
        "cooking",
        ("Quick", "Hearty", "Easy", "Rustic"),
        ("weeknight recipes", "baking guide", "family cookbook", "cooking show"),
        (
            "for vegetarian pasta",
            "with seasonal vegetables",
            "from a Tuscan grandmother",
            "for one-pot dinners",
        ),
        ("home-cooked meals", "a chef's favourite recipes", "street food"),
    ),
    (
        "space",
        ("Epic", "Cerebral", "Visionary", "Claustrophobic"),
        ("space opera", "science-fiction novel", "starship adventure", "first-contact story"),
        (
            "aboard a generation ship",
            "on a terraformed Mars colony",
            "at the edge of the galaxy",
            "about a lost astronaut",
        ),
        ("interstellar travel", "alien civilisations", "a rogue spaceship"),
    ),
    (
        "travel",
        ("Sun-drenched", "Budget", "Off-the-beaten-path", "Leisurely"),
        ("travel guide", "road-trip diary", "backpacking documentary", "city walking tour"),
        (
            "through the Greek islands",
            "across Patagonia",
            "in the old quarter of Lisbon",
            "along Japan's rail lines",
        ),
        ("a journey abroad", "hidden beaches", "a train across Europe"),
    ),
    (
        "fitness",
        ("High-intensity", "Beginner-friendly", "Twenty-minute", "Progressive"),
        ("workout plan", "strength training programme", "running coach", "yoga routine"),
        (
            "for building core strength",
            "to train for a first marathon",
            "with no equipment at home",
            "for flexibility and balance",
        ),
        ("daily exercise", "a training montage", "a marathon runner"),
    ),
    (
        "finance",
        ("Practical", "No-nonsense", "Long-term", "Frugal"),
        ("personal finance guide", "investing podcast", "budgeting workbook", "money masterclass"),
        (
            "on index funds and retirement",
            "for paying off student debt",
            "about saving for a house",
            "on tax-efficient saving",
        ),
        ("a stock-market crash", "family budgeting", "a startup's finances"),
    ),
    (
        "gardening",
        ("Organic", "Small-space", "Seasonal", "Wildlife-friendly"),
        ("gardening handbook", "allotment diary", "balcony garden series", "plant-care guide"),
        (
            "for growing tomatoes and herbs",
            "on composting and soil health",
            "for a shady city courtyard",
            "about pruning fruit trees",
        ),
        ("a walled garden", "rare orchids", "a vegetable patch"),
    ),
    (
        "history",
        ("Sweeping", "Meticulous", "Revisionist", "Vivid"),
        (
            "history of the Second World War",
            "biography of a Roman emperor",
            "chronicle of the Ottoman empire",
            "account of the French Revolution",
        ),
        (
            "drawn from wartime letters",
            "told through everyday lives",
            "with newly opened archives",
            "from the point of view of ordinary soldiers",
        ),
        ("a historical backdrop", "wartime Europe", "an ancient empire"),
    ),
    (
        "jazz",
        ("Smoky", "Improvised", "Late-night", "Swinging"),
        ("jazz album", "bebop live recording", "portrait of a saxophonist", "big-band concert"),
        (
            "recorded in a Harlem club",
            "with a walking double bass",
            "from the golden age of Blue Note",
            "featuring a trumpet quartet",
        ),
        ("a jazz soundtrack", "a smoky nightclub", "a piano trio"),
    ),
    (
        "football",
        ("Thrilling", "Behind-the-scenes", "Tactical", "Underdog"),
        (
            "football documentary",
            "match analysis show",
            "biography of a striker",
            "season review of a club",
        ),
        (
            "about a relegation battle",
            "inside a Premier League dressing room",
            "on the World Cup final",
            "following a lower-league team",
        ),
        ("a football rivalry", "a cup final", "a star goalkeeper"),
    ),
    (
        "romance",
        ("Heart-warming", "Bittersweet", "Swoon-worthy", "Tender"),
        ("romantic comedy", "love story", "period romance", "wedding drama"),
        (
            "about two rival bakers",
            "set during a Paris summer",
            "between childhood friends",
            "in a small seaside town",
        ),
        ("a love affair", "a second-chance romance", "a wedding"),
    ),
    (
        "horror",
        ("Terrifying", "Atmospheric", "Blood-curdling", "Eerie"),
        ("horror film", "ghost story", "haunted-house tale", "supernatural thriller"),
        (
            "in an abandoned asylum",
            "about a cursed village",
            "set in a snowbound cabin",
            "with a possessed doll",
        ),
        ("a haunting", "something lurking in the dark", "a chilling curse"),
    ),
    (
        "parenting",
        ("Gentle", "Honest", "Reassuring", "Evidence-based"),
        (
            "parenting guide",
            "podcast for new parents",
            "toddler sleep handbook",
            "family life column",
        ),
        (
            "on surviving the first year",
            "about raising teenagers",
            "for tantrums and bedtime",
            "on balancing work and family",
        ),
        ("a new baby", "family life", "raising twins"),
    ),
    (
        "programming",
        ("Hands-on", "In-depth", "Beginner's", "Advanced"),
        (
            "Python tutorial",
            "software engineering course",
            "guide to distributed systems",
            "coding bootcamp series",
        ),
        (
            "on writing clean, tested code",
            "for building web APIs",
            "about debugging concurrency",
            "on machine learning from scratch",
        ),
        ("a software startup", "a hacker", "an artificial intelligence"),
    ),
    (
        "wildlife",
        ("Breathtaking", "Intimate", "Award-winning", "Wild"),
        ("nature documentary", "wildlife photography book", "safari series", "ocean life film"),
        (
            "about snow leopards in the Himalayas",
            "following elephants across the savannah",
            "on coral reefs and sharks",
            "about birds of the Arctic tundra",
        ),
        ("animals in the wild", "a whale migration", "a wolf pack"),
    ),
    (
        "fashion",
        ("Chic", "Avant-garde", "Sustainable", "Glamorous"),
        ("fashion magazine feature", "style guide", "designer documentary", "runway review"),
        (
            "on Milan fashion week",
            "about vintage denim",
            "for a capsule wardrobe",
            "inside a couture atelier",
        ),
        ("designer clothes", "a fashion house", "a catwalk"),
    ),
    (
        "comedy",
        ("Hilarious", "Deadpan", "Irreverent", "Laugh-out-loud"),
        ("stand-up special", "sitcom", "sketch show", "comic novel"),
        (
            "about office life",
            "about a dysfunctional family",
            "from a touring comedian",
            "set in a chaotic restaurant kitchen",
        ),
        ("plenty of jokes", "a comic sidekick", "slapstick humour"),
    ),
    (
        "politics",
        ("Incisive", "Provocative", "Balanced", "Hard-hitting"),
        ("political analysis", "election documentary", "investigative report", "policy podcast"),
        (
            "on parliamentary power struggles",
            "about a presidential campaign",
            "on voting and democracy",
            "about lobbying and corruption",
        ),
        ("a political scandal", "an election", "a campaign trail"),
    ),
    (
        "cars",
        ("High-octane", "Nostalgic", "Expert", "Fast-paced"),
        (
            "car review show",
            "motorsport documentary",
            "classic-car restoration series",
            "road test",
        ),
        (
            "of electric sports cars",
            "about Formula One rivalries",
            "on restoring a 1960s roadster",
            "of family SUVs",
        ),
        ("a car chase", "a racing driver", "vintage cars"),
    ),
    (
        "poetry",
        ("Lyrical", "Haunting", "Luminous", "Spare"),
        ("poetry collection", "book of sonnets", "spoken-word album", "anthology of verse"),
        (
            "about grief and the sea",
            "on love and memory",
            "from a young Irish poet",
            "inspired by the changing seasons",
        ),
        ("poetic language", "a poet's letters", "lyrical verse"),
    ),
    (
        "astronomy",
        ("Awe-inspiring", "Accessible", "Mind-bending", "Illustrated"),
        (
            "astronomy guide",
            "popular science book on black holes",
            "stargazing handbook",
            "cosmology lecture series",
        ),
        (
            "on the birth of the universe",
            "for backyard telescopes",
            "about exoplanets",
            "on gravitational waves",
        ),
        ("the night sky", "black holes", "a solar eclipse"),
    ),
    (
        "health",
        ("Clear", "Compassionate", "Science-backed", "Everyday"),
        ("medical drama", "health guide", "nutrition podcast", "mental health memoir"),
        (
            "set in a busy emergency room",
            "on sleep and stress",
            "about heart health",
            "on living with anxiety",
        ),
        ("a hospital", "a doctor's dilemma", "healthy habits"),
    ),
    (
        "games",
        ("Addictive", "Story-rich", "Retro", "Competitive"),
        ("video game", "role-playing game", "esports documentary", "puzzle game"),
        (
            "with a pixel-art open world",
            "about a professional gaming team",
            "set in a post-apocalyptic city",
            "with co-op multiplayer",
        ),
        ("a video game", "an arcade", "a gaming tournament"),
    ),
    (
        "art",
        ("Luminous", "Scholarly", "Colourful", "Intimate"),
        ("art history book", "museum tour", "painting masterclass", "artist biography"),
        (
            "on the Impressionists",
            "about Renaissance Florence",
            "on watercolour landscapes",
            "about Frida Kahlo",
        ),
        ("a famous painting", "an art gallery", "a sculptor's studio"),
    ),
)

# Below this secondary-topic share the description leaves the secondary topic out.
_MENTION_SECONDARY = 0.2


@dataclass(frozen=True)
class UserPool:
    """Real people's fitted tastes, from which calibrated simulated users are drawn.

    Attributes:
        preferences: ``(R, n_topics)`` float64, one row per real user, in the catalog's hidden
            feature space: a user's click logit for item ``i`` is
            ``item_bias[i] + preferences[u] . topics[i]``.
        user_ids: ``(R,)`` int64 the real users' ids in the source data.
    """

    preferences: np.ndarray
    user_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)


@dataclass(frozen=True)
class Catalog:
    """A catalog of ``n`` items: what agents see (texts) and what users respond to (hidden).

    Attributes:
        item_ids: ``(n,)`` int64, ``0..n-1``; the action space indexes items by position.
        texts: ``n`` descriptions, the only item information agents may read.
        topics: ``(n, n_topics)`` float64 hidden item features: topic mixtures (rows sum to 1)
            for synthetic catalogs, fitted latent factors for calibrated ones.
        quality: ``(n,)`` float64 hidden quality in [0, 1].
        topic_names: names of the hidden features.
        item_bias: ``(n,)`` float64 click logit of each item for a user of zero preference, or
            ``None``: then ``users.click_intercept + users.quality_weight * (quality - 0.5)``.
        user_pool: real users to draw simulated users from, or ``None`` (synthetic tastes).
        provenance: where the catalog came from and how well any fit holds (JSON-able); logged
            with every run and shown in its report.
        arrivals: when items arrive and expire (:mod:`adaptrec.core.arrivals`); the default
            is a fixed catalog.
    """

    item_ids: np.ndarray
    texts: tuple[str, ...]
    topics: np.ndarray
    quality: np.ndarray
    topic_names: tuple[str, ...]
    item_bias: np.ndarray | None = None
    user_pool: UserPool | None = None
    provenance: dict | None = None
    arrivals: ArrivalConfig = field(default_factory=ArrivalConfig)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def changes(self) -> bool:
        """Whether items arrive and expire during a run."""
        return self.arrivals.changes

    def live_bounds(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` int64 shaped like ``steps``: the ids live at each step."""
        from adaptrec.core.arrivals import live_bounds

        return live_bounds(self.arrivals, self.n_items, steps)

    @property
    def n_topics(self) -> int:
        return self.topics.shape[1]


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    """``rng.choice(options)``: the same draw (``choice`` without weights draws
    ``integers(0, len)``; tested), without converting ``options`` to an array each time, which
    took four fifths of a 10,000-item catalog's build."""
    return options[int(rng.integers(0, len(options)))]


def _describe(rng: np.random.Generator, main: int, secondary: int, share: float) -> str:
    _, adjectives, heads, details, _ = TOPICS[main]
    text = f"{_pick(rng, adjectives)} {_pick(rng, heads)} {_pick(rng, details)}"
    if share >= _MENTION_SECONDARY:
        touches = TOPICS[secondary][4]
        text += f", with {_pick(rng, touches)}"
    return text + "."


def make_catalog(config: CatalogConfig, seed: int) -> Catalog:
    """Generate a synthetic catalog from ``config`` on the catalog stream of root ``seed``."""
    rng = generator(seed, Component.CATALOG)
    n, n_topics = config.n_items, config.n_topics
    main = rng.integers(0, n_topics, size=n)
    # Secondary topic: any other topic, uniformly.
    secondary = (main + rng.integers(1, n_topics, size=n)) % n_topics
    mean = config.secondary_topic_weight
    # Half a Beta with mean 2 * mean (concentration 4): the main topic always dominates.
    share = 0.5 * rng.beta(8 * mean, 4 * (1 - 2 * mean), size=n) if mean > 0 else np.zeros(n)
    topics = np.zeros((n, n_topics))
    topics[np.arange(n), main] = 1 - share
    topics[np.arange(n), secondary] += share
    quality = rng.beta(config.quality_alpha, config.quality_beta, size=n)
    texts = tuple(
        _describe(rng, int(m), int(s), float(w))
        for m, s, w in zip(main, secondary, share, strict=True)
    )
    return Catalog(
        item_ids=np.arange(n, dtype=np.int64),
        texts=texts,
        topics=topics,
        quality=quality,
        topic_names=tuple(t[0] for t in TOPICS[:n_topics]),
    )
