-- First-purchase cohorts (monthly and weekly) x periods since the first purchase: cohort size,
-- customers who bought in that period, and the retention rate. Period 0 is the cohort's own
-- month (week), so its retention is 1.
with first_orders as (
    select * from {{ ref('int_first_orders') }}
),

purchases as (
    select
        customer_id,
        activity_date
    from {{ ref('int_customer_order_days') }}
    where completed_orders > 0
),

{% for grain in ['month', 'week'] %}
    {{ grain }}_cohorts as (
        select
            customer_id,
            cast({{ dbt.date_trunc(grain, 'first_order_date') }} as date) as cohort_start
        from first_orders
    ),

    {{ grain }}_sizes as (
        select
            cohort_start,
            count(*) as cohort_size
        from {{ grain }}_cohorts
        group by cohort_start
    ),

    {{ grain }}_activity as (
        select
            cohorts.cohort_start,
            {{ dbt.datediff('cohorts.cohort_start', dbt.date_trunc(grain, 'purchases.activity_date'), grain) }} as periods_since,
            count(distinct purchases.customer_id) as active_customers
        from {{ grain }}_cohorts as cohorts
        inner join purchases on cohorts.customer_id = purchases.customer_id
        group by 1, 2
    ),
{% endfor %}

final as (
    {% for grain in ['month', 'week'] %}
        select
            '{{ grain }}' as cohort_grain,
            sizes.cohort_start,
            cast(activity.periods_since as integer) as periods_since,
            sizes.cohort_size,
            activity.active_customers,
            cast(activity.active_customers as double) / sizes.cohort_size as retention_rate
        from {{ grain }}_sizes as sizes
        inner join {{ grain }}_activity as activity on sizes.cohort_start = activity.cohort_start
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
