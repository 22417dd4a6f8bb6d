{{ config(**windowed_incremental('segment_date')) }}

-- Every buyer's lifecycle stage on every day since their first order (rules: macros/segments.sql),
-- with the previous day's stage, so moves between stages can be counted over time.
with days as (
    {{ dbt.date_spine('day', "cast('2000-01-01' as date)", "cast('2100-01-01' as date)") }}
),

bounds as (
    select
        min(activity_date) as first_day,
        max(activity_date) as last_day
    from {{ ref('int_customer_order_days') }}
),

window_days as (
    select cast(days.date_day as date) as segment_date
    from days
    cross join bounds
    where
        cast(days.date_day as date) between bounds.first_day and bounds.last_day
        and {{ window_filter('days.date_day', 1) }}
),

order_days as (
    select
        customer_id,
        activity_date
    from {{ ref('int_customer_order_days') }}
    where completed_orders > 0
),

first_orders as (
    select * from {{ ref('int_first_orders') }}
),

states as (
    select
        window_days.segment_date,
        first_orders.customer_id,
        first_orders.first_order_date,
        max(order_days.activity_date) as last_order_date,
        sum(case when order_days.activity_date > {{ dbt.dateadd('day', -30, 'window_days.segment_date') }} then 1 else 0 end)
            as order_days_last_30,
        sum(case
            when
                order_days.activity_date <= {{ dbt.dateadd('day', -30, 'window_days.segment_date') }}
                and order_days.activity_date > {{ dbt.dateadd('day', -60, 'window_days.segment_date') }} then 1
            else 0
        end)
            as order_days_prev_30
    from window_days
    inner join first_orders on window_days.segment_date >= first_orders.first_order_date
    left join order_days
        on
            first_orders.customer_id = order_days.customer_id
            and window_days.segment_date >= order_days.activity_date
            and order_days.activity_date > {{ dbt.dateadd('day', -90, 'window_days.segment_date') }}
    group by window_days.segment_date, first_orders.customer_id, first_orders.first_order_date
),

staged as (
    select
        segment_date,
        customer_id,
        {{ lifecycle_stage('first_order_date', 'coalesce(last_order_date, first_order_date)', 'order_days_last_30', 'order_days_prev_30', 'segment_date') }}
            as lifecycle_stage
    from states
),

with_previous as (
    select
        staged.*,
        lag(staged.lifecycle_stage) over (partition by staged.customer_id order by staged.segment_date) as previous_stage
    from staged
)

select
    segment_date,
    customer_id,
    lifecycle_stage,
    previous_stage,
    previous_stage is not null and previous_stage <> lifecycle_stage as changed
from with_previous
where {{ window_filter('segment_date') }}
