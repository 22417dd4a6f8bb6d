"""Layer 5, application: A/B test analysis and the KPI dashboard (the models live in `ml/`)."""
