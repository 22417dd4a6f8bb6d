-- One row per known customer: who they are (no PII), how they buy, which segment they are in.
-- Customers come from the customer master, orders and events, so every deployment (orders only
-- included) gets a profile for every customer it has seen. churn_risk and churn_risk_decile come
-- from the promoted retention model's latest scores (application.churn_risk_scores) and are null
-- for customers it did not score, or before a model has been promoted.
{%- set churn_scores = source('application', 'churn_risk_scores') %}
{%- set scores_exist = execute and adapter.get_relation(
        database=churn_scores.database, schema=churn_scores.schema, identifier=churn_scores.identifier) is not none %}
with customers as (
    select * from {{ ref('int_customers') }}
),

lifecycle as (
    select * from {{ ref('int_customer_lifecycle') }}
),

as_of as (
    select max(activity_date) as as_of_date from {{ ref('int_customer_order_days') }}
),

activity as (
    select
        activity.customer_id,
        max(activity.activity_date) as last_active_date,
        sum(activity.transaction_events) as transaction_events_90d,
        sum(activity.social_events) as social_events_90d,
        sum(activity.content_events) as content_events_90d
    from {{ ref('int_customer_daily_activity') }} as activity
    cross join as_of
    where activity.activity_date > {{ dbt.dateadd('day', -90, 'as_of.as_of_date') }}
    group by activity.customer_id
),

latest_nps as (
    select
        customer_id,
        score,
        nps_group,
        response_date
    from ({{ deduplicate(ref('stg_feedback__nps'), 'customer_id', 'responded_at desc, response_id desc') }}) as latest
),

complaints as (
    select
        customer_id,
        count(distinct ticket_id) as complaints,
        count(distinct case when status = 'open' then ticket_id end) as open_complaints
    from {{ ref('stg_feedback__tickets') }}
    group by customer_id
),

churn as (
    {%- if scores_exist %}
    select customer_id, churn_probability, risk_decile, model_version from {{ churn_scores }}
{%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as double) as churn_probability,
            cast(null as integer) as risk_decile,
            cast(null as {{ dbt.type_string() }}) as model_version
        where false
    {%- endif %}
),

-- Customers whose only lines in the data are returns (they bought before it starts): not buyers
-- for the segments, but their refunds are part of net revenue, so the profile reconciles with it.
returns_only as (
    select
        order_days.customer_id,
        cast(sum(order_days.net_amount) as decimal(18, 2)) as net_revenue
    from {{ ref('int_customer_order_days') }} as order_days
    left join lifecycle on order_days.customer_id = lifecycle.customer_id
    where lifecycle.customer_id is null
    group by order_days.customer_id
),

everyone as (
    select customer_id from customers
    union
    select customer_id from lifecycle
    union
    select customer_id from returns_only
    union
    select customer_id from {{ ref('int_customer_daily_activity') }}
),

final as (
    select
        everyone.customer_id,
        customers.signup_date,
        customers.city,
        coalesce(customers.acquisition_channel, 'unknown') as acquisition_channel,
        lifecycle.first_order_date,
        lifecycle.last_order_date,
        cast(coalesce(lifecycle.orders, 0) as bigint) as orders,
        cast(coalesce(lifecycle.sales_amount, 0) as decimal(18, 2)) as sales_amount,
        cast(coalesce(lifecycle.net_revenue, returns_only.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        lifecycle.recency_days,
        coalesce(lifecycle.lifecycle_stage, 'prospect') as lifecycle_stage,
        cast(lifecycle.r_score as integer) as r_score,
        cast(lifecycle.f_score as integer) as f_score,
        cast(lifecycle.m_score as integer) as m_score,
        coalesce(lifecycle.rfm_segment, 'prospect') as rfm_segment,
        coalesce(lifecycle.value_tier, 'none') as value_tier,
        case
            when
                coalesce(activity.transaction_events_90d, 0) + coalesce(activity.social_events_90d, 0)
                + coalesce(activity.content_events_90d, 0) = 0 then null
            when
                activity.transaction_events_90d >= activity.social_events_90d
                and activity.transaction_events_90d >= activity.content_events_90d then 'transaction'
            when activity.social_events_90d >= activity.content_events_90d then 'social'
            else 'content'
        end as scene_affinity,
        cast(coalesce(activity.transaction_events_90d, 0) as bigint) as transaction_events_90d,
        cast(coalesce(activity.social_events_90d, 0) as bigint) as social_events_90d,
        cast(coalesce(activity.content_events_90d, 0) as bigint) as content_events_90d,
        activity.last_active_date,
        cast(latest_nps.score as integer) as latest_nps_score,
        latest_nps.nps_group as latest_nps_group,
        coalesce(complaints.complaints, 0) as complaints,
        coalesce(complaints.open_complaints, 0) as open_complaints,
        churn.churn_probability as churn_risk,
        churn.risk_decile as churn_risk_decile,
        case
            when churn.risk_decile is null then 'unscored'
            when churn.risk_decile >= 9 then 'high'
            when churn.risk_decile >= 6 then 'medium'
            else 'low'
        end as churn_risk_segment,
        churn.model_version as churn_model_version,
        as_of.as_of_date
    from everyone
    cross join as_of
    left join customers on everyone.customer_id = customers.customer_id
    left join lifecycle on everyone.customer_id = lifecycle.customer_id
    left join returns_only on everyone.customer_id = returns_only.customer_id
    left join activity on everyone.customer_id = activity.customer_id
    left join latest_nps on everyone.customer_id = latest_nps.customer_id
    left join complaints on everyone.customer_id = complaints.customer_id
    left join churn on everyone.customer_id = churn.customer_id
)

select * from final
