"""Item-kNN as an adaptrec agent: score each item by its similarity to the items the user
clicked in the observed history, plus a small pooled-popularity prior; hide recent items."""

import numpy as np


class ItemKNN:
    def __init__(self, item_vectors: np.ndarray, slate_size: int, prior: float = 0.1):
        self.vectors, self.k, self.prior = item_vectors, slate_size, prior  # (N, d) unit rows
        self.clicks = np.zeros(len(item_vectors))  # pooled over users, learned online

    def act(self, observation: dict) -> np.ndarray:
        items = observation["items"].reshape(len(observation["items"]), -1)  # (B, H*k), -1 empty
        liked = np.where(observation["clicks"].reshape(items.shape) > 0, items, -1)
        padded = np.vstack([self.vectors, np.zeros((1, self.vectors.shape[1]))])
        profile = padded[liked].sum(axis=1)  # (B, d): sum of clicked items' vectors
        scores = profile @ self.vectors.T + self.prior * np.log1p(self.clicks)  # (B, N)
        rows = np.arange(len(items))[:, None]
        scores[rows, items] = np.where(items >= 0, -np.inf, scores[rows, items])  # hide recent
        return np.argsort(-scores, axis=1, kind="stable")[:, : self.k]

    def update(self, batch) -> dict:
        np.add.at(self.clicks, batch.slates[batch.clicked], 1.0)
        return {}


def make_item_knn(context):  # an adaptrec agent factory: context -> agent
    return ItemKNN(context.item_vectors, context.slate_size)
