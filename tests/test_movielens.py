"""MovieLens loaders: every format from fixture files written here, and ml-latest-small itself."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from adaptrec.data import DataFormatError, detect_format, item_text, load_movielens

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def write_latest(folder: Path, tags: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_text(
        "movieId,title,genres\r\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\r\n'
        "6,Heat (1995),Action|Crime|Thriller\r\n"
        "2017,Amélie (Fabuleux destin d'Amélie Poulain) (2001),Comedy|Romance\r\n"
        "9000,La cravate (1957),(no genres listed)\r\n",
        encoding="utf-8",
    )
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\r\n"
        "7,1,4.0,964982703\r\n7,6,2.5,964982704\r\n3,11,5.0,964982705\r\n"
        "3,2017,0.5,964982706\r\n3,1,3.0,964982707\r\n",
        encoding="utf-8",
    )
    if tags:
        (folder / "tags.csv").write_text(
            "userId,movieId,tag,timestamp\r\n"
            "7,6,Al Pacino,1\r\n3,6,heist,2\r\n7,6,al pacino,3\r\n3,6,Al Pacino,4\r\n"
            "3,1,pixar,5\r\n",
            encoding="utf-8",
        )
    return folder


def write_100k(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.genre").write_bytes(
        "".join(f"{g}|{i}\n" for i, g in enumerate(GENRES_100K)).encode("latin-1") + b"\n"
    )

    def flags(*names: str) -> str:
        return "|".join("1" if g in names else "0" for g in GENRES_100K)

    toy_story = flags("Animation", "Children's", "Comedy")
    rows = [
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{toy_story}",
        f"2|Cité des enfants perdus, La (1995)|01-Jan-1995||http://y|{flags('Sci-Fi')}",
        f"3|Nothing Known (1996)|01-Jan-1996||http://z|{flags()}",
    ]
    (folder / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    (folder / "u.data").write_text(
        "196\t1\t3\t881250949\n22\t2\t1\t881250950\n196\t3\t5\t881250951\n"
    )
    return folder


def write_1m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "2::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1")
    )
    (folder / "ratings.dat").write_text(
        "1::2::5::978300760\n1::1::3::978302109\n5::1::4::978301968\n"
    )
    return folder


def test_ml_latest_format_is_parsed_with_quotes_utf8_tags_and_no_genres(tmp_path: Path):
    data = load_movielens(write_latest(tmp_path / "latest"))
    assert data.format == "ml-latest"
    assert data.movie_ids.tolist() == [1, 6, 11, 2017, 9000]  # every listed movie, sorted
    assert data.user_ids.tolist() == [3, 7]
    assert (data.n_ratings, data.n_users, data.n_movies) == (5, 2, 5)
    by_id = dict(zip(data.movie_ids.tolist(), data.texts(), strict=True))
    # Quoted title with a comma, its article moved to the front; genres joined.
    assert by_id[11] == "The American President (1995). Genres: Comedy, Drama, Romance."
    # Tags merged case-insensitively (3 x Al Pacino beats 1 x heist), most used spelling.
    assert by_id[6] == "Heat (1995). Genres: Action, Crime, Thriller. Tags: Al Pacino, heist."
    assert by_id[2017].startswith("Amélie (Fabuleux destin d'Amélie Poulain) (2001).")
    assert by_id[9000] == "La cravate (1957)."  # "(no genres listed)" is not a genre
    # Each rating lands on its own user and movie.
    triples = {
        (int(data.user_ids[u]), int(data.movie_ids[i]), float(r))
        for u, i, r in zip(data.user, data.item, data.rating, strict=True)
    }
    assert triples == {(7, 1, 4.0), (7, 6, 2.5), (3, 11, 5.0), (3, 2017, 0.5), (3, 1, 3.0)}
    assert data.timestamp.min() == 964982703


def test_tags_are_optional_and_texts_respect_the_tag_count(tmp_path: Path):
    data = load_movielens(write_latest(tmp_path / "latest", tags=False))
    assert all(tags == () for tags in data.tags)
    with_tags = load_movielens(write_latest(tmp_path / "tagged"))
    assert "Tags" not in with_tags.texts(tags_per_item=0)[1]
    assert with_tags.texts(tags_per_item=1)[1].endswith("Tags: Al Pacino.")


def test_ml_100k_format_is_parsed_from_latin1_with_genre_flags(tmp_path: Path):
    data = load_movielens(write_100k(tmp_path / "ml-100k"))
    assert data.format == "ml-100k"
    assert (data.n_ratings, data.n_users, data.n_movies) == (3, 2, 3)
    texts = data.texts()
    assert texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert texts[1] == "La Cité des enfants perdus (1995). Genres: Sci-Fi."  # Latin-1 decoded
    assert texts[2] == "Nothing Known (1996)."  # no genre flag set
    assert sorted(data.rating.tolist()) == [1.0, 3.0, 5.0]


def test_ml_1m_format_is_parsed_from_double_colon_latin1(tmp_path: Path):
    data = load_movielens(write_1m(tmp_path / "ml-1m"))
    assert data.format == "ml-1m"
    assert (data.n_ratings, data.n_users, data.n_movies) == (3, 2, 2)
    assert data.texts()[1] == "Les Misérables (1995). Genres: Drama, Musical."
    pairs = {
        (int(data.user_ids[u]), int(data.movie_ids[i]))
        for u, i in zip(data.user, data.item, strict=True)
    }
    assert pairs == {(1, 2), (1, 1), (5, 1)}


def test_partial_or_wrong_directories_name_the_missing_files_and_the_formats(tmp_path: Path):
    partial = write_latest(tmp_path / "partial")
    (partial / "movies.csv").unlink()
    with pytest.raises(DataFormatError, match=r"looks like ml-latest but lacks movies\.csv.*ml-1m"):
        detect_format(partial)
    only_item = tmp_path / "half-100k"
    write_100k(only_item)
    (only_item / "u.data").unlink()
    with pytest.raises(DataFormatError, match=r"ml-100k but lacks u\.data"):
        load_movielens(only_item)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match=r"not a MovieLens directory.*ml-100k"):
        load_movielens(tmp_path / "empty")
    with pytest.raises(DataFormatError, match="no such directory"):
        load_movielens(tmp_path / "missing")


def test_ratings_of_unlisted_movies_or_impossible_stars_are_rejected(tmp_path: Path):
    folder = write_latest(tmp_path / "bad")
    with open(folder / "ratings.csv", "a", encoding="utf-8") as handle:
        handle.write("3,424242,4.0,1\r\n")
    with pytest.raises(DataFormatError, match="movie 424242"):
        load_movielens(folder)
    folder = write_latest(tmp_path / "stars")
    with open(folder / "ratings.csv", "a", encoding="utf-8") as handle:
        handle.write("3,1,7.0,1\r\n")
    with pytest.raises(DataFormatError, match=r"stars in \[0, 5\]"):
        load_movielens(folder)


def test_item_text_moves_trailing_articles_only_before_the_year():
    assert item_text("Matrix, The (1999)", ("Sci-Fi",), ()) == "The Matrix (1999). Genres: Sci-Fi."
    assert item_text("Babylon 5", (), ()) == "Babylon 5."
    assert item_text("Cry, the Beloved Country (1995)", (), ()) == (
        "Cry, the Beloved Country (1995)."  # 'the' mid-title is not a moved article
    )


def test_ml_latest_small_end_to_end(movielens_small: Path):
    """The real files: the counts the data set's README states, and texts built from them."""
    data = load_movielens(movielens_small)
    assert data.format == "ml-latest"
    assert (data.n_ratings, data.n_users, data.n_movies) == (100_836, 610, 9_742)
    assert set(np.unique(data.rating)) <= {x / 2 for x in range(1, 11)}
    # Cross-check the text of movie 1 against the files read independently with csv.
    with open(movielens_small / "movies.csv", encoding="utf-8", newline="") as handle:
        movie = next(row for row in csv.DictReader(handle) if row["movieId"] == "1")
    with open(movielens_small / "tags.csv", encoding="utf-8", newline="") as handle:
        tags = Counter(row["tag"] for row in csv.DictReader(handle) if row["movieId"] == "1")
    text = data.texts()[int(np.searchsorted(data.movie_ids, 1))]
    assert text.startswith(f"{movie['title']}. Genres: {movie['genres'].replace('|', ', ')}.")
    top = max(tags.values())
    assert any(f"Tags: {tag}" in text for tag, n in tags.items() if n == top)
    # Ratings per user as the csv says, for a few users.
    with open(movielens_small / "ratings.csv", encoding="utf-8", newline="") as handle:
        per_user = Counter(int(row["userId"]) for row in csv.DictReader(handle))
    counts = np.bincount(data.user, minlength=data.n_users)
    for user in (1, 414, 610):
        assert counts[int(np.searchsorted(data.user_ids, user))] == per_user[user]
