"""Train codesearch's encoders: mine (docstring, code) and prose pairs from repositories,
train a text encoder and a code encoder contrastively (cpt-text/cpt-code, GTE), evaluate
them CodeSearchNet-style and export a model directory the indexer loads.

`python -m trainer --help` lists the commands; trainer/README.md explains the method.
"""
