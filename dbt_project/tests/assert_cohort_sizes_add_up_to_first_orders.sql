-- Accounting identity: the monthly (and the weekly) cohorts' sizes add up to the number of
-- customers with a first order.
-- It reads more than one model: the check belongs to kpi_retention_cohorts (an asset check in Dagster).
{{ config(meta={'dagster': {'ref': {'name': 'kpi_retention_cohorts'}}}) }}

with cohorts as (
    select
        cohort_grain,
        sum(cohort_size) as customers
    from {{ ref('kpi_retention_cohorts') }}
    where periods_since = 0
    group by cohort_grain
),

buyers as (
    select count(*) as customers from {{ ref('int_first_orders') }}
)

select
    cohorts.cohort_grain,
    cohorts.customers,
    buyers.customers as buyers
from cohorts
cross join buyers
where cohorts.customers <> buyers.customers
