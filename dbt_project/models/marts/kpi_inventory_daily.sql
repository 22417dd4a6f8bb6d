{{ config(**windowed_incremental('kpi_date')) }}

-- Stock per product and day with the supply-chain KPIs: units sold, stock value at cost, days of
-- supply (stock / average daily units over the trailing 28 calendar days), stock-out days in the
-- trailing 28 days, and annualised inventory turnover (28-day cost of goods sold / average stock
-- value x 365/28).
with stock_rows as (
    select * from {{ ref('stg_catalog__inventory') }}
    where
        {{ ingest_filter('ingested_date', 27) }}
        and {{ window_filter('snapshot_date', 27) }}
),

stock as (
    select
        snapshot_date,
        product_id,
        on_hand_units,
        received_units
    from ({{ deduplicate('stock_rows', 'snapshot_date, product_id', 'ingested_date desc') }}) as latest
),

cost_rows as (
    select * from {{ ref('stg_catalog__products') }}
    where
        {{ ingest_filter('ingested_date', 27) }}
        and {{ window_filter('snapshot_date', 27) }}
),

costs as (
    select
        snapshot_date,
        product_id,
        category,
        unit_cost
    from ({{ deduplicate('cost_rows', 'snapshot_date, product_id', 'ingested_date desc') }}) as latest
),

sold as (
    select
        recorded_date,
        product_id,
        sum(quantity) as units_sold
    from {{ ref('int_order_lines') }}
    where
        line_type = 'sale'
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

-- Trailing 28 calendar days (not 28 rows), so a missing snapshot cannot stretch the window.
rolling_sales as (
    select
        daily.kpi_date,
        daily.product_id,
        sum(sold.units_sold) as units_28d
    from daily
    inner join sold
        on
            daily.product_id = sold.product_id
            and sold.recorded_date between {{ dbt.dateadd('day', -27, 'daily.kpi_date') }} and daily.kpi_date
    where {{ window_filter('daily.kpi_date') }}
    group by daily.kpi_date, daily.product_id
),

rolling_stock as (
    select
        daily.kpi_date,
        daily.product_id,
        sum(history.is_stockout) as stockout_days_28d,
        sum(history.cogs) as cogs_28d,
        -- The exact decimal sum over the count, as a double: avg() of a decimal is a double on DuckDB
        -- but a decimal rounded to 6 places on Spark.
        cast(sum(history.stock_value) as double) / nullif(count(history.stock_value), 0) as avg_stock_value_28d
    from daily
    inner join daily as history
        on
            daily.product_id = history.product_id
            and history.kpi_date between {{ dbt.dateadd('day', -27, 'daily.kpi_date') }} and daily.kpi_date
    where {{ window_filter('daily.kpi_date') }}
    group by daily.kpi_date, daily.product_id
),

rolling as (
    select
        daily.*,
        cast(coalesce(rolling_sales.units_28d, 0) as double) / 28 as avg_daily_units_28d,
        rolling_stock.stockout_days_28d,
        rolling_stock.cogs_28d,
        rolling_stock.avg_stock_value_28d
    from daily
    left join rolling_sales on daily.kpi_date = rolling_sales.kpi_date and daily.product_id = rolling_sales.product_id
    left join rolling_stock on daily.kpi_date = rolling_stock.kpi_date and daily.product_id = rolling_stock.product_id
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
