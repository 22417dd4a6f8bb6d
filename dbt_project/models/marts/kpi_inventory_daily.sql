{{ config(materialized='incremental', incremental_strategy='append', pre_hook="{{ delete_window('kpi_date') }}") }}

-- Stock per product and day with the supply-chain KPIs: units sold, stock value at cost, days of
-- supply (stock / average daily units over the trailing 28 days), stock-out days in the trailing
-- 28 days, and annualised inventory turnover (28-day cost of goods sold / average stock value x 365/28).
with stock_rows as (
    select
        inventory.*,
        row_number() over (partition by snapshot_date, product_id order by ingested_date desc) as occurrence
    from {{ ref('stg_catalog__inventory') }} as inventory
    where {{ ingest_filter('ingested_date') }}
      and {{ window_filter('snapshot_date', 27) }}
),

stock as (
    select snapshot_date, product_id, on_hand_units, received_units
    from stock_rows
    where occurrence = 1
),

cost_rows as (
    select
        products.*,
        row_number() over (partition by snapshot_date, product_id order by ingested_date desc) as occurrence
    from {{ ref('stg_catalog__products') }} as products
    where {{ ingest_filter('ingested_date') }}
      and {{ window_filter('snapshot_date', 27) }}
),

costs as (
    select snapshot_date, product_id, category, unit_cost
    from cost_rows
    where occurrence = 1
),

sold as (
    select recorded_date, product_id, sum(quantity) as units_sold
    from {{ ref('int_order_lines') }}
    where line_type = 'sale'
      and {{ window_filter('recorded_date', 27) }}
    group by recorded_date, product_id
),

daily as (
    select
        stock.snapshot_date as kpi_date,
        stock.product_id,
        costs.category,
        stock.on_hand_units,
        stock.received_units,
        cast(coalesce(sold.units_sold, 0) as bigint) as units_sold,
        costs.unit_cost,
        stock.on_hand_units * costs.unit_cost as stock_value,
        coalesce(sold.units_sold, 0) * costs.unit_cost as cogs,
        case when stock.on_hand_units = 0 then 1 else 0 end as is_stockout
    from stock
    left join costs on stock.snapshot_date = costs.snapshot_date and stock.product_id = costs.product_id
    left join sold on stock.snapshot_date = sold.recorded_date and stock.product_id = sold.product_id
),

rolling as (
    select
        daily.*,
        avg(cast(units_sold as double)) over w28 as avg_daily_units_28d,
        sum(is_stockout) over w28 as stockout_days_28d,
        sum(cogs) over w28 as cogs_28d,
        avg(stock_value) over w28 as avg_stock_value_28d
    from daily
    window w28 as (partition by product_id order by kpi_date rows between 27 preceding and current row)
),

final as (
    select
        kpi_date,
        product_id,
        category,
        on_hand_units,
        received_units,
        cast(units_sold as bigint) as units_sold,
        unit_cost,
        cast(stock_value as decimal(18, 2)) as stock_value,
        cast(cogs as decimal(18, 2)) as cogs,
        is_stockout = 1 as is_stockout,
        cast(stockout_days_28d as bigint) as stockout_days_28d,
        avg_daily_units_28d,
        {{ safe_divide('cast(on_hand_units as double)', 'avg_daily_units_28d') }} as days_of_supply,
        {{ safe_divide('cast(cogs_28d as double)', 'avg_stock_value_28d') }} * 365.0 / 28 as inventory_turnover
    from rolling
    where {{ window_filter('kpi_date') }}
)

select * from final
