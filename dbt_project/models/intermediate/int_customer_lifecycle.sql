{{ config(materialized='table') }}

-- Each buyer's order history summarised as of the last day with data, with the lifecycle stage
-- and RFM scores the marts and the segments use (rules: macros/segments.sql).
with order_days as (
    select * from {{ ref('int_customer_order_days') }}
),

as_of as (
    select max(activity_date) as as_of_date from order_days
),

history as (
    select
        order_days.customer_id,
        as_of.as_of_date,
        min(case when order_days.completed_orders > 0 then order_days.activity_date end) as first_order_date,
        max(case when order_days.completed_orders > 0 then order_days.activity_date end) as last_order_date,
        cast(sum(order_days.completed_orders) as bigint) as orders,
        cast(sum(order_days.sales_amount) as decimal(18, 2)) as sales_amount,
        cast(sum(order_days.return_amount) as decimal(18, 2)) as return_amount,
        cast(sum(order_days.net_amount) as decimal(18, 2)) as net_revenue,
        cast(sum(case
            when
                order_days.completed_orders > 0
                and order_days.activity_date > {{ dbt.dateadd('day', -30, 'as_of.as_of_date') }} then 1
            else 0
        end) as bigint) as order_days_last_30,
        cast(sum(case
            when
                order_days.completed_orders > 0
                and order_days.activity_date <= {{ dbt.dateadd('day', -30, 'as_of.as_of_date') }}
                and order_days.activity_date > {{ dbt.dateadd('day', -60, 'as_of.as_of_date') }} then 1
            else 0
        end) as bigint) as order_days_prev_30
    from order_days
    cross join as_of
    group by order_days.customer_id, as_of.as_of_date
),

buyers as (
    select
        history.*,
        cast({{ dbt.datediff('last_order_date', 'as_of_date', 'day') }} as bigint) as recency_days
    from history
    where history.first_order_date is not null
),

scored as (
    select
        buyers.*,
        {{ lifecycle_stage('first_order_date', 'last_order_date', 'order_days_last_30', 'order_days_prev_30', 'as_of_date') }} as lifecycle_stage,
        {{ recency_score('recency_days') }} as r_score,
        {{ frequency_score('orders') }} as f_score,
        cast(ntile(5) over (order by buyers.net_revenue, buyers.customer_id) as bigint) as m_score,
        percent_rank() over (order by buyers.net_revenue) as value_percentile
    from buyers
)

select
    scored.*,
    {{ rfm_segment('r_score', 'f_score') }} as rfm_segment,
    {{ value_tier('value_percentile') }} as value_tier
from scored
