"""The API routes, one router per resource: health, KPIs, customers, forecasts, experiments, alerts, dashboard."""
