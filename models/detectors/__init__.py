"""A sensor's detector: an online model whose raw score becomes a probability.

- ``detector``: the detector (model, post-processing, threshold, warm-up).
- ``zscore``, ``seasonal``, ``seasonal_zscore``, ``transitions``, ``river_detectors``: the models.
- ``registry``: a recipe per sensor kind, and the named detectors ``openlab evaluate`` compares.
- ``checkpoint``: a detector to bytes and back.
- ``inspection``: a detector as ``openlab models show`` prints it.
"""
