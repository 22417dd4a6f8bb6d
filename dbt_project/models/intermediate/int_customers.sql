{{ config(materialized='ephemeral') }}

-- One row per customer from the customer master (first export wins).
select
    customer_id,
    signed_up_at,
    signup_date,
    email_hash,
    phone_hash,
    city,
    acquisition_channel
from ({{ deduplicate(ref('stg_shop__users'), 'customer_id', 'ingested_date, signed_up_at') }}) as first_export
