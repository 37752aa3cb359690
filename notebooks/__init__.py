"""The Colab-ready notebooks: jupytext sources ``NN_name.py`` and their executed ``.ipynb``.

``python -m notebooks.build`` (``make notebooks``) re-executes and re-saves them.
"""
