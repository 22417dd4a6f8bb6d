{{ config(**windowed_incremental('activity_date')) }}

-- Engagement per logged-in customer and day: events and sessions by scene.
with events as (
    select * from {{ ref('int_events') }}
    where
        customer_id is not null
        and {{ window_filter('event_date') }}
),

daily as (
    select
        customer_id,
        event_date as activity_date,
        count(*) as events,
        count(distinct session_id) as sessions,
        cast(sum(case when scene = 'transaction' then 1 else 0 end) as bigint) as transaction_events,
        cast(sum(case when scene = 'social' then 1 else 0 end) as bigint) as social_events,
        cast(sum(case when scene = 'content' then 1 else 0 end) as bigint) as content_events,
        cast(sum(case when event_type = 'purchase' then 1 else 0 end) as bigint) as purchase_events
    from events
    group by customer_id, event_date
)

select * from daily
