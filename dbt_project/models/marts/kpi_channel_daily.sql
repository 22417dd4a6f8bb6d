{{ config(**windowed_incremental('kpi_date')) }}

-- Marketing per day and channel: spend, reach, new customers, CAC, and revenue attributed three
-- ways. First touch: the channel that acquired the customer. Last touch: the channel of the
-- customer's latest session in the 7 days up to the order. Linear: the order split equally over
-- the distinct channels of those sessions. Orders without a session fall back to first touch;
-- guests without either are 'unknown'. Margin uses the day's unit cost (null without products).
with spend_rows as (
    select * from {{ ref('stg_marketing__spend') }}
    where
        {{ ingest_filter('ingested_date') }}
        and {{ window_filter('spend_date') }}
),

spend as (
    select
        spend_date as kpi_date,
        channel,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from ({{ deduplicate('spend_rows', 'spend_date, channel, campaign', 'ingested_date desc') }}) as latest
    group by spend_date, channel
),

customers as (
    select * from {{ ref('int_customers') }}
),

new_customers as (
    select
        first_orders.first_order_date as kpi_date,
        coalesce(customers.acquisition_channel, 'unknown') as channel,
        count(*) as new_customers
    from {{ ref('int_first_orders') }} as first_orders
    left join customers on first_orders.customer_id = customers.customer_id
    where {{ window_filter('first_orders.first_order_date') }}
    group by first_orders.first_order_date, coalesce(customers.acquisition_channel, 'unknown')
),

costs as (
    select
        product_id,
        snapshot_date,
        max(unit_cost) as unit_cost
    from {{ ref('stg_catalog__products') }}
    where {{ ingest_filter('ingested_date') }}
    group by product_id, snapshot_date
),

has_costs as (
    {{ has_rows('costs', 'product_id') }}
),

orders as (
    select
        order_lines.order_id,
        order_lines.customer_id,
        order_lines.recorded_date as kpi_date,
        min(order_lines.ordered_at) as ordered_at,
        sum(order_lines.gross_amount - order_lines.sale_discount_amount) as order_value,
        sum(order_lines.gross_amount - order_lines.sale_discount_amount - order_lines.quantity * coalesce(costs.unit_cost, 0)) as order_margin
    from {{ ref('int_order_lines') }} as order_lines
    left join costs on order_lines.product_id = costs.product_id and order_lines.recorded_date = costs.snapshot_date
    where
        order_lines.line_type = 'sale'
        and {{ window_filter('order_lines.recorded_date') }}
    group by order_lines.order_id, order_lines.customer_id, order_lines.recorded_date
),

touches as (
    select
        orders.order_id,
        sessions.channel,
        row_number() over (
            partition by orders.order_id order by sessions.started_at desc, sessions.session_id desc
        ) as recency_rank
    from orders
    inner join {{ ref('int_sessions') }} as sessions
        on
            orders.customer_id = sessions.customer_id
            and orders.ordered_at >= sessions.started_at
            and sessions.session_date >= {{ dbt.dateadd('day', -6, 'orders.kpi_date') }}
    where {{ window_filter('sessions.session_date', 6) }}
),

touch_channels as (
    select
        order_id,
        channel,
        count(*) over (partition by order_id) as channels
    from (select distinct
        order_id,
        channel
    from touches) as distinct_touches
),

attribution as (
    select
        orders.kpi_date,
        coalesce(customers.acquisition_channel, 'unknown') as channel,
        'first_touch' as model,
        cast(orders.order_value as decimal(18, 6)) as revenue,
        cast(orders.order_margin as decimal(18, 6)) as margin
    from orders
    left join customers on orders.customer_id = customers.customer_id
    union all
    select
        orders.kpi_date,
        coalesce(touches.channel, customers.acquisition_channel, 'unknown') as channel,
        'last_touch' as model,
        cast(orders.order_value as decimal(18, 6)) as revenue,
        cast(orders.order_margin as decimal(18, 6)) as margin
    from orders
    left join touches on orders.order_id = touches.order_id and touches.recency_rank = 1
    left join customers on orders.customer_id = customers.customer_id
    union all
    select
        orders.kpi_date,
        coalesce(touch_channels.channel, customers.acquisition_channel, 'unknown') as channel,
        'linear' as model,
        -- Shares are fixed to 6 decimals per row, so sums do not depend on the order of addition.
        -- Every branch of the union states that type: left to the engine, DuckDB gave the union
        -- the type of the wider branch (decimal(38, 2)) and rounded each share to the cent.
        cast(orders.order_value / coalesce(touch_channels.channels, 1) as decimal(18, 6)) as revenue,
        cast(orders.order_margin / coalesce(touch_channels.channels, 1) as decimal(18, 6)) as margin
    from orders
    left join touch_channels on orders.order_id = touch_channels.order_id
    left join customers on orders.customer_id = customers.customer_id
),

attributed as (
    select
        kpi_date,
        channel,
        sum(case when model = 'first_touch' then revenue else 0 end) as revenue_first_touch,
        sum(case when model = 'last_touch' then revenue else 0 end) as revenue_last_touch,
        sum(case when model = 'linear' then revenue else 0 end) as revenue_linear,
        sum(case when model = 'last_touch' then margin else 0 end) as margin_last_touch
    from attribution
    group by kpi_date, channel
),

keys as (
    select
        kpi_date,
        channel
    from spend
    union
    select
        kpi_date,
        channel
    from new_customers
    union
    select
        kpi_date,
        channel
    from attributed
),

final as (
    select
        keys.kpi_date,
        keys.channel,
        cast(coalesce(spend.spend, 0) as decimal(18, 2)) as spend,
        cast(coalesce(spend.impressions, 0) as bigint) as impressions,
        cast(coalesce(spend.clicks, 0) as bigint) as clicks,
        {{ safe_divide('cast(spend.clicks as double)', 'spend.impressions') }} as ctr,
        coalesce(new_customers.new_customers, 0) as new_customers,
        {{ money_per('spend.spend', 'new_customers.new_customers') }} as cac,
        cast(coalesce(attributed.revenue_first_touch, 0) as decimal(18, 2)) as revenue_first_touch,
        cast(coalesce(attributed.revenue_last_touch, 0) as decimal(18, 2)) as revenue_last_touch,
        cast(coalesce(attributed.revenue_linear, 0) as decimal(18, 2)) as revenue_linear,
        case when has_costs.present then cast(coalesce(attributed.margin_last_touch, 0) as decimal(18, 2)) end
            as margin_last_touch,
        {{ safe_divide('cast(coalesce(attributed.revenue_last_touch, 0) as double)', 'spend.spend') }} as roas,
        {{ safe_divide('cast(coalesce(attributed.revenue_first_touch, 0) as double)', 'spend.spend') }} as roas_first_touch,
        {{ safe_divide('cast(coalesce(attributed.revenue_linear, 0) as double)', 'spend.spend') }} as roas_linear,
        case
            when has_costs.present
                then {{ safe_divide('cast(coalesce(attributed.margin_last_touch, 0) - spend.spend as double)', 'spend.spend') }}
        end as marketing_roi
    from keys
    cross join has_costs
    left join spend on keys.kpi_date = spend.kpi_date and keys.channel = spend.channel
    left join new_customers on keys.kpi_date = new_customers.kpi_date and keys.channel = new_customers.channel
    left join attributed on keys.kpi_date = attributed.kpi_date and keys.channel = attributed.channel
)

select * from final
