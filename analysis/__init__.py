"""Study analysis: MLflow runs + Optuna trials -> comparison tables, figures, the blog comparison and an HTML
report. Entry point: ``python -m analysis {compare,blog,report} --experiment NAME`` (see docs/analysis.md)."""
