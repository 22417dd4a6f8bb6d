{{ config(**windowed_incremental('session_date')) }}

-- One row per session: who, when it started, the channel of its first event, and what happened.
with events as (
    select * from {{ ref('int_events') }}
    where {{ window_filter('event_date') }}
),

ordered as (
    select
        events.*,
        row_number() over (partition by events.session_id order by events.event_at, events.event_id) as event_number
    from events
),

sessions as (
    select
        session_id,
        max(customer_id) as customer_id,
        max(anonymous_id) as anonymous_id,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        max(case when event_number = 1 then channel end) as channel,
        max(case when event_number = 1 then platform end) as platform,
        count(*) as events,
        cast(sum(case when scene = 'transaction' then 1 else 0 end) as bigint) as transaction_events,
        cast(sum(case when scene = 'social' then 1 else 0 end) as bigint) as social_events,
        cast(sum(case when scene = 'content' then 1 else 0 end) as bigint) as content_events,
        max(case when event_type = 'add_to_cart' then 1 else 0 end) as has_cart,
        max(case when event_type = 'checkout' then 1 else 0 end) as has_checkout,
        max(case when event_type = 'purchase' then 1 else 0 end) as has_purchase,
        max(case when event_type = 'sign_up' then 1 else 0 end) as has_sign_up
    from ordered
    group by session_id
)

select
    sessions.*,
    cast(sessions.started_at as date) as session_date
from sessions
