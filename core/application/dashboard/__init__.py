"""The KPI dashboard: a static, self-contained HTML page built from the serving snapshot.

data.py reads what the page shows, charts.py draws the SVG charts, page.py lays out the page.
"""

from core.application.dashboard.data import DashboardData, load_dashboard_data
from core.application.dashboard.page import render_html, write_dashboard

__all__ = ["DashboardData", "load_dashboard_data", "render_html", "write_dashboard"]
