"""codesearch: semantic code search that runs on your own machine.

The pipeline flows one way, one module per stage:
walk -> parse -> chunk -> embed -> store -> search.

`from codesearch import Searcher, Hit` is the library API for editors.
"""

__version__ = "0.1.0"
__all__ = ["Hit", "Searcher", "UserError", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import codesearch` stays cheap for tools that only need a piece.
    if name in ("Searcher", "Hit"):
        from codesearch import search

        return getattr(search, name)
    if name == "UserError":
        from codesearch.errors import UserError

        return UserError
    raise AttributeError(name)
