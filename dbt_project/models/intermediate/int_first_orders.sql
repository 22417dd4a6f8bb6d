{{ config(materialized='ephemeral') }}

-- Each known customer's first completed order day, over all history.
select
    customer_id,
    min(activity_date) as first_order_date
from {{ ref('int_customer_order_days') }}
where completed_orders > 0
group by customer_id
