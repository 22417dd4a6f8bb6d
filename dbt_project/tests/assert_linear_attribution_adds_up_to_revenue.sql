-- Accounting identity: linear attribution splits each order's revenue over the channels that
-- touched it, so on every day the channels' linear revenue adds up to their last-touch revenue
-- (each order counted once either way). Each channel's day is rounded to the cent once, so the
-- two sums may differ by half a cent per channel at most.
{{ config(meta={'dagster': {'ref': {'name': 'kpi_channel_daily'}}}) }}

select
    kpi_date,
    sum(revenue_linear) as linear_total,
    sum(revenue_last_touch) as last_touch_total,
    count(*) as channels
from {{ ref('kpi_channel_daily') }}
group by kpi_date
having abs(sum(revenue_linear) - sum(revenue_last_touch)) > 0.005 * count(*)
