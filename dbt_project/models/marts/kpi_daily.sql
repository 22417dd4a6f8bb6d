{{ config(**windowed_incremental('kpi_date')) }}

-- Headline KPIs per day. Money: gross = units x price of completed lines; sales = gross less coupon
-- discounts; net = sales less returns recorded that day. Event-based metrics (active users,
-- sessions, conversion) are null when no tracking events were ever collected.
with lines as (
    select * from {{ ref('int_order_lines') }}
    where {{ window_filter('recorded_date') }}
),

sales as (
    select
        recorded_date as kpi_date,
        sum(gross_amount) as gross_revenue,
        sum(sale_discount_amount) as discounts,
        sum(return_amount) as returns_amount,
        sum(net_amount) as net_revenue,
        count(distinct case when line_type = 'sale' then order_id end) as orders,
        count(distinct case when line_type = 'sale' and customer_id is null then order_id end) as guest_orders,
        count(distinct case when line_type = 'sale' then customer_id end) as buyers,
        sum(case when line_type = 'sale' then quantity else 0 end) as units_sold,
        -sum(case when line_type = 'return' then quantity else 0 end) as units_returned
    from lines
    group by recorded_date
),

first_orders as (
    select * from {{ ref('int_first_orders') }}
),

new_customers as (
    select
        first_order_date as kpi_date,
        count(*) as new_customers
    from first_orders
    where {{ window_filter('first_order_date') }}
    group by first_order_date
),

returning_buyers as (
    select
        order_days.activity_date as kpi_date,
        count(*) as returning_buyers
    from {{ ref('int_customer_order_days') }} as order_days
    inner join first_orders on order_days.customer_id = first_orders.customer_id
    where
        order_days.completed_orders > 0
        and first_orders.first_order_date < order_days.activity_date
        and {{ window_filter('order_days.activity_date') }}
    group by order_days.activity_date
),

activity as (
    select
        activity_date as kpi_date,
        count(*) as active_users
    from {{ ref('int_customer_daily_activity') }}
    where {{ window_filter('activity_date') }}
    group by activity_date
),

sessions as (
    select
        session_date as kpi_date,
        count(*) as sessions,
        sum(has_purchase) as purchase_sessions
    from {{ ref('int_sessions') }}
    where {{ window_filter('session_date') }}
    group by session_date
),

tracking as (
    select present as has_events from ({{ has_rows(ref('int_events'), 'event_id') }}) as probe
),

final as (
    select
        sales.kpi_date,
        cast(sales.gross_revenue as decimal(18, 2)) as gross_revenue,
        cast(sales.discounts as decimal(18, 2)) as discounts,
        cast(sales.gross_revenue - sales.discounts as decimal(18, 2)) as sales_amount,
        cast(sales.returns_amount as decimal(18, 2)) as returns_amount,
        cast(sales.net_revenue as decimal(18, 2)) as net_revenue,
        sales.orders,
        sales.guest_orders,
        sales.buyers,
        {{ money_per('sales.gross_revenue - sales.discounts', 'sales.orders') }} as aov,
        coalesce(new_customers.new_customers, 0) as new_customers,
        coalesce(returning_buyers.returning_buyers, 0) as returning_buyers,
        {{ safe_divide('cast(coalesce(returning_buyers.returning_buyers, 0) as double)', 'sales.buyers') }} as repurchase_rate,
        cast(sales.units_sold as bigint) as units_sold,
        cast(sales.units_returned as bigint) as units_returned,
        {{ safe_divide('cast(sales.units_returned as double)', 'sales.units_sold') }} as return_rate,
        case when tracking.has_events then coalesce(activity.active_users, 0) end as active_users,
        case when tracking.has_events then coalesce(sessions.sessions, 0) end as sessions,
        case when tracking.has_events then cast(coalesce(sessions.purchase_sessions, 0) as bigint) end as purchase_sessions,
        case
            when tracking.has_events
                then {{ safe_divide('cast(sessions.purchase_sessions as double)', 'sessions.sessions') }}
        end as conversion_rate
    from sales
    cross join tracking
    left join new_customers on sales.kpi_date = new_customers.kpi_date
    left join returning_buyers on sales.kpi_date = returning_buyers.kpi_date
    left join activity on sales.kpi_date = activity.kpi_date
    left join sessions on sales.kpi_date = sessions.kpi_date
)

select * from final
