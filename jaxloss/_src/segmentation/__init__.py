"""Segmentation losses: the overlap losses (Dice, Tversky and their variants) in
:mod:`.overlap`, and the Lovász losses (a convex surrogate of the Jaccard index) in
:mod:`.lovasz`."""
