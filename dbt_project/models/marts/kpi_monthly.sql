-- Monthly KPIs next to their targets (reference.kpi_targets): value, target, gap, whether the target
-- was met, and for how many consecutive months (up to this one) it has been missed, which the
-- yellow KPI alert reads. KPIs whose source is missing have a null value and count as neither
-- (active_users falls back to the month's buyers when there are no tracking events).
with daily as (
    select
        cast({{ dbt.date_trunc('month', 'kpi_date') }} as date) as kpi_month,
        sum(net_revenue) as net_revenue,
        sum(sales_amount) as sales_amount,
        sum(orders) as orders,
        sum(new_customers) as new_customers,
        sum(sessions) as sessions,
        sum(purchase_sessions) as purchase_sessions,
        sum(units_sold) as units_sold,
        sum(units_returned) as units_returned
    from {{ ref('kpi_daily') }}
    group by 1
),

purchases as (
    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as kpi_month
    from {{ ref('int_customer_order_days') }}
    where completed_orders > 0
    group by 1, 2
),

first_orders as (
    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'first_order_date') }} as date) as first_month
    from {{ ref('int_first_orders') }}
),

repurchase as (
    select
        purchases.kpi_month,
        count(*) as buyers,
        sum(case when first_orders.first_month < purchases.kpi_month then 1 else 0 end) as returning_buyers
    from purchases
    inner join first_orders on purchases.customer_id = first_orders.customer_id
    group by 1
),

activity as (
    select
        cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as kpi_month,
        count(distinct customer_id) as active_users
    from {{ ref('int_customer_daily_activity') }}
    group by 1
),

tracking as (
    select present as has_events from ({{ has_rows(ref('int_events'), 'event_id') }}) as probe
),

marketing as (
    select
        cast({{ dbt.date_trunc('month', 'kpi_date') }} as date) as kpi_month,
        sum(spend) as spend,
        sum(case when spend > 0 then new_customers else 0 end) as paid_new_customers,
        sum(case when spend > 0 then revenue_last_touch else 0 end) as paid_revenue,
        sum(case when spend > 0 then margin_last_touch else 0 end) as paid_margin
    from {{ ref('kpi_channel_daily') }}
    group by 1
),

nps as (
    select
        period_start as kpi_month,
        nps
    from {{ ref('kpi_nps') }}
    where period_grain = 'month'
),

retention as (
    select
        {{ dbt.dateadd('month', 1, 'cohort_start') }} as kpi_month,
        retention_rate
    from {{ ref('kpi_retention_cohorts') }}
    where cohort_grain = 'month' and periods_since = 1
),

wide as (
    select
        daily.kpi_month,
        cast(daily.net_revenue as double) as net_revenue,
        cast(daily.orders as double) as orders,
        cast(daily.sales_amount as double) / nullif(daily.orders, 0) as aov,
        cast(daily.new_customers as double) as new_customers,
        -- Active customers: with tracking, anyone with an event; without it (an orders-only
        -- business), the customers who bought in the month, which is what the data supports.
        case
            when tracking.has_events then cast(coalesce(activity.active_users, 0) as double)
            else cast(repurchase.buyers as double)
        end as active_users,
        case when tracking.has_events then cast(daily.purchase_sessions as double) / nullif(daily.sessions, 0) end
            as conversion_rate,
        cast(repurchase.returning_buyers as double) / nullif(repurchase.buyers, 0) as repurchase_rate,
        cast(daily.units_returned as double) / nullif(daily.units_sold, 0) as return_rate,
        cast(marketing.spend as double) / nullif(marketing.paid_new_customers, 0) as cac,
        cast(marketing.paid_revenue as double) / nullif(marketing.spend, 0) as roas,
        cast(marketing.paid_margin - marketing.spend as double) / nullif(marketing.spend, 0) as marketing_roi,
        nps.nps,
        retention.retention_rate as month1_retention
    from daily
    cross join tracking
    left join repurchase on daily.kpi_month = repurchase.kpi_month
    left join activity on daily.kpi_month = activity.kpi_month
    left join marketing on daily.kpi_month = marketing.kpi_month
    left join nps on daily.kpi_month = nps.kpi_month
    left join retention on daily.kpi_month = cast(retention.kpi_month as date)
),

long_format as (
    {% set kpis = ['net_revenue', 'orders', 'aov', 'new_customers', 'active_users', 'conversion_rate',
                   'repurchase_rate', 'return_rate', 'cac', 'roas', 'marketing_roi', 'nps', 'month1_retention'] %}
    {% for kpi in kpis %}
        select
            kpi_month,
            '{{ kpi }}' as kpi,
            {{ kpi }} as value
        from wide
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

compared as (
    select
        long_format.kpi_month,
        long_format.kpi,
        long_format.value,
        targets.target,
        targets.direction,
        long_format.value - targets.target as gap,
        case
            when long_format.value is null or targets.target is null then null
            when targets.direction = 'higher' then long_format.value >= targets.target
            else long_format.value <= targets.target
        end as meets_target
    from long_format
    left join {{ source('reference', 'kpi_targets') }} as targets on long_format.kpi = targets.kpi
),

streaks as (
    select
        compared.*,
        sum(case when compared.meets_target then 1 else 0 end) over (
            partition by compared.kpi order by compared.kpi_month rows between unbounded preceding and current row
        ) as met_so_far
    from compared
),

final as (
    select
        kpi_month,
        kpi,
        value,
        target,
        direction,
        gap,
        meets_target,
        case
            when meets_target = false
                then count(*)
                    over (
                        partition by kpi, met_so_far order by kpi_month
                        rows between unbounded preceding and current row
                    )
                - max(case when meets_target then 1 else 0 end) over (partition by kpi, met_so_far)
            else 0
        end as months_missed_in_a_row
    from streaks
)

select * from final
