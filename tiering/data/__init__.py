"""Data layer: read files and DataFrames by the loader's rules (``io``), customer
features (``features``) and the engines that compute them at scale (``engines``).
Imports only the base modules (params, errors, interrupt, safecsv, sniff)."""
