"""Presentation layer: report text per language (``i18n`` over ``tiering.locale``),
charts (``charts``), the HTML kit and one module per report section. Imports base,
``tiering.data`` and ``tiering.analysis``; never the build."""
