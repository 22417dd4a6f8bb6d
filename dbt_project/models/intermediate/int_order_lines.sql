{{ config(**windowed_incremental('recorded_date')) }}

-- Order lines of the window, one row per line (a line exported twice is kept once), with the
-- money columns every mart uses. Sales count at their gross value less the coupon discount;
-- returns carry negative quantity and amounts and count on the day they are recorded;
-- cancellations count for nothing.
with lines as (
    select * from {{ ref('stg_shop__orders') }}
    where
        {{ ingest_filter('ingested_date') }}
        and {{ window_filter('recorded_date') }}
),

ranked as (
    select
        lines.*,
        row_number() over (partition by lines.order_line_id order by lines.ingested_date, lines.record_number) as occurrence
    from lines
),

final as (
    select
        order_line_id,
        order_id,
        customer_id,
        ordered_at,
        recorded_at,
        recorded_date,
        order_date,
        status,
        case status when 'returned' then 'return' when 'cancelled' then 'cancellation' else 'sale' end as line_type,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        order_channel,
        original_line_id,
        cast(case when status = 'completed' then line_amount else 0 end as decimal(18, 2)) as gross_amount,
        cast(case when status = 'completed' then discount_amount else 0 end as decimal(18, 2)) as sale_discount_amount,
        cast(case when status = 'returned' then -(line_amount - discount_amount) else 0 end as decimal(18, 2))
            as return_amount,
        cast(
            case when status in ('completed', 'returned') then line_amount - discount_amount else 0 end
            as decimal(18, 2)
        ) as net_amount,
        ingested_date
    from ranked
    where occurrence = 1
)

select * from final
