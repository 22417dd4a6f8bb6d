with source as (
    select * from {{ source('raw', 'events') }}
),

renamed as (
    select
        event_id,
        event_at,
        cast(event_at as date) as event_date,
        event_type,
        customer_id,
        anonymous_id,
        session_id,
        scene,
        coalesce(channel, 'direct') as channel,
        platform,
        dt as ingested_date
    from source
)

select * from renamed
