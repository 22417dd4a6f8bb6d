"""Machine learning for the platform: features, labels, training, evaluation and the model store.

Pure scikit-learn, pandas and DuckDB code with no Dagster import; the `application` assets in
`orchestration/application/retention.py` and `demand.py` wire it into the asset graph.
"""
