-- Realised customer lifetime value: net revenue (returns deducted) within 30, 90, 180 and 365
-- days of the first purchase, averaged over the customers whose window has fully elapsed
-- ("matured"); null while no customer of the group has matured. Grouped by first-purchase month,
-- acquisition channel and RFM segment.
with first_orders as (
    select * from {{ ref('int_first_orders') }}
),

as_of as (
    select max(activity_date) as as_of_date from {{ ref('int_customer_order_days') }}
),

order_days as (
    select * from {{ ref('int_customer_order_days') }}
),

per_customer as (
    select
        first_orders.customer_id,
        first_orders.first_order_date,
        {% for days in [30, 90, 180, 365] %}
            sum(case
                when order_days.activity_date < {{ dbt.dateadd('day', days, 'first_orders.first_order_date') }}
                    then order_days.net_amount
                else 0
            end) as value_{{ days }}d,
            max(case
                when {{ dbt.dateadd('day', days - 1, 'first_orders.first_order_date') }} <= as_of.as_of_date
                    then 1
                else 0
            end) as matured_{{ days }}d{% if not loop.last %},{% endif %}
        {% endfor %}
    from first_orders
    cross join as_of
    inner join order_days on first_orders.customer_id = order_days.customer_id
    group by first_orders.customer_id, first_orders.first_order_date
),

profiles as (
    select
        customer_id,
        acquisition_channel,
        rfm_segment
    from {{ ref('user_profile') }}
),

final as (
    select
        cast({{ dbt.date_trunc('month', 'per_customer.first_order_date') }} as date) as cohort_month,
        profiles.acquisition_channel,
        profiles.rfm_segment,
        count(*) as customers,
        {% for days in [30, 90, 180, 365] %}
            cast(sum(per_customer.matured_{{ days }}d) as bigint) as matured_{{ days }}d,
            {{ money_per(
                'sum(case when per_customer.matured_' ~ days ~ 'd = 1 then per_customer.value_' ~ days ~ 'd end)',
                'sum(per_customer.matured_' ~ days ~ 'd)'
            ) }} as clv_{{ days }}d{% if not loop.last %},{% endif %}
        {% endfor %}
    from per_customer
    left join profiles on per_customer.customer_id = profiles.customer_id
    group by 1, 2, 3
)

select * from final
