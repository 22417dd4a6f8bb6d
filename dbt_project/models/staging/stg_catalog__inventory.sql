with source as (
    select * from {{ source('raw', 'inventory') }}
),

renamed as (
    select
        snapshot_date,
        product_id,
        on_hand_units,
        coalesce(received_units, 0) as received_units,
        dt as ingested_date
    from source
)

select * from renamed
