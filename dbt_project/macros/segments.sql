{#-
  Segment rules, shared by the customer profile (as of the last day) and segment_daily (as of
  every day), so both always agree. Windows are 30 days, counted back from the as-of day:
  "last 30" = (as_of - 30, as_of], "previous 30" = (as_of - 60, as_of - 30].

  lifecycle stage of a buyer
    new       first order in the last 30 days
    retained  first order earlier; ordered in the last 30 days and in the previous 30
    active    first order earlier; ordered in the last 30 days but not in the previous 30 (reactivated)
    at_risk   no order in the last 30 days; last order 30-89 days ago
    churned   last order 90 or more days ago
-#}
{% macro lifecycle_stage(first_order_date, last_order_date, orders_last_30, orders_prev_30, as_of) -%}
    case
        when {{ first_order_date }} > {{ dbt.dateadd('day', -30, as_of) }} then 'new'
        when {{ orders_last_30 }} > 0 and {{ orders_prev_30 }} > 0 then 'retained'
        when {{ orders_last_30 }} > 0 then 'active'
        when {{ last_order_date }} > {{ dbt.dateadd('day', -90, as_of) }} then 'at_risk'
        else 'churned'
    end
{%- endmacro %}

{#- Recency score 5 (bought within a week) .. 1 (more than 90 days ago). -#}
{% macro recency_score(recency_days) -%}
    case
        when {{ recency_days }} <= 7 then 5
        when {{ recency_days }} <= 30 then 4
        when {{ recency_days }} <= 60 then 3
        when {{ recency_days }} <= 90 then 2
        else 1
    end
{%- endmacro %}

{#- Frequency score: the number of orders, capped at 5. -#}
{% macro frequency_score(orders) -%}
    case when {{ orders }} >= 5 then 5 when {{ orders }} >= 1 then {{ orders }} else 1 end
{%- endmacro %}

{#-
  Named RFM segment from the recency and frequency scores; the first matching rule wins:
  champions (R>=4, F>=4), at_risk (R<=2, F>=3: good customers slipping away), loyal_customers (F>=4),
  potential_loyalists (R>=4, F>=2), new_customers (R>=4, F=1), hibernating (R<=2), needs_attention.
-#}
{% macro rfm_segment(r, f) -%}
    case
        when {{ r }} >= 4 and {{ f }} >= 4 then 'champions'
        when {{ r }} <= 2 and {{ f }} >= 3 then 'at_risk'
        when {{ f }} >= 4 then 'loyal_customers'
        when {{ r }} >= 4 and {{ f }} >= 2 then 'potential_loyalists'
        when {{ r }} >= 4 then 'new_customers'
        when {{ r }} <= 2 then 'hibernating'
        else 'needs_attention'
    end
{%- endmacro %}

{#- Value tier by net revenue: top 20% of buyers high, next 30% medium, the rest low. -#}
{% macro value_tier(percentile) -%}
    case when {{ percentile }} >= 0.8 then 'high' when {{ percentile }} >= 0.5 then 'medium' else 'low' end
{%- endmacro %}
