"""Implementation modules; import public names from :mod:`jaxloss`."""
