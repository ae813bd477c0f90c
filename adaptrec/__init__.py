"""adaptrec: how quickly does a recommender personalise?"""

__version__ = "0.1.0"
