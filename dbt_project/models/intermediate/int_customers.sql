{{ config(materialized='ephemeral') }}

-- One row per customer from the customer master (first export wins).
with ranked as (
    select
        users.*,
        row_number() over (partition by customer_id order by ingested_date, signed_up_at) as occurrence
    from {{ ref('stg_shop__users') }} as users
)

select customer_id, signed_up_at, signup_date, email_hash, phone_hash, city, acquisition_channel
from ranked
where occurrence = 1
