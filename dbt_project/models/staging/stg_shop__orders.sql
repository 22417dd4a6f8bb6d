with source as (
    select * from {{ source('raw', 'orders') }}
),

renamed as (
    select
        order_line_id,
        order_id,
        customer_id,
        ordered_at,
        recorded_at,
        cast(recorded_at as date) as recorded_date,
        cast(ordered_at as date) as order_date,
        status,
        product_id,
        quantity,
        unit_price,
        -- The line's amount before discount: stated by the export, or units x unit price.
        coalesce(line_amount, quantity * unit_price) as line_amount,
        coalesce(discount_amount, 0) as discount_amount,
        order_channel,
        original_line_id,
        dt as ingested_date,
        _record_number as record_number
    from source
)

select * from renamed
