"""Build layer: execute the report notebook, render HTML and PDF, write the tables and
the workbook, the manifest, and the rule of what tiering may delete (``owned``)."""
