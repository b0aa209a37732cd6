"""Analysis layer: the pipeline, the tiering methods and their registry, statistics, the
holdout check, migration (and the comparison with a previous report), the playbook,
strategy and action lists as tables. No matplotlib, no HTML, no report language: results
are typed objects of tidy DataFrames. Imports base and ``tiering.data`` only."""
