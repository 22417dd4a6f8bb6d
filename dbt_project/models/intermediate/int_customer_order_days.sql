{{ config(**windowed_incremental('activity_date')) }}

-- Purchases per known customer and day: completed orders, sales and net of returns. Guest
-- checkouts (no customer id) are left out here and counted in the KPI marts.
with lines as (
    select * from {{ ref('int_order_lines') }}
    where
        customer_id is not null
        and {{ window_filter('recorded_date') }}
),

daily as (
    select
        customer_id,
        recorded_date as activity_date,
        count(distinct case when line_type = 'sale' then order_id end) as completed_orders,
        cast(sum(gross_amount - sale_discount_amount) as decimal(18, 2)) as sales_amount,
        cast(sum(return_amount) as decimal(18, 2)) as return_amount,
        cast(sum(net_amount) as decimal(18, 2)) as net_amount
    from lines
    group by customer_id, recorded_date
)

select * from daily
