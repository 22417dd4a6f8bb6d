with source as (
    select * from {{ source('raw', 'products') }}
),

renamed as (
    select
        product_id,
        product_name,
        category,
        list_price,
        unit_cost,
        coalesce(on_promotion, false) as on_promotion,
        coalesce(promo_discount_pct, 0) as promo_discount_pct,
        snapshot_date,
        dt as ingested_date
    from source
)

select * from renamed
