-- Accounting identity: for every day, kpi_daily.net_revenue equals the sum of net_amount over
-- that day's order lines (guest checkouts included).
-- It reads more than one model: the check belongs to kpi_daily (an asset check in Dagster).
{{ config(meta={'dagster': {'ref': {'name': 'kpi_daily'}}}) }}

with lines as (
    select
        recorded_date as kpi_date,
        sum(net_amount) as net_revenue
    from {{ ref('int_order_lines') }}
    group by recorded_date
)

select
    lines.kpi_date,
    lines.net_revenue as from_lines,
    kpi.net_revenue as from_kpi
from lines
full outer join {{ ref('kpi_daily') }} as kpi on lines.kpi_date = kpi.kpi_date
where coalesce(lines.net_revenue, 0) <> coalesce(kpi.net_revenue, 0)
