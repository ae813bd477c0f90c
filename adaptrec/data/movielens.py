"""MovieLens loaders: ml-latest / ml-latest-small, ml-100k and ml-1m, detected from the files.

:func:`load_movielens` takes a directory and returns a :class:`RatingsData`: ratings as index
arrays into sorted user and movie ids, and for each movie its title, genres and most frequent user
tags, from which :meth:`RatingsData.texts` writes the text the language model reads, e.g.
``"Heat (1995). Genres: Action, Crime, Thriller. Tags: Al Pacino, heist."``.

Formats (GroupLens' own layouts):

========================  ==========================================  ========  =============
format                    files                                       encoding  separator
========================  ==========================================  ========  =============
ml-latest(-small), 20m+   ratings.csv, movies.csv, [tags.csv]         UTF-8     CSV, header
ml-100k                   u.data, u.item, u.genre                     Latin-1   tab / ``|``
ml-1m                     ratings.dat, movies.dat                     Latin-1   ``::``
========================  ==========================================  ========  =============
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from adaptrec.core.catalog import Catalog

# format -> (required files, optional files)
FORMATS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ml-latest": (("ratings.csv", "movies.csv"), ("tags.csv",)),
    "ml-100k": (("u.data", "u.item", "u.genre"), ()),
    "ml-1m": (("ratings.dat", "movies.dat"), ()),
}
_ACCEPTED = (
    "ml-latest/ml-latest-small (ratings.csv, movies.csv, optional tags.csv), "
    "ml-100k (u.data, u.item, u.genre) or ml-1m (ratings.dat, movies.dat)"
)
# "American President, The (1995)" -> "The American President (1995)": the language model reads
# titles as people write them.
_ARTICLE = re.compile(
    r"^(?P<name>.+?), (?P<article>The|A|An|Les|La|Le|L'|Il|El|Die|Das|Der|Los|Las)"
    r"(?P<rest>\s+\(.*)?$"
)
_NO_GENRES = {"(no genres listed)", "unknown", ""}


class DataFormatError(ValueError):
    """A data directory or file is not in a MovieLens format."""


@dataclass(frozen=True)
class RatingsData:
    """Ratings and movie descriptions of one MovieLens release.

    Attributes:
        format: ``'ml-latest'``, ``'ml-100k'`` or ``'ml-1m'``.
        path: the directory read.
        files: the files read (their bytes define :meth:`content_digest`).
        user_ids: ``(U,)`` int64 original user ids, sorted.
        movie_ids: ``(M,)`` int64 original movie ids, sorted; every listed movie, rated or not.
        titles, genres, tags: per movie (``M`` entries); tags are the most frequent user tags,
            most frequent first (empty where the release has no tags).
        user, item: ``(R,)`` int32 rows into ``user_ids`` / ``movie_ids`` of each rating.
        rating: ``(R,)`` float32 stars (0.5-5).
        timestamp: ``(R,)`` int64 seconds since the epoch.
    """

    format: str
    path: Path
    files: tuple[Path, ...]
    user_ids: np.ndarray
    movie_ids: np.ndarray
    titles: tuple[str, ...]
    genres: tuple[tuple[str, ...], ...]
    tags: tuple[tuple[str, ...], ...]
    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_movies(self) -> int:
        return len(self.movie_ids)

    @property
    def n_ratings(self) -> int:
        return len(self.rating)

    def texts(self, tags_per_item: int = 3) -> list[str]:
        """One description per movie: ``"Title (year). Genres: a, b. Tags: x, y."``."""
        return [
            item_text(title, genres, tags[:tags_per_item])
            for title, genres, tags in zip(self.titles, self.genres, self.tags, strict=True)
        ]

    def content_digest(self) -> str:
        """SHA-256 (hex) of the bytes of the files read: the cache key of anything fitted."""
        return files_digest(self.files)


def files_digest(files: tuple[Path, ...] | list[Path]) -> str:
    """SHA-256 (hex) over the names and bytes of ``files``, in order."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def item_text(title: str, genres: tuple[str, ...], tags: tuple[str, ...]) -> str:
    """The language model's view of a movie, e.g. ``"Heat (1995). Genres: Action, Crime."``."""
    match = _ARTICLE.match(title.strip())
    if match:
        title = f"{match['article']} {match['name']}{match['rest'] or ''}"
    text = title.strip() + "."
    if genres:
        text += " Genres: " + ", ".join(genres) + "."
    if tags:
        text += " Tags: " + ", ".join(tags) + "."
    return text


def detect_format(path: str | os.PathLike[str]) -> tuple[str, tuple[Path, ...]]:
    """The MovieLens format of directory ``path`` and the files to read (required, then optional
    ones that exist). A wrong or partial directory raises :class:`DataFormatError` naming the
    missing files and the formats accepted."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataFormatError(
            f"MovieLens path must be a directory holding {_ACCEPTED}; got {str(folder)!r} "
            "(no such directory)"
        )
    best, best_found = "", -1
    for name, (required, optional) in FORMATS.items():
        present = [f for f in required if (folder / f).is_file()]
        if len(present) == len(required):
            files = [folder / f for f in required]
            files += [folder / f for f in optional if (folder / f).is_file()]
            return name, tuple(files)
        if len(present) > best_found:
            best, best_found = name, len(present)
    if best_found <= 0:
        raise DataFormatError(
            f"{str(folder)!r} is not a MovieLens directory: none of the expected files; "
            f"expected {_ACCEPTED}"
        )
    missing = [f for f in FORMATS[best][0] if not (folder / f).is_file()]
    raise DataFormatError(
        f"{str(folder)!r} looks like {best} but lacks {', '.join(missing)}; expected {_ACCEPTED}"
    )


def load_movielens(path: str | os.PathLike[str]) -> RatingsData:
    """Read the MovieLens release in directory ``path`` (format detected from its files)."""
    fmt, files = detect_format(path)
    by_name = {f.name: f for f in files}
    if fmt == "ml-latest":
        movies = _read_latest_movies(by_name["movies.csv"])
        ratings = _read_csv(by_name["ratings.csv"], ["userId", "movieId", "rating", "timestamp"])
        tags = _read_latest_tags(by_name["tags.csv"]) if "tags.csv" in by_name else {}
    elif fmt == "ml-100k":
        movies = _read_100k_movies(by_name["u.item"], by_name["u.genre"])
        ratings = _read_delimited(by_name["u.data"], "\t")
        tags = {}
    else:
        movies = _read_1m_movies(by_name["movies.dat"])
        ratings = _read_delimited(by_name["ratings.dat"], "::")
        tags = {}
    return _assemble(fmt, Path(path), files, movies, ratings, tags)


# ---- readers ---------------------------------------------------------------------------------
Movies = dict[int, tuple[str, tuple[str, ...]]]  # movie id -> (title, genres)
Ratings = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # user, movie, stars, time


def _read_csv(path: Path, columns: list[str]) -> Ratings:
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types={
                    "userId": pa.int64(),
                    "movieId": pa.int64(),
                    "rating": pa.float32(),
                    "timestamp": pa.int64(),
                },
            ),
        )
    except (pa.ArrowInvalid, KeyError) as err:
        raise DataFormatError(
            f"{path} is not a MovieLens ratings file with columns {', '.join(columns)}: {err}"
        ) from err
    return tuple(table[c].to_numpy() for c in columns)  # type: ignore[return-value]


def _read_delimited(path: Path, separator: str) -> Ratings:
    """``user SEP movie SEP stars SEP timestamp`` lines (ml-100k ``u.data``, ml-1m)."""
    text = path.read_bytes().decode("latin-1")
    if separator != "\t":
        text = text.replace(separator, "\t")  # numeric fields only: safe
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode()),
            read_options=pacsv.ReadOptions(column_names=["u", "m", "r", "t"]),
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(
                column_types={"u": pa.int64(), "m": pa.int64(), "r": pa.float32(), "t": pa.int64()}
            ),
        )
    except pa.ArrowInvalid as err:
        raise DataFormatError(
            f"{path} is not a MovieLens ratings file (user{separator}movie{separator}rating"
            f"{separator}timestamp per line): {err}"
        ) from err
    return tuple(table[c].to_numpy() for c in "umrt")  # type: ignore[return-value]


def _split_genres(field: str) -> tuple[str, ...]:
    return tuple(g for g in field.strip().split("|") if g not in _NO_GENRES)


def _read_latest_movies(path: Path) -> Movies:
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={"movieId": pa.int64(), "title": pa.string(), "genres": pa.string()}
        ),
    )
    if not {"movieId", "title", "genres"} <= set(table.column_names):
        raise DataFormatError(
            f"{path} must have columns movieId, title, genres; got {', '.join(table.column_names)}"
        )
    ids = table["movieId"].to_pylist()
    titles = pc.fill_null(table["title"], "").to_pylist()
    genres = pc.fill_null(table["genres"], "").to_pylist()
    return {i: (t, _split_genres(g)) for i, t, g in zip(ids, titles, genres, strict=True)}


def _read_latest_tags(path: Path) -> dict[int, Counter]:
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            include_columns=["movieId", "tag"],
            column_types={"movieId": pa.int64(), "tag": pa.string()},
        ),
    )
    counts: dict[int, Counter] = {}
    for movie, tag in zip(table["movieId"].to_pylist(), table["tag"].to_pylist(), strict=True):
        if tag and tag.strip():
            counts.setdefault(movie, Counter())[tag.strip()] += 1
    return counts


def _read_100k_movies(item_path: Path, genre_path: Path) -> Movies:
    names: dict[int, str] = {}
    for line in genre_path.read_bytes().decode("latin-1").splitlines():
        if line.strip():
            name, _, index = line.rpartition("|")
            names[int(index)] = name
    genre_names = [names[i] for i in sorted(names)]
    movies: Movies = {}
    for number, line in enumerate(item_path.read_bytes().decode("latin-1").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        flags = fields[5:]
        if len(fields) < 5 or len(flags) != len(genre_names):
            raise DataFormatError(
                f"{item_path} line {number}: expected id|title|release|video|url and "
                f"{len(genre_names)} genre flags, got {len(fields)} fields"
            )
        genres = tuple(g for g, flag in zip(genre_names, flags, strict=True) if flag.strip() == "1")
        movies[int(fields[0])] = (fields[1], tuple(g for g in genres if g not in _NO_GENRES))
    return movies


def _read_1m_movies(path: Path) -> Movies:
    movies: Movies = {}
    for number, line in enumerate(path.read_bytes().decode("latin-1").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("::")
        if len(fields) != 3:
            raise DataFormatError(
                f"{path} line {number}: expected MovieID::Title::Genres, got {line!r}"
            )
        movies[int(fields[0])] = (fields[1], _split_genres(fields[2]))
    return movies


def _top_tags(counts: Counter) -> tuple[str, ...]:
    """Tags by frequency, case-insensitively merged, each in its most used spelling; ties by
    name so the text does not depend on file order."""
    merged: dict[str, Counter] = {}
    for tag, n in counts.items():
        merged.setdefault(tag.lower(), Counter())[tag] += n
    ranked = sorted(merged.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return tuple(min(spellings, key=lambda s: (-spellings[s], s)) for _, spellings in ranked)


def _assemble(
    fmt: str,
    path: Path,
    files: tuple[Path, ...],
    movies: Movies,
    ratings: Ratings,
    tags: dict[int, Counter],
) -> RatingsData:
    users, movie_of_rating, stars, time = ratings
    if not len(stars):
        raise DataFormatError(f"{files[0]} holds no ratings")
    if not np.all(np.isfinite(stars)) or stars.min() < 0 or stars.max() > 5:
        raise DataFormatError(
            f"ratings in {path} must be stars in [0, 5], got values in "
            f"[{float(np.nanmin(stars))}, {float(np.nanmax(stars))}]"
        )
    movie_ids = np.array(sorted(movies), dtype=np.int64)
    item = np.searchsorted(movie_ids, movie_of_rating)
    unknown = (item >= len(movie_ids)) | (
        movie_ids[np.minimum(item, len(movie_ids) - 1)] != movie_of_rating
    )
    if unknown.any():
        raise DataFormatError(
            f"ratings in {path} refer to movie {int(movie_of_rating[unknown][0])}, which the "
            "movie file does not list"
        )
    user_ids, user = np.unique(users, return_inverse=True)
    return RatingsData(
        format=fmt,
        path=path,
        files=files,
        user_ids=user_ids.astype(np.int64),
        movie_ids=movie_ids,
        titles=tuple(movies[int(m)][0] for m in movie_ids),
        genres=tuple(movies[int(m)][1] for m in movie_ids),
        tags=tuple(_top_tags(tags[int(m)]) if int(m) in tags else () for m in movie_ids),
        user=user.astype(np.int32),
        item=item.astype(np.int32),
        rating=stars.astype(np.float32),
        timestamp=time.astype(np.int64),
    )


_YEAR = re.compile(r"\((\d{4})\)\.")


def release_years(texts: tuple[str, ...] | list[str]) -> np.ndarray:
    """``(N,)`` int64: each movie's release year, read from its text (``"Title (1995). ..."``;
    0 where the title has none)."""
    years = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        found = _YEAR.search(text)
        if found:
            years[i] = int(found.group(1))
    return years


def in_release_order(catalog: Catalog) -> Catalog:
    """The catalog with its movies renumbered in order of release (year, then the original
    order), so that a changing catalog (:mod:`adaptrec.core.arrivals`) brings them out as they
    came out. Users are untouched: their tastes are over the movies' hidden factors."""
    order = np.argsort(release_years(catalog.texts), kind="stable")
    return dataclasses.replace(
        catalog,
        texts=tuple(catalog.texts[i] for i in order),
        topics=catalog.topics[order],
        quality=catalog.quality[order],
        item_bias=None if catalog.item_bias is None else catalog.item_bias[order],
        provenance={**(catalog.provenance or {}), "item_order": "release year"},
    )
