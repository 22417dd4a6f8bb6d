{{ config(**windowed_incremental('event_date')) }}

-- Tracking events of the window by the day they happened (late arrivals included), each once.
with events as (
    select * from {{ ref('stg_tracking__events') }}
    where
        {{ ingest_filter('ingested_date') }}
        and {{ window_filter('event_date') }}
),

ranked as (
    select
        events.*,
        row_number() over (partition by events.event_id order by events.ingested_date) as occurrence
    from events
),

final as (
    select
        event_id,
        event_at,
        event_date,
        event_type,
        customer_id,
        anonymous_id,
        session_id,
        scene,
        channel,
        platform
    from ranked
    where occurrence = 1
)

select * from final
